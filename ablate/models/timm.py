"""Any timm model by name, through the optional extra ``timm``: ``model: {name: timm, arch: resnet18}``.

timm adapts the network to the data itself (``num_classes``, ``in_chans``) and owns the two knobs its
models share: ``dropout`` becomes ``drop_rate`` (before the classifier) and ``stochastic_depth`` becomes
``drop_path_rate``. Random init by default; ``weights: DEFAULT`` loads timm's default pretrained weights
(from the Hugging Face hub), another string names a pretrained tag (``arch.tag``).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from ablate.data.base import DataSpec
from ablate.errors import AblateError
from ablate.models.base import MODELS, ModelBuilder, ModelParams, check_forward

if TYPE_CHECKING:  # torch is imported where it is used, so registering this imports none
    from torch import nn

EXTRA = "the optional extra 'timm' (pip install 'ablate[timm]')"
KNOB_ARGS = {"dropout": "drop_rate", "stochastic_depth": "drop_path_rate"}


def _timm():
    try:
        import timm
    except ImportError:
        raise ValueError(f"model 'timm' needs {EXTRA}") from None
    return timm


class TimmParams(ModelParams):
    name: str = "timm"
    arch: str = Field(description="a timm model name (timm.list_models())")
    weights: str | None = Field(None, description="None: random init; DEFAULT or a pretrained tag: pretrained")
    options: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="extra keyword arguments for timm.create_model")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, v: str) -> str:
        timm = _timm()
        if not timm.is_model(v):
            close = difflib.get_close_matches(v, timm.list_models(), n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "see timm.list_models()"
            raise ValueError(f"unknown timm model '{v}' ({hint})")
        return v


@MODELS.register()
class Timm(ModelBuilder):
    name = "timm"
    Params = TimmParams
    data_kinds = frozenset({"image"})
    reg_kwargs = frozenset(KNOB_ARGS)
    channels_last = True
    summary = f"any timm model (arch: ...); dropout -> drop_rate, stochastic_depth -> drop_path_rate; needs {EXTRA}"
    tiny = {"model": {"name": "timm", "arch": "test_resnet"},
            "data": {"name": "digits", "batch_size": 32, "train_subset": 64, "test_fraction": 0.05}}

    @classmethod
    def build(cls, params: ModelParams, spec: DataSpec, **reg_kwargs) -> nn.Module:
        try:
            timm = _timm()
        except ValueError as exc:
            raise AblateError(str(exc)) from None
        p: TimmParams = params  # type: ignore[assignment]
        unknown = set(reg_kwargs) - cls.reg_kwargs
        if unknown:
            raise TypeError(f"timm does not take {sorted(unknown)}; it takes {sorted(cls.reg_kwargs)}")
        arch = p.arch if p.weights in (None, "DEFAULT") else f"{p.arch}.{p.weights}"
        kwargs = {KNOB_ARGS[k]: float(v) for k, v in reg_kwargs.items() if v}
        try:
            model = timm.create_model(arch, pretrained=p.weights is not None, num_classes=spec.num_classes,
                                      in_chans=spec.in_channels, **kwargs, **p.options)
        except TypeError as exc:
            raise AblateError(f"timm arch '{p.arch}' does not take {sorted(kwargs)} ({exc}); drop the factor "
                              f"for this arch") from exc
        except Exception as exc:
            if p.weights is None:
                raise
            from huggingface_hub import constants

            raise AblateError(f"timm: cannot load the pretrained weights of '{arch}' ({type(exc).__name__}: "
                              f"{exc}). Offline, put them in the Hugging Face cache {constants.HF_HUB_CACHE} (set "
                              f"$HF_HOME to move it), or drop model.weights for a random init") from exc
        check_forward(model, spec, f"timm arch '{p.arch}'")
        return model
