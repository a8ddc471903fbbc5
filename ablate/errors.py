"""Errors a user can cause. Each one says where, which rule, and what was given, and maps to exit code 2."""

from __future__ import annotations

MAX_MESSAGE_CHARS = 8000  # a whole message: a plugin's 20 MB exception text is not echoed
MAX_PART_CHARS = 300  # a field path or a rule inside a message (2 MB of unknown keys is not echoed)
MAX_PROBLEMS = 40  # problems listed; the rest are counted

Problem = tuple[str, str, object]  # (field path, rule, given value): what every check reports
Problems = list[Problem]


class AblateError(Exception):
    """Root of every error ablate raises on purpose; the CLI turns these into exit code 2."""

    exit_code = 2

    def __str__(self) -> str:  # every message, however made, is capped here with a count of what was cut
        return capped(super().__str__())


class StudyError(AblateError):
    """A study file broke a rule. Holds every problem found, each naming file, field path, rule and value."""

    def __init__(self, file: str, problems: Problems):
        self.file = str(file)
        self.problems = list(problems)  # (field path, rule, given value)
        super().__init__(self.format())

    def format(self) -> str:
        file = capped(self.file, MAX_PART_CHARS)
        lines = [f"{file}: {len(self.problems)} problem(s) in the study"]
        for path, rule, value in self.problems[:MAX_PROBLEMS]:
            given = _short_repr(value)
            lines.append(f"  {file}: {capped(str(path), MAX_PART_CHARS) or '<root>'}: "
                         f"{capped(str(rule), MAX_PART_CHARS)} (given: {given})")
        if len(self.problems) > MAX_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - MAX_PROBLEMS} more problem(s) left out")
        return capped("\n".join(lines))


class UnknownName(AblateError, KeyError):
    """A registry lookup failed; the message suggests the closest registered name."""

    def __init__(self, kind: str, name: str, known: list[str]):
        import difflib

        self.kind, self.name, self.known = kind, name, known
        text = str(name)
        name = capped(text, MAX_PART_CHARS)  # difflib on a megabyte name would take minutes
        close = difflib.get_close_matches(text, known, n=1, cutoff=0.5) if len(text) <= MAX_PART_CHARS else []
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})"
        self.message = f"unknown {kind} '{name}'{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return capped(self.message)


class CellFailed(AblateError):
    """A cell could not finish for a reason retrying will not fix (e.g. a diverging loss)."""

    def __init__(self, reason: str, epoch: int | None = None):
        self.reason, self.epoch = reason, epoch
        super().__init__(reason)


class StudyChanged(AblateError):
    """The study file's defining content changed after cells ran under the same name."""


def capped(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to about `limit` characters, saying how many were left out (the one cap on messages)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters left out)"


def _short_repr(value: object, limit: int = 80) -> str:
    if isinstance(value, str) and len(value) > 100 * limit:  # repr of a huge string costs its whole size
        value = value[: 2 * limit]
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
