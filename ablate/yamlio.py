"""Safe YAML reading with limits, so a hostile file cannot run code or exhaust memory."""

from __future__ import annotations

from pathlib import Path

import yaml

from ablate.errors import StudyError

MAX_BYTES = 1_000_000
MAX_ALIASES = 100


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader (no !!python tags) that rejects duplicate keys and alias bombs."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} YAML aliases (possible alias bomb)")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                dup = key in keys
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, f"unhashable mapping key {key!r}", key_node.start_mark) from None
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> object:
    path = Path(path)
    if not path.is_file():
        raise StudyError(str(path), [("", "the study file must exist and be a file", str(path))])
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise StudyError(str(path), [("", f"a study file must be at most {MAX_BYTES} bytes", f"{size} bytes")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise StudyError(str(path), [("", "the file must be UTF-8 text", str(e))]) from None
    try:
        return yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise StudyError(str(path), [(where, f"the file must be valid YAML: {problem}", text[:60])]) from None
