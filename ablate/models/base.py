"""Model builders: registered classes with typed params, or plain functions; regularizers add knobs.

A builder takes the data spec, its own params (the study's ``model:`` mapping) and the architectural knobs
of the active regularizers (``dropout=0.5``). A class builder lists its knobs in ``reg_kwargs``; a function

    @MODELS.register()
    def mlp(spec: DataSpec, *, dropout: float = 0.0, hidden: int = 64) -> nn.Module: ...

is read from its signature: keyword parameters named like a regularizer's knob (``KNOBS``) are its knobs,
the others its params, typed and defaulted as written. A regularizer that needs a knob the model lacks is
rejected at validation, naming both.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import create_model

from ablate.data.base import DataSpec
from ablate.errors import AblateError
from ablate.params import StrictModel
from ablate.registry import Registry

if TYPE_CHECKING:  # a builder's declarations import no torch (validation needs none); build() does
    from torch import nn

# every architectural knob some regularizer declares (Regularizer.__init_subclass__ adds its applies_to)
KNOBS: set[str] = set()


class ModelParams(StrictModel):
    name: str


class ModelBuilder:
    """``build(params, spec, **reg_kwargs)``: reg_kwargs come from the active regularizers' model_kwargs()."""

    name: ClassVar[str]
    family: ClassVar[str] = ""  # a label for listings; defaults to the name
    Params: ClassVar[type[ModelParams]] = ModelParams
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image"})
    reg_kwargs: ClassVar[frozenset[str]] = frozenset()  # the architectural knobs regularizers may set
    summary: ClassVar[str] = ""
    channels_last: ClassVar[bool] = False  # image models that run faster in NHWC memory format
    # the smallest sensible study settings, used by the contract tests and docs: {"model": {...}, "data": {...}}
    tiny: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("family") and "name" in cls.__dict__:
            cls.family = cls.name

    @classmethod
    def build(cls, params: ModelParams, spec: DataSpec, **reg_kwargs) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def check_data(cls, params: ModelParams, dataset, data_params) -> list[tuple[str, str, object]]:
        """Problems (field, rule, value) this model has with the dataset, found at validation without loading
        it (what the dataset class declares, e.g. `image_size`); build() checks again on the real data."""
        return []


def check_forward(model: nn.Module, spec: DataSpec, label: str) -> None:
    """One eval-mode forward of a blank batch of the data's shape (no batch statistics or random numbers
    touched), so a library model that cannot take the data fails at build time, saying why, not mid-epoch."""
    import torch

    c, (h, w) = spec.in_channels, spec.image_size
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, c, h, w))
    except Exception as exc:
        raise AblateError(f"{label} cannot take {c}x{h}x{w} images ({type(exc).__name__}: {exc}); use larger "
                          f"images (e.g. an image_folder with a bigger image_size), another arch, or what it needs "
                          f"in model.options (e.g. image_size for a vision transformer)") from exc
    finally:
        model.train(was)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, spec.num_classes):
        raise AblateError(f"{label} does not return (batch, {spec.num_classes}) logits (got "
                          f"{type(out).__name__}); pass what it needs in model.options")


class SignatureParams(ModelParams):
    """A builder function's params: a class made from its signature, importable by no name, so it pickles
    as (model name, values) and is rebuilt from the registry (a worker process loads plugins first)."""

    def __reduce__(self):
        return _signature_params, (self.name, self.model_dump())


def _signature_params(name: str, values: dict) -> ModelParams:
    return MODELS.get(name).Params.model_validate(values)


class _FromSignature(type):
    """A function builder's params and knobs, split from its signature on first use: by then every
    regularizer (a plugin's too) has declared its knobs, whatever order things were registered in."""

    @property
    def Params(cls) -> type[ModelParams]:  # noqa: N802 - the ModelBuilder attribute it stands in for
        return cls._split()[0]

    @property
    def reg_kwargs(cls) -> frozenset[str]:
        return cls._split()[1]


class FunctionBuilder(ModelBuilder, metaclass=_FromSignature):
    fn: ClassVar[Any]
    _parts: ClassVar[tuple | None] = None

    @classmethod
    def _split(cls) -> tuple[type[ModelParams], frozenset[str]]:
        if cls._parts is None:
            params = list(inspect.signature(cls.fn).parameters.values())[1:]
            knobs = frozenset(p.name for p in params if p.name in KNOBS)
            fields = {p.name: (Any if p.annotation is inspect.Parameter.empty else p.annotation,
                               ... if p.default is inspect.Parameter.empty else p.default)
                      for p in params if p.name not in knobs}
            fields["name"] = (str, cls.name)
            model = create_model(f"{cls.name}_params", __base__=SignatureParams, **fields)  # type: ignore[call-overload]
            cls._parts = (model, knobs)
        return cls._parts

    @classmethod
    def build(cls, params: ModelParams, spec: DataSpec, **reg_kwargs) -> nn.Module:
        unknown = set(reg_kwargs) - cls.reg_kwargs
        if unknown:
            raise TypeError(f"{cls.name} does not take {sorted(unknown)}; it takes {sorted(cls.reg_kwargs)}")
        from torch import nn

        model = cls.fn(spec, **params.model_dump(exclude={"name"}), **reg_kwargs)
        if not isinstance(model, nn.Module):
            raise AblateError(f"model '{cls.name}': its builder returned {type(model).__name__}, not an nn.Module")
        return model


class ModelRegistry(Registry):
    """Takes builder classes, and plain functions (wrapped once in a FunctionBuilder)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self._wrapped: dict[Any, type[ModelBuilder]] = {}

    def register(self, name: str | None = None, *, data_kinds=None, tiny: dict | None = None,
                 summary: str | None = None):
        add = super().register(name)

        def wrap(obj):
            if isinstance(obj, type):
                return add(obj)
            if obj not in self._wrapped:
                self._wrapped[obj] = _function_builder(obj, name or obj.__name__, data_kinds, tiny, summary)
            add(self._wrapped[obj])
            return obj

        return wrap


def _function_builder(fn, name: str, data_kinds, tiny: dict | None, summary: str | None) -> type[ModelBuilder]:
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                            inspect.Parameter.POSITIONAL_OR_KEYWORD):
        raise TypeError(f"model builder {fn.__name__} must take the DataSpec as its first positional argument")
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    attrs = {"name": name, "fn": staticmethod(fn), "summary": summary or (doc[0] if doc else ""),
             "data_kinds": frozenset(data_kinds or {"image"}), "__doc__": fn.__doc__,
             "tiny": tiny or {"model": {"name": name}, "data": {"name": "digits", "batch_size": 256}}}
    return _FromSignature(f"{name}_builder", (FunctionBuilder,), attrs)


MODELS: ModelRegistry = ModelRegistry("model")
