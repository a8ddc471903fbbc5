"""The test layers, by mechanism, never by hand.

`make test` runs the unit and in-process integration layers: everything that trains, writes real stores
and builds reports inside the test process. `make test-all` adds the `system` layer: every test that starts
a process (an `ablate` command, an interpreter, a worker pool), a server or a browser, and everything in
faults/. A test is `system` when

- it lives in tests/faults/, or
- its code, or the code of a fixture or a tests/ helper it uses (followed through calls, however deep),
  names a way to start a process (PROCESS_APIS), or passes `workers=` anything but 1 to ablate.

The rule reads code, so it can miss a way nobody listed; `guard` closes that gap at run time: a test the
rule left in the fast layers fails if it starts a process anyway, naming the command, so the layers cannot
drift apart from what the tests do.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import subprocess
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# names whose use starts a process, a server or a browser
PROCESS_APIS = frozenset({
    "subprocess", "Popen", "check_output", "check_call", "posix_spawn", "fork",  # commands, interpreters
    "multiprocessing", "ProcessPoolExecutor", "get_context", "Process",  # Python processes
    "sync_playwright", "async_playwright", "chromium",  # a browser
    "parallel_figures",  # ablate's report drawing its figures in forked processes
})

# short-lived look-ups a library runs in-process (GitPython's `git` for a run's commit, ctypes' `ldconfig -p`)
QUIET_COMMANDS = frozenset({"git", "ldconfig", "uname"})


def _tree(fn) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None


def _ours(obj) -> bool:
    """A function or class written in tests/ (a helper worth following), not a library's."""
    code = getattr(obj, "__code__", None)
    if code is None and inspect.isclass(obj):
        try:
            return Path(inspect.getfile(obj)).resolve().is_relative_to(TESTS)
        except (TypeError, OSError):
            return False
    return code is not None and Path(code.co_filename).resolve().is_relative_to(TESTS)


_VISITING: set[object] = set()  # helpers being read, so two that name each other end the walk


@functools.cache
def starts_process(fn) -> str | None:
    """Why `fn` (a test, fixture or helper) starts a process, or None: the first process API it names,
    itself or through the tests/ helpers it calls."""
    tree = _tree(fn)
    if tree is None or fn in _VISITING:
        return None
    _VISITING.add(fn)
    try:
        return _names_process(fn, tree)
    finally:
        _VISITING.discard(fn)


def _names_process(fn, tree: ast.AST) -> str | None:
    scope = getattr(fn, "__globals__", None) or vars(inspect.getmodule(fn) or object)
    for node in ast.walk(tree):
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name in PROCESS_APIS:
            return name
        if isinstance(node, ast.keyword) and node.arg == "workers":
            value = node.value
            if not (isinstance(value, ast.Constant) and value.value in (0, 1)):
                return f"workers={ast.unparse(value)}"
        if name and name != getattr(fn, "__name__", None):
            target = scope.get(name) if isinstance(node, ast.Name) else None
            if target is None and isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                target = getattr(scope.get(node.value.id), name, None)
            if target is not None and _ours(target):
                why = starts_process(target)
                if why:
                    return f"{name} -> {why}"
    return None


def system_reason(item) -> str | None:
    """Why a collected test belongs to the system layer, or None for the fast layers."""
    path = Path(item.path).resolve()
    if path.is_relative_to(TESTS / "faults"):
        return "lives in faults/"
    fn = getattr(item, "function", None)
    why = starts_process(fn) if fn is not None else None
    if why:
        return f"the test names {why}"
    info = getattr(item, "_fixtureinfo", None)
    for name in getattr(info, "names_closure", ()):
        for fixturedef in (info.name2fixturedefs.get(name) or ()):
            func = getattr(fixturedef, "func", None)
            if func is not None and _ours(func):
                why = starts_process(func)
                if why:
                    return f"fixture {name} names {why}"
    return None


class Guard:
    """Runs a fast-layer test in-process: a report draws its figures inline (ABLATE_FIGURE_PROCESSES=0, not
    in forked processes), and whatever process the test starts after all is noted, for the test to fail."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._saved: list[tuple[object, str, object]] = []
        self._env: str | None = None

    def _patch(self, owner, attr: str, wrap) -> None:
        original = getattr(owner, attr)
        self._saved.append((owner, attr, original))
        setattr(owner, attr, wrap(original))

    def __enter__(self) -> Guard:
        import multiprocessing.process

        def popen(original):
            def execute_child(proc, args, *rest, **kwargs):
                argv = [args] if isinstance(args, (str, bytes)) else list(args)
                if os.path.basename(str(argv[0])) not in QUIET_COMMANDS:
                    self.started.append(" ".join(map(str, argv))[:200])
                return original(proc, args, *rest, **kwargs)
            return execute_child

        def noting(kind):
            def wrap(original):
                def started(*args, **kwargs):
                    self.started.append(kind)
                    return original(*args, **kwargs)
                return started
            return wrap

        self._env = os.environ.get("ABLATE_FIGURE_PROCESSES")
        os.environ["ABLATE_FIGURE_PROCESSES"] = "0"
        self._patch(subprocess.Popen, "_execute_child", popen)
        self._patch(os, "fork", noting("os.fork()"))
        self._patch(multiprocessing.process.BaseProcess, "start", noting("a multiprocessing Process"))
        return self

    def __exit__(self, *exc) -> None:
        for owner, attr, original in reversed(self._saved):
            setattr(owner, attr, original)
        self._saved.clear()
        if self._env is None:
            os.environ.pop("ABLATE_FIGURE_PROCESSES", None)
        else:
            os.environ["ABLATE_FIGURE_PROCESSES"] = self._env
