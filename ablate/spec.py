"""The shapes of a study file: what each section may hold, before any name is looked up in a registry.

These pydantic models say which keys exist and what type and range each value takes (unknown keys are
errors, values are frozen). Names inside `model`, `data`, `factors`, `always` and `design` are resolved
against their registries by ablate/validate.py, which also holds every rule that spans sections.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from ablate.errors import Problems, UnknownName
from ablate.params import StrictModel

FINAL_METRICS = {
    "test_acc": "maximize", "test_loss": "minimize", "best_val_acc": "maximize", "ece": "minimize",
    "val_acc": "maximize", "val_loss": "minimize", "gap_acc": "minimize",
}
TUNE_METRICS = {"val_acc": "maximize", "val_loss": "minimize"}  # reported every epoch, so trials can be pruned
# the practical margin when a study gives none, by how the metric's name ends (in the metric's units)
MIN_EFFECT_DEFAULTS = (("acc", 0.005), ("loss", 0.01), ("ece", 0.005))


def default_min_effect(metric: str) -> float | None:
    """Half a point of accuracy (or of calibration error), a hundredth of a loss; None: no default."""
    return next((value for ending, value in MIN_EFFECT_DEFAULTS if metric.endswith(ending)), None)


class TrainParams(StrictModel):
    epochs: int = Field(10, ge=1, le=10_000)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0, le=100.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd only")
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool | None = Field(None, description="None: on for models that prefer it (the CNN)")
    eval_batch_size: int = Field(1024, ge=1, le=1_000_000)
    compile: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint: Literal["best", "last", "none"] | None = Field(
        None, description="weights stored on each cell's run (ablate/artifacts.py): best (lowest val_loss "
        "epoch), last, none; unset: the weights tested (best where early stopping restores it, else last)")


class MetricSpec(StrictModel):
    name: str = "test_acc"
    direction: Literal["maximize", "minimize"] | None = None
    min_effect: float | None = Field(None, gt=0.0, description="the smallest difference that matters, in the "
                                     "metric's units (0.005 = half a point of accuracy); default per metric")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in FINAL_METRICS:
            raise ValueError(str(UnknownName("metric", v, list(FINAL_METRICS))))
        return v

    @property
    def resolved_direction(self) -> str:
        return self.direction or FINAL_METRICS[self.name]

    @property
    def resolved_min_effect(self) -> float | None:
        return self.min_effect or default_min_effect(self.name)


class SeedPlan(StrictModel):
    """`seeds: {initial: 3, max: 12}`: run `initial` seeds, then add seeds until every verdict is decided
    (Stein's two-stage procedure), never more than `max`."""

    initial: int = Field(ge=2, le=1000, description="seeds every arm runs first (2 or more: a spread is needed)")
    max: int = Field(ge=2, le=1000, description="the most seeds any arm runs")

    @model_validator(mode="after")
    def _order(self):
        if self.max < self.initial:
            raise ValueError(f"`initial <= max` must hold, but got (initial={self.initial}, max={self.max})")
        return self


class ParamRange(StrictModel):
    """One searched setting: uniform in [low, high], or log-uniform (log: true) for strengths and rates."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _order(self):
        if not self.low < self.high:
            raise ValueError(f"`low < high` must hold, but got (low={self.low:g}, high={self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, but got low={self.low:g}")
        return self


class TuneSpec(StrictModel):
    trials: int = Field(20, ge=1, le=10_000, description="tune trials (pruned ones count)")
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    metric: Literal["val_acc", "val_loss"] = Field("val_acc", description="reported every epoch; the best "
                                                   "epoch's value is the trial's objective")
    arm: Literal["all", "baseline"] | tuple[str, ...] = Field(
        "all", description="the arm tuned on: all factors on (default), baseline, or the factors that are on")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="tune trials' training seed and the sampler's seed "
                             "(default: one seed past the ablation's, so no ablation cell shares it)")
    epochs: int | None = Field(None, ge=1, le=10_000, description="epochs per tune trial (default train.epochs)")
    startup_trials: int = Field(3, ge=0, le=1000, description="trials run in full before pruning starts")
    warmup_epochs: int = Field(1, ge=0, le=1000, description="epochs before a trial may be pruned")
    params: dict[str, ParamRange] = Field(min_length=1, max_length=32)

    @property
    def direction(self) -> str:
        return TUNE_METRICS[self.metric]


class DesignRef(StrictModel):
    """`design: loco` or `design: {name: fractional, resolution: 4}`: a name and that design's options.

    The options are kept as given; the named design's own Params validates them (validate.py), so each
    design declares only what it takes.
    """

    model_config = ConfigDict(extra="allow")
    name: str = "full_factorial"

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: object) -> object:
        if isinstance(value, str):
            return {"name": value}
        if not isinstance(value, dict):
            raise ValueError("a design is a name (e.g. full_factorial) or a mapping {name: ..., <its options>}")
        return value

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RawStudy(StrictModel):
    """The file's shape; names inside model/data/factors/design are resolved against the registries afterwards."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    model: dict[str, Any]
    data: dict[str, Any]
    train: TrainParams = TrainParams()
    metric: MetricSpec = MetricSpec()
    factors: dict[str, Any] = Field(min_length=1, max_length=64)
    always: dict[str, Any] = Field(default_factory=dict, max_length=64)
    design: DesignRef = DesignRef()
    seeds: int | list[int] | SeedPlan = 3
    tune: TuneSpec | None = None
    plugins: tuple[str, ...] = Field((), max_length=32, description="Python files (relative to the study "
                                     "file) or module names that register models, datasets, regularizers")

    @field_validator("plugins")
    @classmethod
    def _plugin_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() or len(s) > 1000 for s in v):
            raise ValueError("each plugin is a non-empty path or module name (at most 1000 characters)")
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_plan(cls, v):
        """A mapping is a seeds-until-decided plan: judged as one, so an error names its own rule only."""
        if not isinstance(v, dict):
            return v
        try:
            return SeedPlan.model_validate(v)
        except ValidationError as e:
            raise ValueError("; ".join((f"{'.'.join(map(str, x['loc']))}: " if x["loc"] else "")
                                       + x["msg"].removeprefix("Value error, ") for x in e.errors())) from None

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, SeedPlan):
            return v
        if isinstance(v, int):
            if not 1 <= v <= 1000:
                raise ValueError("seeds must be a count in 1..1000 or a list of distinct non-negative ints")
            return v
        if not v or len(set(v)) != len(v) or any(not 0 <= s < 2**31 for s in v):
            raise ValueError("a seed list must be non-empty, distinct, and each seed in 0..2147483647")
        return v

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        """The name becomes an MLflow experiment, an Optuna study and a directory: one visible line."""
        return check_name(v)


