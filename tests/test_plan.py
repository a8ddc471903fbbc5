"""ablate plan: cells, architecture groups, a probe with real numbers, and history from a finished run."""

from __future__ import annotations

import math

from ablate import plan
from ablate.cli import main
from ablate.validate import load_study


def test_cells_and_architecture_groups(tiny_raw, write_study):
    study = load_study(write_study(tiny_raw))
    lines = plan.lines(study, None, None)
    assert lines[0].endswith(f"= {len(study.cells())} cells")
    groups = {k: sorted(a.name for a in arms) for k, arms in plan.architectures(study).items()}
    # dropout shapes the network, l2 does not: two networks, each shared by an arm with and without l2
    assert sorted(groups.values()) == [["baseline", "l2"], ["dropout", "dropout+l2"]]
    assert "dropout=0.3" in groups and groups["dropout=0.3"] == ["dropout", "dropout+l2"]


def test_seeds_until_decided_counts_the_most_cells(tiny_raw, write_study):
    tiny_raw["seeds"] = {"initial": 2, "max": 5}
    study = load_study(write_study(tiny_raw))
    assert "up to 4 x 5 = 20 with seeds until decided" in plan.lines(study, None, None)[0]
    assert plan.summary_line(study, 2).startswith("plan: 8 cells (up to 20 with seeds until decided)")


def test_probe_measures_positive_finite_numbers(tiny_raw, write_study):
    study = load_study(write_study(tiny_raw))
    said = []
    p = plan.probe(study, say=said.append)
    assert said and "probing" in said[0]
    for t in p.step_seconds:
        values = [p.step_seconds[t], p.eval_seconds_per_sample[t], p.images_per_second(t),
                  p.cell_seconds(study.train.epochs, t)]
        assert all(math.isfinite(v) and v > 0 for v in values), values
    assert p.memory_mib >= 0 and p.n_train > 0 and not p.synthetic
    text = "\n".join(plan.lines(study, p, None))
    assert "1 worker(s): ~" in text and "4 worker(s): ~" in text and "img/s" in text


def test_missing_data_probes_random_tensors_of_the_declared_shape(tiny_raw, write_study, tmp_path, monkeypatch):
    tiny_raw["data"] = {"name": "cifar10", "val_fraction": 0.1, "batch_size": 16, "root": str(tmp_path / "none"),
                        "train_subset": 100}
    study = load_study(write_study(tiny_raw))
    import ablate.data.images as images

    def offline(root):  # no network in tests: as on a machine without the files and no way to fetch them
        raise images.AblateError("CIFAR-10 is not here")

    monkeypatch.setattr(images, "_download_cifar10", offline)
    p = plan.probe(study, say=lambda s: None)
    assert "random tensors" in p.synthetic and "3x32x32, 10 classes" in p.synthetic
    assert (p.n_train, p.n_val, p.n_test) == (90, 10, 10000)


def test_history_from_a_finished_run(tiny_raw, write_study, workdir, capsys):
    tiny_raw["seeds"] = 1
    path = write_study(tiny_raw)
    assert main(["run", str(path), "--no-report", "--quiet"]) == 0
    study = load_study(path)
    past = plan.history(study, None)
    assert past is not None and past.cells == len(study.cells())
    assert past.epoch_seconds > 0 and past.epochs == study.train.epochs and past.wall_seconds > 0
    assert main(["plan", str(path), "--no-probe"]) == 0
    out = capsys.readouterr().out
    assert "history: 4 finished cell(s)" in out


def test_no_history_without_a_store(tiny_raw, write_study, workdir):
    assert plan.history(load_study(write_study(tiny_raw)), None) is None
    assert not (workdir / "mlflow.db").exists()
