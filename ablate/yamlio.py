"""Safe YAML reading with limits, so a hostile file cannot run code or exhaust memory."""

from __future__ import annotations

from pathlib import Path

import yaml

from ablate.errors import StudyError

MAX_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_NODES = 100_000  # values after aliases are expanded: a few aliases can otherwise stand for billions
MAX_DEPTH = 50  # nesting levels; PyYAML composes recursively and would hit Python's recursion limit


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader (no !!python tags) that rejects duplicate keys, alias bombs and absurd nesting."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} YAML aliases (possible alias bomb)")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node):
        _expanded_size(node, {}, set())
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`; explicit keys may override
                continue
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


def _expanded_size(node, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values the document stands for once every alias is expanded (a DAG walk; never expands)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise yaml.constructor.ConstructorError(None, None, "a YAML alias refers to itself (a cycle)",
                                                node.start_mark)
    open_.add(key)
    children = node.value if isinstance(node, yaml.SequenceNode) else (
        [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
    size = 1 + sum(_expanded_size(child, sizes, open_) for child in children)
    open_.discard(key)
    if size > MAX_NODES:
        raise yaml.constructor.ConstructorError(
            None, None, f"the document expands to more than {MAX_NODES} values (a YAML alias bomb?)",
            node.start_mark)
    sizes[key] = size
    return size


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
        raise StudyError(str(path), [_where(e, text)]) from None


def _where(e: yaml.YAMLError, text: str) -> tuple[str, str, str]:
    """(line L, column C; the rule; the offending line) for any YAML error, the reader's included."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    if mark is not None:
        line, column = mark.line, mark.column
    elif isinstance(e, yaml.reader.ReaderError):  # a forbidden character: it knows only its position
        line = text.count("\n", 0, e.position)
        column = e.position - (text.rfind("\n", 0, e.position) + 1)
    else:
        line, column = 0, 0
    if isinstance(e, yaml.reader.ReaderError):
        problem = f"character {e.character!r} is not allowed in YAML ({e.reason})"
    else:
        problem = getattr(e, "problem", None) or str(e)
    lines = text.splitlines() or [""]
    return (f"line {line + 1}, column {column + 1}", f"the file must be valid YAML: {problem}",
            lines[min(line, len(lines) - 1)][:80])
