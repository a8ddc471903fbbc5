"""The one YAML parser: every piece of YAML ablate reads (a study file, an override's value, YAML a plugin
hands over) goes through `load_text`, a SafeLoader (no code runs) with limits, so a hostile input cannot run
code, exhaust memory, hang or end in a traceback. Each limit exceeded is a StudyError naming the source, the
field (or the line), the limit and how much was given."""

from __future__ import annotations

from pathlib import Path

import yaml

from ablate.errors import StudyError

MAX_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_NODES = 100_000  # values after aliases are expanded: a few aliases can otherwise stand for billions
MAX_DEPTH = 50  # nesting levels; PyYAML composes recursively and would hit Python's recursion limit
MEASURED_DEPTH = 300  # how deep a too-deep document is measured, to say how deep it was
MAX_NUMBER_CHARS = 100  # a number's text; Python refuses ints over 4300 digits (a traceback), floats lose them


class LimitError(yaml.YAMLError):
    """A limit of this parser exceeded: the rule (naming the limit), how much was given, and where."""

    def __init__(self, rule: str, given: str, mark=None):
        super().__init__(f"{rule} (given: {given})")
        self.rule, self.given, self.problem_mark = rule, given, mark


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader (no !!python tags) that rejects duplicate keys, alias bombs, absurd nesting and numbers."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise LimitError(f"at most {MAX_ALIASES} YAML aliases (*name) are allowed", "aliases",
                                 self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LimitError(f"nesting at most {MAX_DEPTH} levels deep is allowed", "depth",
                                 self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node):
        _expanded_size(node, {}, set())
        return super().construct_document(node)

    def _number(self, node, construct):
        text = self.construct_scalar(node)
        if len(text) > MAX_NUMBER_CHARS:
            raise LimitError(f"a number must be at most {MAX_NUMBER_CHARS} characters long",
                             f"a number of {len(text)} characters", node.start_mark)
        return construct(self, node)

    def construct_yaml_int(self, node):
        return self._number(node, yaml.SafeLoader.construct_yaml_int)

    def construct_yaml_float(self, node):
        return self._number(node, yaml.SafeLoader.construct_yaml_float)

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


_LimitedLoader.add_constructor("tag:yaml.org,2002:int", _LimitedLoader.construct_yaml_int)
_LimitedLoader.add_constructor("tag:yaml.org,2002:float", _LimitedLoader.construct_yaml_float)


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
    sizes[key] = size
    if size > MAX_NODES and not open_:  # the whole document: say how big it really is
        raise LimitError(f"a document may stand for at most {MAX_NODES} values once its aliases are "
                         "expanded", f"{size} values", node.start_mark)
    return size


def _measured(text: str, what: str) -> str:
    """How many aliases, or how deep, the text really is (an iterative pass over the parser's events)."""
    aliases = depth = deepest = 0
    prefix = ""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                deepest = max(deepest, depth)
                if what == "depth" and depth >= MEASURED_DEPTH:  # PyYAML scans flow nesting in n^2 time
                    prefix = "more than "
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        prefix = "at least "  # broken further on: what was read so far
    return f"{prefix}{aliases} aliases" if what == "aliases" else f"{prefix}{deepest + (not prefix)} levels"


def load_text(text: str, source: str, field: str | None = None, what: str = "the file") -> object:
    """`text` parsed as YAML within the limits; a StudyError naming `source` and `field` (else the line)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise StudyError(source, [(field or "", f"{what} must be at most {MAX_BYTES} bytes of YAML",
                                   f"{size} bytes")])
    try:
        return yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 - a SafeLoader subclass
    except LimitError as e:
        given = _measured(text, e.given) if e.given in ("aliases", "depth") else e.given
        where = _where(e, text)
        raise StudyError(source, [(field or where[0], f"{what} must be YAML within limits: {e.rule}",
                                   given)]) from None
    except yaml.YAMLError as e:
        where, rule, line = _where(e, text)
        if field is not None:
            raise StudyError(source, [(field, f"{what} must be YAML ({where}: {rule})", text)]) from None
        raise StudyError(source, [(where, rule, line)]) from None
    except RecursionError:  # defence in depth: the depth limit should come first
        raise StudyError(source, [(field or "", f"{what} must be YAML nested at most {MAX_DEPTH} levels",
                                   "deeper")]) from None


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
    return load_text(text, str(path))


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
