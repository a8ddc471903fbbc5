"""Identity that matches meaning (issue 14, findings 4, 5 and 11): reordering factors or seeds changes
neither the study's hash nor its arm names, so a finished study stays finished; a study changed before any
of its cells finished just runs; `--fresh` leaves no RUNNING run in what it sets aside; report folders of
two names never coincide. Real stores in tmp_path, the real CLI."""

from __future__ import annotations

import os
import signal

import yaml
from faultkit import STUDY, finish, snapshot, start, wait_paused, write_study
from mlflow.tracking import MlflowClient

from ablate.cli import main
from ablate.orchestrate import report_slug
from ablate.records import Tag
from ablate.validate import load_study

ONE_EPOCH = {**STUDY, "train": {**STUDY["train"], "epochs": 1}}


def _write(path, study):
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_reordering_factors_and_seeds_keeps_the_finished_study(workdir, capsys):
    """Before: factors reordered kept the hash but renamed `l2+dropout` to `dropout+l2`, queued 4 new cells
    and crashed (`CategoricalDistribution does not support dynamic value space`); seeds [5, 3] -> [3, 5]
    was refused as a changed study."""
    study = {**ONE_EPOCH, "name": "order", "seeds": [5, 3]}
    path = _write(workdir / "order.yaml", study)
    assert main(["run", str(path), "--quiet", "--no-report"]) == 0
    assert "8/8 cells finished, 0 failed, 8 run now" in capsys.readouterr().out
    before = load_study(path)
    _write(path, {**study, "factors": dict(reversed(list(study["factors"].items()))), "seeds": [3, 5]})
    after = load_study(path)
    assert [f.name for f in after.factors] == ["dropout", "l2"] and after.study_hash == before.study_hash
    assert {c.cell_id for c in after.cells()} == {c.cell_id for c in before.cells()}
    for _ in range(2):  # each rerun: nothing new queued, nothing trained again
        assert main(["run", str(path), "--quiet", "--no-report"]) == 0
        out, err = capsys.readouterr()
        assert "8/8 cells finished, 0 failed, 0 run now" in out, out + err
    snap = snapshot(workdir, "order")
    assert len(snap.trials) == 8 and set(snap.complete().values()) == {1}
    assert {c: len(ids) for c, ids in snap.finished().items()} == {c.cell_id: 1 for c in after.cells()}


def test_a_study_changed_before_any_of_its_cells_finished_runs_as_a_variant(workdir, capsys):
    """Before: refused as changed ('Results of two different studies must not mix') though nothing of the
    earlier attempt had finished. Now any change runs, as a variant of its own; the killed attempt stays its
    own variant, resumed (and its killed cell closed) when its file is run again."""
    write_study(workdir, {**ONE_EPOCH, "name": "early"})
    first = load_study("study.yaml").study_hash
    proc, flag = start(["run", "study.yaml", "--quiet", "--no-report"], workdir, pause="cell.run_created")
    wait_paused(proc, flag)
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    write_study(workdir, {**ONE_EPOCH, "name": "early", "train": {**ONE_EPOCH["train"], "lr": 0.02}})
    assert main(["run", "study.yaml", "--no-report"]) == 0
    out, err = capsys.readouterr()
    assert "variant 'train.lr=0.02': 4/4 cells finished, 0 failed, 4 run now" in out, out + err
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    parents = {r.data.tags[Tag.HASH]: r for r in client.search_runs(
        [client.get_experiment_by_name("early").experiment_id]) if r.data.tags.get(Tag.ROLE) == "parent"}
    assert set(parents) == {first, load_study("study.yaml").study_hash}
    cells = client.search_runs([client.get_experiment_by_name("early").experiment_id],
                               f"tags.`{Tag.PARENT_RUN_ID}` = '{parents[load_study('study.yaml').study_hash].info.run_id}'")
    assert len(cells) == 4 and {r.info.status for r in cells} == {"FINISHED"}


def test_fresh_leaves_no_running_run_in_the_variant_it_sets_aside(workdir, capsys):
    """Before: a cell killed mid-run stayed RUNNING for ever in what `--fresh` set aside."""
    small = {**ONE_EPOCH, "name": "aside", "factors": {"dropout": {"p": 0.3}}}
    write_study(workdir, small)
    proc, flag = start(["run", "study.yaml", "--quiet", "--no-report"], workdir, pause="epoch@2")
    wait_paused(proc, flag)  # the first cell finished; the second is in its first epoch
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    assert main(["run", "study.yaml", "--quiet", "--no-report", "--fresh"]) == 0
    assert "2/2 cells finished, 0 failed, 2 run now" in capsys.readouterr().out
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("aside").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"], [(r.info.run_name, r.info.status) for r in runs]
    killed = [r for r in runs if r.info.status == "KILLED" and r.data.tags.get(Tag.ROLE) == "cell"]
    assert killed and all("set aside as" in r.data.tags.get(Tag.FAILURE, "") for r in killed)
    assert [r.data.tags[Tag.ROLE] for r in runs if r.info.run_name == "aside"].count("parent") == 1  # the new one


def test_two_study_names_never_share_a_report_folder():
    """Before: `实验一` and `实验二` both wrote reports/study/; `a b`, `a_b` and `a/b` all reports/a_b/."""
    names = ["实验一", "实验二", "a b", "a_b", "a/b", "a.b", "quickstart", "study", "_a_b_"]
    names.append(report_slug("a b"))  # a name spelled like another name's hashed folder
    slugs = [report_slug(n) for n in names]
    assert len(set(slugs)) == len(names), dict(zip(names, slugs))
    assert report_slug("quickstart") == "quickstart" and report_slug("a_b") == "a_b"  # plain names unchanged
    assert all("/" not in s and s not in (".", "..") and len(s) <= 110 for s in slugs)
