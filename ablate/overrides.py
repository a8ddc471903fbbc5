"""Command-line overrides: `ablate run STUDY train.epochs=2 seeds=1 factors.dropout.p=0.5 ~always.grad_clip`.

Each override is a dotted path into the study file and a value parsed as YAML (`[0, 7]`, `{p: 0.5}`, `true`,
`1e-3`), applied to the raw mapping before validation, so the effective study is validated, hashed, logged and
reported exactly as if the file said so. `~path` deletes a key. The Python API's `{"train.epochs": 2}` is the
same overrides with the values given as objects (ablate/api.py), applied by the same code. A path the study cannot have is a StudyError
in the same file/field/rule/value form as every other, naming the dotted path (and, for a typo in a known
section, the closest field).
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel

from ablate.errors import Problems, StudyError, UnknownName
from ablate.spec import RawStudy
from ablate.yamlio import load_text, read_yaml

FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")  # 1e-3: YAML 1.1 reads it as a string


@dataclass(frozen=True)
class Override:
    path: tuple[str, ...]
    value: object = None
    delete: bool = False
    text: str = ""

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def is_override(arg: str) -> bool:
    """`key.path=value` or `~key.path` (a file path with `=` in it is still a file: check it exists first)."""
    return bool(re.match(r"^~?[A-Za-z_][\w.-]*(=|$)", arg)) and ("=" in arg or arg.startswith("~"))


Items = Sequence[str] | Mapping[str, object]  # ["train.epochs=2", "~always.ema"] or {"train.epochs": 2}


def texts(items: Items) -> list[str]:
    """The overrides as command-line arguments (`key.path=value`, a mapping's values written as YAML)."""
    if not isinstance(items, Mapping):
        return [str(i) for i in items]
    flow = lambda v: yaml.safe_dump(v, default_flow_style=True, width=10**9).strip().removesuffix("\n...")  # noqa: E731
    return [str(k) if str(k).startswith("~") else f"{k}={flow(v)}" for k, v in items.items()]


def parse(items: Items, source: str) -> list[Override]:
    """Command-line strings, values read as YAML; or a mapping of dotted paths to values, taken as given."""
    if isinstance(items, Mapping):
        return _from_mapping(items, source)
    out, problems = [], []
    for item in items:
        delete = item.startswith("~")
        key, eq, text = item.lstrip("~").partition("=")
        path = tuple(key.split("."))
        if (not eq and not delete) or (eq and delete) or not all(path):
            problems.append(("<overrides>", "an override is key.path=value (or ~key.path to delete one)", item))
            continue
        try:
            value = load_text(text, source, field=key, what="an override's value") if eq else None
        except StudyError as e:  # the same bounded parser as the study file's: limits, no code, no traceback
            problems.extend(e.problems)
            continue
        if isinstance(value, str) and FLOAT.match(value):
            value = float(value)
        out.append(Override(path, value, delete, item))
    if problems:
        raise StudyError(source, problems)
    return out


def _from_mapping(items: Mapping[str, object], source: str) -> list[Override]:
    out, problems = [], []
    for (key, value), text in zip(items.items(), texts(items)):
        path = tuple(str(key).lstrip("~").split("."))
        if not all(path):
            problems.append(("<overrides>", "an override's key is a dotted path (e.g. train.epochs; ~path deletes "
                             "one)", key))
            continue
        out.append(Override(path, value, str(key).startswith("~"), text))
    if problems:
        raise StudyError(source, problems)
    return out


def _check_field(raw: dict, path: tuple[str, ...], problems: Problems, text: str) -> bool:
    """The first keys against the study's shape: a top-level field, and a field of a typed section (unless
    the file gives that field as a list, as `seeds: [0, 7]` may be where a mapping is also allowed)."""
    fields = RawStudy.model_fields
    if path[0] not in fields:
        problems.append((path[0], str(UnknownName("study field", path[0], list(fields))), text))
        return False
    annotation = fields[path[0]].annotation
    section = next((t for t in (annotation, *getattr(annotation, "__args__", ())) if isinstance(t, type)
                    and issubclass(t, BaseModel) and t.model_config.get("extra") == "forbid"), None)
    if section is not None and len(path) > 1 and not isinstance(raw.get(path[0]), list) \
            and path[1] not in section.model_fields:
        problems.append((".".join(path[:2]), str(UnknownName(f"{path[0]} field", path[1],
                                                             list(section.model_fields))), text))
        return False
    return True


def _descend(node: object, key: str) -> object:
    if isinstance(node, list):
        return node[int(key)] if key.isdigit() and int(key) < len(node) else None
    return node.get(key) if isinstance(node, dict) else None


def _set(raw: dict, o: Override, problems: Problems) -> None:
    node: object = raw
    for depth, key in enumerate(o.path[:-1]):
        if isinstance(node, dict) and node.get(key) is None and not o.delete:
            node[key] = {}  # a section or a regularizer the file does not have yet (or gives empty: `always:`)
        elif depth == 0 and key == "design" and isinstance(node.get(key), str) and not o.delete:
            node[key] = {"name": node[key]}  # `design: loco` is short for `design: {name: loco}`
        child = _descend(node, key)
        where = ".".join(o.path[:depth + 1])
        if child is None and (o.delete or isinstance(node, list)):
            problems.append((where, "there is nothing at this path" + (f" (a list of {len(node)})" if
                                                                     isinstance(node, list) else ""), o.text))
            return
        if not isinstance(child, dict | list):
            problems.append((where, f"`{where}` is {child!r}, not a mapping, so `{o.dotted}` cannot be set "
                             f"inside it: give `{where}` whole (e.g. {where}={{name: ..., {o.path[depth + 1]}: "
                             "...})", o.text))
            return
        node = child
    last = o.path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node) or o.delete:
            problems.append((o.dotted, f"a list index must be below {len(node)} (lists are set whole)", o.text))
        else:
            node[int(last)] = o.value
    elif o.delete:
        if last not in node:
            problems.append((o.dotted, "there is nothing at this path to delete", o.text))
        else:
            del node[last]
    else:
        node[last] = o.value


def apply(raw: object, items: Items, source: str) -> object:
    """A copy of the parsed study file with the overrides applied (the file's mapping is left as it was)."""
    overrides = parse(items, source)
    if not overrides or not isinstance(raw, dict):
        return raw
    out, problems = copy.deepcopy(raw), []
    for o in overrides:
        if _check_field(out, o.path, problems, o.text):
            _set(out, o, problems)
    if problems:
        raise StudyError(source, problems)
    return out


def described(path: str, items: Items) -> str:
    """How the effective study is named in messages: the command-line arguments that make it again."""
    return " ".join([str(path), *(shlex.quote(i) for i in texts(items))])


def study_text(path: str | Path, items: Items) -> str:
    """The study as the parent run keeps it (study.yaml): the file itself, or with overrides the effective
    study as YAML, headed by the command-line arguments that make it."""
    if not items:
        return Path(path).read_text(encoding="utf-8")
    raw = apply(read_yaml(Path(path)), items, str(path))
    head = f"# {described(str(path), items)}\n# (the study file with these overrides applied)\n"
    return head + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
