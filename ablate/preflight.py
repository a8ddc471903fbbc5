"""The data's and the model's shapes, checked on the real thing before any store is made (`ablate run`).

A model whose logits do not match the data's class count fails every cell (7 logits for 10 classes:
"IndexError: Target 8 is out of bounds") or, worse, trains and reports silently (12 logits); a loader that
returns channels-last images trains a model on scrambled pixels. So `ablate run` loads the data once (into the
cache its cells share), refuses images that look channels-last, and gives every distinct network of the study
(each set of architectural settings its arms use) one eval-mode forward on a tiny batch: the output must be
(batch, classes). Any failure is bad input (exit code 2) naming the model, the file that defines it, and got
vs want. torch is imported here, inside the functions: validation of the study file itself imports none.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from ablate.errors import AblateError

if TYPE_CHECKING:
    from ablate.cache import WorkerCache
    from ablate.data import Data, DataSpec
    from ablate.study import Study

PROBE_BATCH = 2  # samples in the probe forward: enough to tell a batch dimension from a class dimension


def check_shapes(study: Study, cache: WorkerCache | None = None) -> DataSpec:
    """Refuse channels-last images and a model whose output is not (batch, classes); the data's spec."""
    from ablate.cache import WorkerCache

    data = (cache or WorkerCache()).dataset(study.data)
    check_layout(data, study.data.name)
    for knobs in _architectures(study):
        check_output(study, data, knobs)
    return data.spec


def check_layout(data: Data, dataset: str) -> None:
    """Images are (N, C, H, W); a last dimension of 1 or 3 that the second is not looks like (N, H, W, C)."""
    x = data.x_train
    if data.spec.kind != "image" or x.ndim != 4:
        return
    if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        raise AblateError(f"dataset '{dataset}': its images are {tuple(x.shape)}, which looks channels-last "
                          f"(N, H, W, C); ablate wants (N, C, H, W): return `x.permute(0, 3, 1, 2).contiguous()` "
                          f"from the loader (numpy: `x.transpose(0, 3, 1, 2)`)")


def _architectures(study: Study) -> list[dict]:
    """The architectural settings (model kwargs) of the study's arms, each once (baseline's first)."""
    from ablate.loop import merged
    from ablate.regularizers import cell_regularizers

    seen: list[dict] = []
    for cell in study.cells():
        knobs = merged(cell_regularizers(cell), "model")
        if knobs not in seen:
            seen.append(knobs)
    return seen


def model_file(builder) -> str:
    """The file that defines a model builder (a plugin's own file), for messages."""
    for obj in (getattr(builder, "fn", None), builder):
        try:
            return inspect.getsourcefile(obj) or ""
        except TypeError:
            continue
    return ""


def check_output(study: Study, data: Data, knobs: dict) -> None:
    """One eval-mode forward of PROBE_BATCH real training samples (normalized as training does)."""
    import torch

    from ablate.models import MODELS

    name, spec = study.model.name, data.spec
    builder = MODELS.get(name)
    where = f"model '{name}'" + (f" ({model_file(builder)})" if model_file(builder) else "")
    knob_text = f" with {knobs}" if knobs else ""
    x = data.x_train[:PROBE_BATCH]
    if spec.kind == "image":
        x = x.float().div(255.0)
        if data.mean is not None and data.std is not None:
            x = (x - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)
    try:
        torch.manual_seed(0)
        net = builder.build(study.model, spec, **knobs)
        net.eval()
        with torch.no_grad():
            out = net(x)
    except AblateError:
        raise
    except Exception as e:
        raise AblateError(f"{where}{knob_text}: one forward on a batch of {len(x)} from dataset "
                          f"'{study.data.name}' ({tuple(x.shape)}) failed: {type(e).__name__}: {e}") from None
    want = (len(x), spec.num_classes)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        detail = (f"{got[-1]} vs {spec.num_classes} classes" if isinstance(got, tuple) and len(got) == 2
                  and got[0] == want[0] else f"got {got}, want {want}")
        raise AblateError(f"{where}{knob_text} returns {got} for a batch of {len(x)}, but dataset "
                          f"'{study.data.name}' has {spec.num_classes} classes: the output must be (batch, "
                          f"classes) = {want} logits ({detail}); build the last layer from `spec.num_classes`")
