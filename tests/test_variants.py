"""Variants, not refusals (issue 26, item 1): a study run with overrides (or an edited file) that changes its
hash is a variant beside the first one, in the same MLflow experiment: its own parent run (found by hash),
its own Optuna study (`<name>@<hash12>`), its own report; nothing of the first is set aside or blocked.
In-process, real stores, the real CLI."""

from __future__ import annotations

import optuna
from mlflow.tracking import MlflowClient

from ablate.cli import main
from ablate.records import PARENT_ASIDE, Tag
from ablate.scheduler.storage import open_storage
from ablate.tracking import resolve_uri
from ablate.validate import load_study


def _parents(name: str) -> list:
    client = MlflowClient(resolve_uri("sqlite:///mlflow.db"))
    exp = client.get_experiment_by_name(name)
    return [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get(Tag.ROLE) == "parent"]


def test_a_study_its_variant_and_the_study_again_all_run_and_compare(tiny_raw, write_study, workdir, capsys):
    tiny_raw["train"]["epochs"] = 2
    path = write_study(tiny_raw)
    assert main(["run", str(path), "--quiet"]) == 0
    first = capsys.readouterr().out
    assert "8/8 cells finished, 0 failed, 8 run now" in first and "reports/tiny/index.html" in first.replace("\\", "/")

    assert main(["run", str(path), "train.epochs=1", "seeds=1"]) == 0  # a variant, not a refusal
    out, err = capsys.readouterr()
    assert "variant 'train.epochs=1 seeds=1'" in err, err
    assert "run now" in out and "reports/tiny/train.epochs_1_seeds_1" in out.replace("\\", "/"), out

    assert main(["run", str(path), "--quiet"]) == 0  # the first variant again: intact, nothing trained
    assert "8/8 cells finished, 0 failed, 0 run now" in capsys.readouterr().out

    parents = _parents("tiny")
    hashes = {p.data.tags[Tag.HASH]: p.data.tags.get(Tag.VARIANT, "") for p in parents}
    variant = load_study(path, ("train.epochs=1", "seeds=1"))
    assert hashes == {load_study(path).study_hash: "", variant.study_hash: "train.epochs=1 seeds=1"}
    names = {s.study_name for s in optuna.get_all_study_summaries(open_storage("optuna.journal"))}
    assert {"tiny", f"tiny@{variant.study_hash[:12]}"} <= names and not any("aside" in n for n in names)
    assert (workdir / "reports" / "tiny" / "index.html").is_file()
    variant_dir = next((workdir / "reports" / "tiny").glob("train.epochs_1_seeds_1*"))
    assert (variant_dir / "index.html").is_file()

    # the variant by its name, or by the overrides given after the study file
    assert main(["report", "tiny", "--variant", "train.epochs=1 seeds=1"]) == 0
    assert main(["status", str(path), "train.epochs=1", "seeds=1"]) == 0
    assert main(["compare", "tiny", "tiny", "--variant-b", "train.epochs=1 seeds=1", "--out", "cmp"]) == 0
    assert (workdir / "cmp" / "index.html").is_file()
    assert main(["report", "tiny", "--variant", "no such"]) == 2
    assert "has no variant 'no such'" in capsys.readouterr().err


def test_fresh_starts_only_this_variant_afresh(tiny_raw, write_study, workdir, capsys):
    tiny_raw["train"]["epochs"] = 1
    tiny_raw["seeds"] = 1
    path = write_study(tiny_raw)
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0
    assert main(["run", str(path), "--quiet", "--no-report", "train.lr=0.02"]) == 0
    capsys.readouterr()
    assert main(["run", str(path), "--quiet", "--no-report", "train.lr=0.02", "--fresh"]) == 0
    assert "4/4 cells finished, 0 failed, 4 run now" in capsys.readouterr().out
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0  # the first variant was not touched
    assert "0 run now" in capsys.readouterr().out
    client = MlflowClient(resolve_uri("sqlite:///mlflow.db"))
    exp = client.get_experiment_by_name("tiny")
    retired = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get(Tag.ROLE) == PARENT_ASIDE]
    assert len(retired) == 1 and len(_parents("tiny")) == 2
    names = {s.study_name for s in optuna.get_all_study_summaries(open_storage("optuna.journal"))}
    lr = load_study(path, ("train.lr=0.02",)).study_hash[:12]
    assert {"tiny", f"tiny@{lr}", f"tiny@{lr}@aside1"} <= names, names