# Characters a one-line visible name must not hold: line and paragraph separators (Unicode breaks lines at
# U+0085, U+2028 and U+2029 too), C0/C1 controls (category Cc: 0x00-0x1F, 0x7F-0x9F, the terminal's CSI 0x9B
# among them), surrogates, and the bidirectional controls that reorder what a reader sees.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")  # zero-width: a name of only these looks empty
RESERVED = ":@"  # ablate's own separators: `<name>:tune` is a tune study, `<name>@<hash>` a study set aside


def check_name(v: str) -> str:
    import unicodedata

    bad = sorted({c for c in v if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in BIDI_CONTROLS})
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise ValueError(f"a study name must be visible text on one line (no control characters, line "
                         f"separators or bidirectional controls; found {codes})")
    if all(c.isspace() or c in INVISIBLE for c in v):
        raise ValueError("a study name must be visible text on one line (it holds only blank or invisible "
                         "characters)")
    used = sorted(set(RESERVED) & set(v))
    if used:
        raise ValueError(f"a study name may not contain {' or '.join(repr(c) for c in used)}: ablate names a "
                         f"study's tune phase '<name>:tune' and a study set aside '<name>@<hash>'")
    return v


def problems_from(err: ValidationError, prefix: str = "") -> Problems:
    """Turn pydantic's errors into (field path, rule, given value) triples."""
    out = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        msg = e["msg"]
        ctx_err = (e.get("ctx") or {}).get("error")
        if isinstance(ctx_err, UnknownName):
            msg = str(ctx_err)
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append((loc, msg, e.get("input")))
    return out
