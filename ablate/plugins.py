"""A study's plugins: the user's own Python code that registers models, datasets and regularizers through the
public API (ablate.register_model, register_dataset, register_regularizer), loaded in every process that
resolves the study's names: `ablate run`, its worker processes (each rebuilds the study, plugins first: see
ablate/recipe.py), `ablate worker` on another machine, `ablate validate` and `ablate report`.

Three sources, loaded alike: `plugins:` in the study (a .py file, relative to the study file's folder, or an
importable module name), `--plugin` on the command line (relative to the working directory), and every
installed package's entry points in the group `ablate.plugins`. A listed plugin's content is part of the study
hash, so editing it is a changed study; installed entry points are versioned packages and are not.

A file runs from the exact bytes that were hashed, as a module named after its path (in sys.modules, so
dataclasses, pydantic and pickle in it work), and writes no bytecode beside it. Loading an unchanged plugin
again is a no-op; a changed one (a notebook after an edit) first forgets what it registered before. A plugin
that fails to import registers nothing and is an error naming its file and line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import linecache
import os
import re
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ablate.errors import AblateError, Problems, StudyError

ENTRY_POINT_GROUP = "ablate.plugins"
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class PluginError(AblateError):
    """A plugin could not be found or imported; the message names the file and line."""


@dataclass(frozen=True)
class Plugin:
    given: str  # as written in the study file or on the command line
    kind: str  # "file" or "module"
    target: str  # the file's absolute path, or the module's name
    sha256: str  # of the file's bytes (a package: of every .py file under it)
    listed: bool = True  # in the study's `plugins:` (False: --plugin, or the API's plugins=)

    @property
    def label(self) -> str:
        """How the hash names it: the file's name (not where the checkout lives), or the module's."""
        return Path(self.target).name if self.kind == "file" else self.target

    def canonical(self) -> dict[str, str]:
        return {"plugin": self.label, "sha256": self.sha256}


# target -> (sha256 it was loaded with, what it registered: (registry, name) pairs)
_LOADED: dict[str, tuple[str, list[tuple[object, str]]]] = {}
_ENTRY_POINTS_LOADED: set[str] = set()


def study_plugins(listed: object, source: str, extra: Sequence[str] = (), extra_field: str = "--plugin",
                  folder: Path | None = None) -> tuple[Plugin, ...]:
    """Resolve and load a study's plugins (and the installed entry points); StudyError names the field.

    `listed` is the file's `plugins:` value (relative to the study file's folder); `extra` are more plugins
    (relative to the working directory). A malformed `plugins:` is left to the study's shape check."""
    load_entry_points()
    base = Path(source).parent if folder is None else folder  # `source` may carry overrides after the path
    wanted = [(f"plugins.{i}", g, base, True) for i, g in enumerate(listed)] if _strings(listed) else []
    wanted += [(extra_field, g, Path.cwd(), False) for g in extra]
    problems: Problems = []
    found: dict[str, tuple[str, Plugin]] = {}
    for field, given, folder, is_listed in wanted:
        try:
            plugin = resolve(given, folder, is_listed)
        except PluginError as e:
            problems.append((field, str(e), given))
            continue
        found.setdefault(plugin.target, (field, plugin))
    if problems:
        raise StudyError(source, problems)
    for field, plugin in found.values():
        try:
            load(plugin)
        except PluginError as e:
            raise StudyError(source, [(field, str(e), plugin.given)]) from None
    return tuple(p for _, p in found.values())


def _strings(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value)


def resolve(given: str, base: Path, listed: bool = True) -> Plugin:
    """A plugin string -> a Plugin (a file, or a module name), its content hashed; PluginError if absent."""
    if given.endswith(".py") or "/" in given or os.sep in given:
        path = (base / given).resolve() if not Path(given).is_absolute() else Path(given).resolve()
        if not path.is_file():
            where = "the study file's folder" if listed else "the working directory"
            raise PluginError(f"no plugin file {str(path)!r} (a plugin path is relative to {where})")
        return Plugin(given, "file", str(path), hashlib.sha256(path.read_bytes()).hexdigest(), listed)
    if not _MODULE_NAME.match(given):
        raise PluginError("a plugin is a .py file (relative to the study file) or an importable module name")
    try:
        spec = importlib.util.find_spec(given)
    except ModuleNotFoundError:
        spec = None
    except Exception as e:  # a parent package ran and failed
        raise PluginError(_failure(f"plugin module '{given}'", e, set())) from e
    if spec is None:
        raise PluginError(f"no module named '{given}' on the Python path (for a file beside the study, write "
                          f"'{given.rsplit('.', 1)[-1]}.py')")
    return Plugin(given, "module", given, _module_hash(spec), listed)


