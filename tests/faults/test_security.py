"""Security rules, checked over the source: YAML only through the safe loader, no pickle-based loading,
checkpoints only with weights_only=True, servers bound to 127.0.0.1 unless the user says otherwise.
(The report's escaping of every study string is tested in tests/report/test_report_html.py; the hostile
YAML tags of tests/faults/corpus/ are refused without running anything in test_bad_input.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from ablate.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("ablate", "benchmarks") for p in (ROOT / d).rglob("*.py"))

FORBIDDEN = {
    r"\byaml\.(unsafe_load|full_load|load_all)\(": "YAML must go through ablate.yamlio (a SafeLoader)",
    r"\byaml\.load\((?![^)]*_LimitedLoader)": "yaml.load only with the SafeLoader subclass in yamlio",
    r"Loader\s*=\s*yaml\.(Loader|UnsafeLoader|FullLoader)": "no unsafe YAML loader",
    r"\bpickle\.loads?\(|\bdill\.|\bcloudpickle\.": "no pickle-based loading",
    r"allow_pickle\s*=\s*True": "numpy archives are read without pickle",
    r"(?<![.\w])(eval|exec)\(": "no eval/exec (model.eval() is fine)",
    r"0\.0\.0\.0": "servers bind 127.0.0.1 unless the user passes --host",
}


# The two places that must do what the rules forbid, each with why it is safe; any other is a finding.
ALLOWED = {
    ("ablate/plugins.py", "no eval/exec (model.eval() is fine)"):
        "a plugin is code the user listed (plugins: or --plugin): running it is its purpose, documented in "
        "the README, and its bytes are checked against the hash the study was validated with",
    ("ablate/pool.py", "no pickle-based loading"):
        "a worker unpickles the Study its own parent pickled and sent over the fork server's pipe; nothing "
        "read from disk or the network is unpickled",
}


def test_no_forbidden_call_in_the_sources():
    assert SOURCES
    found, used = [], set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for pattern, rule in FORBIDDEN.items():
            for m in re.finditer(pattern, text):
                where = (path.relative_to(ROOT).as_posix(), rule)
                if where in ALLOWED:
                    used.add(where)
                    continue
                found.append(f"{where[0]}:{text.count(chr(10), 0, m.start()) + 1}: {rule}")
    assert not found, "\n".join(found)
    assert used == set(ALLOWED), f"allowed but no longer there (remove): {set(ALLOWED) - used}"


def test_every_torch_load_uses_weights_only():
    calls = [(p, m) for p in SOURCES for m in re.finditer(r"torch\.load\(([^)]*)\)", p.read_text())]
    for path, m in calls:
        assert "weights_only=True" in m.group(1), f"{path}: {m.group(0)}"


def test_ui_binds_to_this_machine_by_default():
    args = _parser().parse_args(["ui"])
    assert args.host == "127.0.0.1"
    makefile = (ROOT / "Makefile").read_text()
    assert "0.0.0.0" not in makefile
