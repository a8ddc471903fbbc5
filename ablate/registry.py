"""A tiny name -> object registry; the one way ablate finds regularizers, models and datasets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ablate.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def add(obj: T) -> T:
            key = name or getattr(obj, "name", None) or obj.__name__  # type: ignore[attr-defined]
            if key in self._items and self._items[key] is not obj and not _same_definition(self._items[key], obj):
                raise ValueError(f"{self.kind} '{key}' is registered twice ({_where(self._items[key])} and "
                                 f"{_where(obj)})")
            self._items[key] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(self.kind, name, list(self._items)) from None

    def entries(self) -> dict[str, T]:
        """A copy of name -> entry: what a plugin's import added is the difference of two of these."""
        return dict(self._items)

    def unregister(self, name: str) -> None:
        """Forget an entry (a plugin that failed to import, or one imported again after an edit)."""
        self._items.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _where(obj: object) -> str:
    """The module and name that define an entry (a builder function's wrapper: the function)."""
    target = getattr(obj, "fn", obj)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"


def _same_definition(old: object, new: object) -> bool:
    """The same code defined again (a plugin file run once as a script or notebook cell and once as the
    study's plugin): the new definition replaces the old, as a re-run cell would."""
    import inspect

    a, b = getattr(old, "fn", old), getattr(new, "fn", new)
    if getattr(a, "__qualname__", None) != getattr(b, "__qualname__", None):
        return False
    try:
        return inspect.getsourcefile(a) == inspect.getsourcefile(b) is not None  # type: ignore[arg-type]
    except TypeError:
        return False
