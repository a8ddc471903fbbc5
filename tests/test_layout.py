"""The package's shape, checked: DESIGN.md's layout rules hold for every module, imports inside functions too.

- no import cycle among ablate's modules (an edge per `import` or `from ... import`, wherever it stands);
- the layers: each package's __init__ docstring says what its modules may import, in one paragraph that
  starts `May import:` and names ablate modules or packages (a parenthesis is a remark); that paragraph is
  the rule, read from there, so the docstring and the check cannot drift: a module imports only its own
  package and what the nearest package above it lists, a listed name is one some module there imports, and
  a subpackage lists nothing its parent may not import (ablate/__init__.py's line covers that file alone;
  the top-level modules are ordered by DESIGN.md and the cycle check);
- mlflow is imported only under ablate/tracking/, optuna only under ablate/scheduler/;
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
MAY_IMPORT = re.compile(r"^May import:(.*?)(?:\n\s*\n|\Z)", re.S | re.M)


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


def may_import(path: Path) -> set[str] | None:
    """The names a package's __init__ docstring lists under `May import:`; None when it has no such line."""
    found = MAY_IMPORT.search(ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "")
    if found is None:
        return None
    return set(re.findall(r"\bablate(?:\.\w+)+", re.sub(r"\([^)]*\)", "", found.group(1))))


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def layers(known: dict[str, Path], graph: dict[str, set[str]]) -> list[str]:
    """Every import a package's `May import:` line does not allow, and every line that says too much."""
    packages = sorted(m for m, p in known.items() if p.name == "__init__.py")
    rules, out = {}, []
    for package in packages:
        where = known[package].relative_to(ROOT.parent).as_posix()
        listed = may_import(known[package])
        if listed is None:
            out.append(f"{where}: its docstring has no 'May import:' paragraph")
            continue
        out += [f"{where}: 'May import:' names {n}, which is no ablate module" for n in sorted(listed - set(known))]
        rules[package] = listed
    for package, listed in rules.items():
        where = known[package].relative_to(ROOT.parent).as_posix()
        governed = [package] if package == "ablate" else [
            m for m in known if _under(m, package)
            and max((p for p in rules if _under(m, p) and p != "ablate"), key=len) == package]
        used = set()
        for module in governed:
            for target in sorted(graph[module]):
                allowed = [n for n in listed if _under(target, n)]
                used.update(allowed)
                if not allowed and (package == "ablate" or not _under(target, package)):
                    out.append(f"{known[module].relative_to(ROOT.parent).as_posix()} imports {target}, which "
                               f"{where} does not list under 'May import:'")
        out += [f"{where}: 'May import:' names {n}, which nothing there imports" for n in sorted(listed - used)]
        parent = package.rpartition(".")[0]
        if parent in rules and parent != "ablate":
            out += [f"{where}: 'May import:' names {n}, which its parent {parent} may not import"
                    for n in sorted(listed) if not _under(n, parent) and not any(_under(n, m) for m in rules[parent])]
    return out


def findings() -> dict[str, list[str]]:
    known = modules()
    graph = {m: imports(m, p, known) for m, p in known.items()}
    out: dict[str, list[str]] = {"cycles": [" -> ".join(c) for c in cycles(graph)], "layers": layers(known, graph),
                                 "mlflow": [], "optuna": [], "tags": [], "size": []}
    for path in known.values():
        rel = path.relative_to(ROOT.parent).as_posix()
        ext = external_imports(path)
        if "mlflow" in ext and not (rel == "ablate/tracking.py" or rel.startswith("ablate/tracking/")):
            out["mlflow"].append(rel)
        if "optuna" in ext and not rel.startswith("ablate/scheduler/"):
            out["optuna"].append(rel)
        if rel not in ("ablate/records.py", "ablate/records_names.py"):
            out["tags"] += [f"{rel}:{line}: {text!r}" for line, text in tag_literals(path, known)]
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            out["size"].append(f"{rel}: {lines} lines")
    return out


def test_no_import_cycles():
    assert findings()["cycles"] == []


def test_each_package_imports_only_what_its_docstring_says():
    assert findings()["layers"] == []


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
