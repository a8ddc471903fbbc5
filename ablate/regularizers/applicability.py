"""Which regularizers a study may combine with its model and data, as problems (field, rule, value).

Two rules, read from declarations rather than coded per regularizer: a regularizer applies to a model when
the model's builder accepts every knob it names in ``applies_to`` (None: every model) and to the data when
the dataset's kind is in its ``data_kinds``; and no two active regularizers may set the same model knob,
optimizer keyword or loss keyword (the second would silently overwrite the first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ablate.regularizers.base import REGULARIZERS, Regularizer

Problems = list[tuple[str, str, object]]


def applies_note(reg: type[Regularizer]) -> str:
    """What a regularizer needs, for listings: the model knobs and the data kinds."""
    models = "every model" if reg.applies_to is None else f"models with knob {', '.join(sorted(reg.applies_to))}"
    return f"{models}; {'/'.join(sorted(reg.data_kinds))} data"


def missing_knobs(reg: type[Regularizer], builder) -> list[str]:
    return sorted(set(reg.applies_to or ()) - set(builder.reg_kwargs))


def applies(reg: type[Regularizer], builder, data_kind: str) -> bool:
    return not missing_knobs(reg, builder) and data_kind in reg.data_kinds


def fit_problems(builder, dataset, sections: Mapping[str, Iterable[str]]) -> Problems:
    """Every named regularizer (by section: factors, always) that does not apply to the model or the data."""
    out: Problems = []
    for section, names in sections.items():
        for name in names:
            if name not in REGULARIZERS:
                continue  # reported where the name is resolved
            reg = REGULARIZERS.get(name)
            missing = missing_knobs(reg, builder)
            if missing:
                has = ", ".join(sorted(builder.reg_kwargs)) or "none"
                out.append((f"{section}.{name}", f"regularizer '{name}' does not apply to model '{builder.name}': "
                            f"the model takes no '{missing[0]}' knob (its knobs: {has})", name))
            elif dataset.kind not in reg.data_kinds:
                out.append((f"{section}.{name}", f"regularizer '{name}' does not apply to {dataset.kind} data "
                            f"(dataset '{dataset.name}'; it needs {'/'.join(sorted(reg.data_kinds))} data)", name))
    return out


def setting_problems(builder, regs: Iterable[Regularizer], always: Iterable[str] = ()) -> Problems:
    """Knobs the model lacks, and any model knob, optimizer or loss keyword set by two regularizers."""
    always = set(always)
    out: Problems = []
    seen: dict[tuple[str, str], str] = {}
    for reg in regs:
        path = f"{'always' if reg.name in always else 'factors'}.{reg.name}"
        for key in reg.model_kwargs():
            if key not in builder.reg_kwargs:
                out.append((path, f"model '{builder.name}' has no '{key}' knob for regularizer '{reg.name}'", key))
        for what, keys in (("the model's", reg.model_kwargs()), ("the optimizer's", reg.optimizer_kwargs()),
                           ("the loss's", reg.loss_kwargs())):
            for key in keys:
                other = seen.setdefault((what, key), reg.name)
                if other != reg.name:
                    out.append((path, f"'{reg.name}' and '{other}' both set {what} '{key}' (only one may)", key))
    return out
