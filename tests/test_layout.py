"""The package's shape, checked: DESIGN.md's layout rules hold for every module, imports inside functions too.

- no import cycle among ablate's modules (an edge per `import` or `from ... import`, wherever it stands);
- mlflow is imported only by ablate/tracking.py, optuna only under ablate/scheduler/;
- the `ablate.*` tag and attribute names are spelled only in ablate/records.py (other strings starting with
  `ablate.` must name a module);
- no module over ~300 lines.

`python tests/test_layout.py` prints the same findings without pytest.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "ablate"
MAX_LINES = 310  # "~300": a module this long is one concern
TAG_NAME = re.compile(r"^ablate\.[a-z_]+")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every ablate module `module` imports, at module level or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            if name == "ablate" or name.startswith("ablate."):
                target = _resolve(name, known)
                if target and target != module:
                    out.add(target)
    return out


def external_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def tag_literals(path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """`ablate.*` strings that are not module names and not docstrings, with their line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.add(id(body[0].value))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            m = TAG_NAME.match(node.value)
            if m and node.value not in known:
                out.append((node.lineno, node.value))
    return out


def findings() -> dict[str, list[str]]:
    known = modules()
    graph = {m: imports(m, p, known) for m, p in known.items()}
    out: dict[str, list[str]] = {"cycles": [" -> ".join(c) for c in cycles(graph)], "mlflow": [], "optuna": [],
                                 "tags": [], "size": []}
    for path in known.values():
        rel = path.relative_to(ROOT.parent).as_posix()
        ext = external_imports(path)
        if "mlflow" in ext and not (rel == "ablate/tracking.py" or rel.startswith("ablate/tracking/")):
            out["mlflow"].append(rel)
        if "optuna" in ext and not rel.startswith("ablate/scheduler/"):
            out["optuna"].append(rel)
        if rel != "ablate/records.py":
            out["tags"] += [f"{rel}:{line}: {text!r}" for line, text in tag_literals(path, known)]
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            out["size"].append(f"{rel}: {lines} lines")
    return out


def test_no_import_cycles():
    assert findings()["cycles"] == []


def test_mlflow_only_in_tracking_and_optuna_only_in_scheduler():
    found = findings()
    assert found["mlflow"] == [] and found["optuna"] == []


def test_tag_names_only_in_records():
    assert findings()["tags"] == []


def test_modules_stay_small():
    assert findings()["size"] == []


if __name__ == "__main__":
    for kind, items in findings().items():
        print(f"{kind}: {len(items)}")
        for item in items:
            print(f"  {item}")