def _module_hash(spec) -> str:
    files: list[Path] = []
    for folder in spec.submodule_search_locations or []:
        files += sorted(Path(folder).rglob("*.py"))
    if not files and spec.origin and Path(spec.origin).is_file():
        files = [Path(spec.origin)]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def load(plugin: Plugin) -> None:
    """Import the plugin once; again only if its content changed (forgetting what it registered before)."""
    done = _LOADED.get(plugin.target)
    if done is not None and done[0] == plugin.sha256:
        return
    if done is not None:
        _forget(done[1])
    before = _entries()
    try:
        if plugin.kind == "file":
            _exec_file(Path(plugin.target), plugin.sha256)
        elif plugin.target in sys.modules and done is not None:
            importlib.reload(sys.modules[plugin.target])
        else:
            importlib.import_module(plugin.target)
    except (Exception, SystemExit) as e:
        _forget(_added(before))
        _LOADED.pop(plugin.target, None)
        if plugin.kind == "file":
            sys.modules.pop(_file_module_name(Path(plugin.target)), None)
        raise PluginError(_failure(f"plugin '{plugin.given}'", e, _own_files(plugin))) from e
    _LOADED[plugin.target] = (plugin.sha256, _added(before))


def registered_by(plugin: Plugin) -> list[tuple[str, str]]:
    """(kind, name) of every model, dataset and regularizer the plugin registered when it loaded."""
    done = _LOADED.get(plugin.target)
    return [(getattr(reg, "kind", "?"), name) for reg, name in (done[1] if done else [])]


def _file_module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem)
    return f"ablate_plugin_{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def _exec_file(path: Path, sha256: str) -> None:
    """Run the file's bytes (the ones hashed: an edit in between is a mismatch, not a silent mix)."""
    source = path.read_bytes()
    if hashlib.sha256(source).hexdigest() != sha256:
        raise PluginError(f"plugin {str(path)!r} changed while it was being loaded; run again")
    name = _file_module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:  # so it can import helper modules beside it
        sys.path.append(str(path.parent))
    sys.modules[name] = module
    linecache.checkcache(str(path))
    exec(compile(source, str(path), "exec"), module.__dict__)


def _own_files(plugin: Plugin) -> set[str]:
    if plugin.kind == "file":
        return {plugin.target}
    spec = importlib.util.find_spec(plugin.target)
    files = {os.path.abspath(spec.origin)} if spec and spec.origin else set()
    for folder in (spec.submodule_search_locations or []) if spec else []:
        files |= {str(f.resolve()) for f in Path(folder).rglob("*.py")}
    return files


def _failure(what: str, e: BaseException, files: set[str]) -> str:
    """`<what> failed to import: <file>, line <n> (`<code>`): <Type>: <message>`, at the last frame in the
    plugin's own files (a syntax error: where it is); else the innermost frame."""
    frames = traceback.extract_tb(e.__traceback__)
    inside = [f for f in frames if os.path.abspath(f.filename) in files]
    if isinstance(e, SyntaxError) and e.filename:
        file, line = e.filename, e.lineno
    elif inside or frames:
        file, line = (inside or frames)[-1].filename, (inside or frames)[-1].lineno
    else:
        file, line = None, None
    code = linecache.getline(file, line).strip() if file and line else ""
    where = f"{file}, line {line}" + (f" (`{code}`)" if code else "") if file else "(no traceback)"
    return f"{what} failed to import: {where}: {type(e).__name__}: {e}"


def _registries() -> list[object]:
    from ablate.data.base import DATASETS
    from ablate.models.base import MODELS
    from ablate.regularizers.base import REGULARIZERS

    return [MODELS, DATASETS, REGULARIZERS]


def _entries() -> list[tuple[object, dict]]:
    return [(reg, reg.entries()) for reg in _registries()]


def _added(before: list[tuple[object, dict]]) -> list[tuple[object, str]]:
    return [(reg, name) for reg, old in before for name, entry in reg.entries().items() if old.get(name) is not entry]


def _forget(names: Iterable[tuple[object, str]]) -> None:
    for reg, name in names:
        reg.unregister(name)


def load_entry_points() -> None:
    """Load every installed `ablate.plugins` entry point once per process (a callable one is called)."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"{ep.name}={ep.value}"
        if key in _ENTRY_POINTS_LOADED:
            continue
        before = _entries()
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, type(sys)):
                obj()
        except (Exception, SystemExit) as e:
            _forget(_added(before))
            dist = getattr(getattr(ep, "dist", None), "name", None)
            what = f"entry point '{key}' (group {ENTRY_POINT_GROUP}" + (f", package {dist})" if dist else ")")
            files = {os.path.abspath(f.filename) for f in traceback.extract_tb(e.__traceback__)
                     if ep.module.replace(".", os.sep) in f.filename}
            raise PluginError(_failure(what, e, files)) from e
        _ENTRY_POINTS_LOADED.add(key)
