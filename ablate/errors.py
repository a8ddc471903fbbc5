"""Errors a user can cause. Each one says where, which rule, and what was given, and maps to exit code 2."""

from __future__ import annotations

Problem = tuple[str, str, object]  # (field path, rule, given value): what every check reports
Problems = list[Problem]


class AblateError(Exception):
    """Root of every error ablate raises on purpose; the CLI turns these into exit code 2."""

    exit_code = 2


class StudyError(AblateError):
    """A study file broke a rule. Holds every problem found, each naming file, field path, rule and value."""

    def __init__(self, file: str, problems: Problems):
        self.file = str(file)
        self.problems = list(problems)  # (field path, rule, given value)
        super().__init__(self.format())

    def format(self) -> str:
        lines = [f"{self.file}: {len(self.problems)} problem(s) in the study"]
        for path, rule, value in self.problems:
            given = _short_repr(value)
            lines.append(f"  {self.file}: {path or '<root>'}: {rule} (given: {given})")
        return "\n".join(lines)


class UnknownName(AblateError, KeyError):
    """A registry lookup failed; the message suggests the closest registered name."""

    def __init__(self, kind: str, name: str, known: list[str]):
        import difflib

        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})"
        self.message = f"unknown {kind} '{name}'{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class CellFailed(AblateError):
    """A cell could not finish for a reason retrying will not fix (e.g. a diverging loss)."""

    def __init__(self, reason: str, epoch: int | None = None):
        self.reason, self.epoch = reason, epoch
        super().__init__(reason)


class StudyChanged(AblateError):
    """The study file's defining content changed after cells ran under the same name."""


def _short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
