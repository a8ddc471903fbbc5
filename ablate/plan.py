"""`ablate plan`: a study's cells, its arms grouped by architecture, and a cost measured before anything runs.

The cost is measured, not guessed: a short probe builds the study's own model, optimizer and batches through
the training path (train.py, loop.py), times a few optimizer steps after a warm-up step and one evaluation
batch, at each per-worker thread count that 1, 2 and 4 workers would use here, and scales them by the
study's steps and evaluated samples. Finished cells of earlier runs (MLflow's `epoch_seconds`) give the
same figures from history, printed beside the probe's. `ablate run` prints `summary_line`, which is derived
from the validated study alone: it needs no torch, no data and no store, so it costs the run nothing.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ablate.errors import AblateError

if TYPE_CHECKING:
    from ablate.data import Data
    from ablate.study import Arm, Study

WORKERS = (1, 2, 4)
MIN_TIMED_SECONDS = 0.3  # time steps until this much has passed (or MAX_STEPS): seconds per step is then stable
MIN_STEPS, MAX_STEPS = 2, 20
FIT_EPOCHS, FIT_EPOCH_SECONDS = 3, 0.5  # epochs this cheap are timed whole, by fit() (evaluation, metrics, hooks)


def summary_line(study: Study, workers: int) -> str:
    """The run's one line: cells (and the most seeds until decided may add) and architectures; no probe."""
    cells = len(study.arms()) * len(study.seeds)
    most = f" (up to {len(study.arms()) * study.seed_max} with seeds until decided)" if study.seed_max else ""
    return (f"plan: {cells} cells{most}, {len(architectures(study))} architecture(s), {workers} worker(s) here; "
            f"`ablate plan` measures the time they will take")


def architectures(study: Study) -> dict[str, list[Arm]]:
    """Arms grouped by the model knobs their regularizers set (dropout p shapes the network, l2 does not):
    a description of the knobs -> the arms that share that network."""
    from ablate.loop import merged
    from ablate.regularizers import cell_regularizers
    from ablate.study import Cell

    groups: dict[str, list[Arm]] = {}
    for arm in study.arms():
        knobs = merged(cell_regularizers(Cell(study, arm, study.seeds[0])), "model")
        key = ", ".join(f"{k}={v}" for k, v in sorted(knobs.items())) or "the model's defaults"
        groups.setdefault(key, []).append(arm)
    return groups


@dataclass
class Probe:
    """What the probe measured; seconds per step and per evaluated sample, by torch thread count."""

    device: str
    step_seconds: dict[int, float]
    eval_seconds_per_sample: dict[int, float]
    batch_size: int
    n_train: int  # samples per split (the data's, or the declared ones)
    n_val: int
    n_test: int
    cell_setup_seconds: float  # model + optimizer + batches, once per cell
    startup_seconds: float  # data load (once per worker process)
    memory_mib: float  # per cell: model, optimizer state, activations
    data_mib: float  # the dataset's tensors, once per worker process
    synthetic: str = ""  # why random tensors stood in for the data
    arms: list[str] = field(default_factory=list)
    cores: int = 1
    epoch_seconds: dict[int, float] = field(default_factory=dict)  # whole epochs timed by fit() (cheap ones)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    def images_per_second(self, threads: int) -> float:
        return self.batch_size / self.step_seconds[threads]

    def cell_seconds(self, epochs: int, threads: int) -> float:
        """Training steps + each epoch's evaluation (a train subset as large as val, and val) + the test set."""
        per_epoch = self.epoch_seconds.get(threads) or (
            self.steps_per_epoch * self.step_seconds[threads]
            + 2 * min(self.n_val, self.n_train) * self.eval_seconds_per_sample[threads])
        return epochs * per_epoch + self.n_test * self.eval_seconds_per_sample[threads] + self.cell_setup_seconds


def threads_for(workers: int, cores: int) -> int:
    return max(1, cores // workers)  # as pool.threads_per_worker splits them


def parallelism(workers: int, device: str, cores: int) -> int:
    return 1 if device.startswith("cuda") else min(workers, cores)  # a GPU's workers share the one device


def probe(study: Study, say=print) -> Probe:
    """Time the study's own training steps here (a few seconds)."""
    import torch

    from ablate.cache import WorkerCache
    from ablate.train import resolve_device
    say("probing: timing a few training steps of the study's model on its data here (a few seconds)")
    device = resolve_device(study.train.device)
    cores = os.cpu_count() or 1
    t0, cache = time.perf_counter(), WorkerCache()
    data, counts, synthetic = _data(study, cache)
    startup = time.perf_counter() - t0
    before, arms = torch.get_num_threads(), _probe_arms(study)
    threads = sorted({threads_for(w, cores) for w in WORKERS}) if device.type == "cpu" else [before]
    steps, evals, epochs, setups, mems = {}, {}, {}, [], []
    try:
        for t in threads:
            torch.set_num_threads(t)
            runs = [_time_arm(study, arm, data, device) for arm in arms]
            steps[t] = statistics.fmean(r[0] for r in runs)
            evals[t] = statistics.fmean(r[1] for r in runs)
            setups += [r[2] for r in runs]
            mems += [r[3] for r in runs]
            estimate = math.ceil(counts[0] / study.data.batch_size) * steps[t] + 2 * counts[1] * evals[t]
            if not synthetic and estimate < FIT_EPOCH_SECONDS:
                fits = [_time_fit(study, arm, cache) for arm in arms]
                epochs[t] = statistics.fmean(f[0] for f in fits)
                setups[-len(arms):] = [f[1] for f in fits]
    finally:
        torch.set_num_threads(before)
    held = (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test)
    data_mib = sum(t.nbytes for t in held) / 2**20 * sum(counts) / sum(len(t) for t in held[1::2])
    return Probe(str(device), steps, evals, study.data.batch_size, *counts, statistics.median(setups), startup,
                 max(mems), data_mib, synthetic, [a.name for a in arms], cores, epochs)


def _time_fit(study: Study, arm: Arm, cache) -> tuple[float, float]:
    """(seconds per epoch, the rest of a cell's seconds) from train.fit itself, over FIT_EPOCHS epochs: what a
    cheap epoch costs beside its steps (evaluation, weight statistics, hooks) is then measured too."""
    import dataclasses

    from ablate.study import Cell
    from ablate.train import fit

    short = dataclasses.replace(study, train=study.train.model_copy(update={"epochs": FIT_EPOCHS}))
    t0 = time.perf_counter()
    result = fit(Cell(short, arm, study.seeds[0]), cache=cache)
    total = time.perf_counter() - t0
    epochs = [h["epoch_seconds"] for h in result.history]
    per_epoch = statistics.median(epochs[1:] or epochs)
    return per_epoch, max(0.0, total - sum(epochs))


def _probe_arms(study: Study) -> list[Arm]:
    """The cheapest and the dearest arm (fewest and most factors on): their mean stands for the mean cell,
    exactly so where costs add up factor by factor (a full factorial), approximately elsewhere."""
    arms = sorted(study.arms(), key=lambda a: sum(a.on(study.factors).values()))
    return [arms[0]] if len(arms) == 1 else [arms[0], arms[-1]]


def _data(study: Study, cache) -> tuple[Data, tuple[int, int, int], str]:
    """The study's data, or random tensors of the dataset's declared shape when the files are not here."""
    try:
        data = cache.dataset(study.data)
        return data, (len(data.y_train), len(data.y_val), len(data.y_test)), ""
    except AblateError as e:
        from ablate.data import DATASETS, stand_in

        d = DATASETS.get(study.data.name).declared
        if d is None:
            raise AblateError(f"plan: the data could not be loaded and dataset '{study.data.name}' declares no "
                              f"shape to probe with instead: {e}") from e
        data, counts = stand_in(study.data, d, 4 * study.data.batch_size)
        return data, counts, (f"the data is not here ({str(e).splitlines()[0][:120]}...): random tensors of its "
                              f"declared shape {d['channels']}x{d['size'][0]}x{d['size'][1]}, {d['classes']} classes")


def _time_arm(study: Study, arm: Arm, data: Data, device) -> tuple[float, float, float, float]:
    """(seconds per step after a warm-up step, eval seconds per sample, cell setup seconds, memory MiB),
    through train.py's own builders and loop.py's step."""
    import torch

    from ablate.cache import WorkerCache
    from ablate.loop import Loop
    from ablate.models import MODELS
    from ablate.regularizers import Context, cell_regularizers
    from ablate.study import Cell
    from ablate.train import Batches, _autocast, _evaluate, build_model, build_optimizer

    cell = Cell(study, arm, study.seeds[0])
    mem0 = _memory_mib(device)
    t0 = time.perf_counter()
    torch.manual_seed(cell.seed)
    regs = cell_regularizers(cell)
    cl = study.train.channels_last
    channels_last = (MODELS.get(study.model.name).channels_last if cl is None else cl) and data.spec.kind == "image"
    model = build_model(cell, data, regs).to(device, memory_format=torch.channels_last if channels_last else
                                             torch.preserve_format)
    optimizer = build_optimizer(cell, model, regs)
    batches = Batches(data, device, channels_last, WorkerCache())
    gen = torch.Generator(device=device).manual_seed(cell.seed)
    bs, n = study.data.batch_size, len(batches.y["train"])
    ctx = Context(model=model, optimizer=optimizer, spec=data.spec, gen=gen, epochs=study.train.epochs,
                  steps_per_epoch=math.ceil(n / bs), epoch=1)
    amp = _autocast(device, study.train.precision)
    loop = Loop(model, ctx, regs, amp)
    setup = time.perf_counter() - t0
    loop.call("on_train_start")
    model.train()
    perm = torch.randperm(n, generator=gen, device=device)

    def step(i: int) -> None:
        idx = perm[(i * bs) % n:(i * bs) % n + bs]
        loop.step(batches.prepare(batches.x["train"][idx]), batches.y["train"][idx])
    step(0)  # warm-up: first-call allocations and kernel selection are not what a step costs
    torch.cuda.synchronize() if device.type == "cuda" else None
    timed, t0 = 0, time.perf_counter()
    while timed < MIN_STEPS or (time.perf_counter() - t0 < MIN_TIMED_SECONDS and timed < MAX_STEPS):
        step(timed + 1)
        timed += 1
    torch.cuda.synchronize() if device.type == "cuda" else None
    per_step = (time.perf_counter() - t0) / timed
    k = min(len(batches.y["val"]), study.train.eval_batch_size)
    xv, yv = batches.x["val"][:k], batches.y["val"][:k]
    _evaluate(model, batches, xv, yv, k, amp)  # warm-up
    t0 = time.perf_counter()
    _evaluate(model, batches, xv, yv, k, amp)
    torch.cuda.synchronize() if device.type == "cuda" else None
    per_sample = (time.perf_counter() - t0) / max(1, k)
    return per_step, per_sample, setup, max(0.0, _memory_mib(device, mem0))


def _memory_mib(device, since: float | None = None) -> float:
    """GPU: allocated now (and the peak is reset), or the peak above `since`; CPU: resident memory (psutil,
    else the peak RSS from resource), less `since`."""
    torch = __import__("torch")
    if device.type == "cuda":
        if since is None:
            torch.cuda.reset_peak_memory_stats(device)
            return torch.cuda.memory_allocated(device) / 2**20
        return torch.cuda.max_memory_allocated(device) / 2**20 - since
    try:
        now = __import__("psutil").Process().memory_info().rss / 2**20
    except ImportError:
        now = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return now - (since or 0.0)


@dataclass
class History:
    cells: int
    epoch_seconds: float  # median over finished cells of their median epoch
    epochs: float  # median epochs trained (early stopping may cut them)
    wall_seconds: float  # median cell run, start to end (tracking and setup included)


def history(study: Study, tracking_uri: str | None) -> History | None:
    """The same figures from finished cells of earlier runs (None without any; no SQLite file is created)."""
    from ablate.tracking import cell_timings, resolve_uri

    uri = resolve_uri(tracking_uri)
    found = [] if uri.startswith("sqlite:///") and not os.path.exists(uri[10:]) else cell_timings(study.name, uri)
    walls = [w for _, _, w in found if w is not None]
    return History(len(found), statistics.median(e for e, _, _ in found), statistics.median(n for _, n, _ in found),
                   statistics.median(walls) if walls else float("nan")) if found else None


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return f"{seconds:.0f} s" if seconds < 90 else (f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h")


def lines(study: Study, p: Probe | None, past: History | None) -> list[str]:
    """What `ablate plan` prints: cells, architectures, the probe's cost, history's beside it."""
    arms, epochs, seeds, most = study.arms(), study.train.epochs, len(study.seeds), study.seed_max
    cells, groups = len(arms) * seeds, architectures(study)
    out = [f"study '{study.name}': {len(arms)} arms x {seeds} seeds = {cells} cells"
           + (f" (up to {len(arms)} x {most} = {len(arms) * most} with seeds until decided)" if most else ""),
           f"architectures: {len(groups)} (arms whose model knobs are equal share a network)"]
    out += [f"  {knobs}: {', '.join(a.name for a in group)}" for knobs, group in groups.items()]
    cpu, cores = p is None or p.device == "cpu", p.cores if p else os.cpu_count() or 1
    if p is not None:
        out += [f"note: {p.synthetic}"] if p.synthetic else []
        one = threads_for(1, cores) if cpu else next(iter(p.step_seconds))
        out += [f"probe on {p.device} ({cores} cores; arms {', '.join(p.arms)}): {p.step_seconds[one] * 1000:.1f} "
                f"ms/step of {p.batch_size} = {p.images_per_second(one):,.0f} img/s, {p.steps_per_epoch} steps/epoch, "
                f"{p.cell_seconds(epochs, one):.1f} s/cell ({epochs} epochs, evaluation included)",
                f"memory per cell: {p.memory_mib:.0f} MiB ({'RSS' if cpu else 'GPU peak'}: model, optimizer, "
                f"activations); data {p.data_mib:.0f} MiB once per worker; start-up (data load) "
                f"{p.startup_seconds:.1f} s per worker"]
        for w in WORKERS:
            t, par = threads_for(w, cores) if cpu else one, parallelism(w, p.device, cores)
            total = cells * p.cell_seconds(epochs, t) / par
            added = f" (~{_clock(total * most / seeds)} if every seed is added)" if most else ""
            out.append(f"  {w} worker(s): ~{_clock(total)}{added}  [{t} thread(s) each, {par} cell(s) at a time]")
        out.append("  assumes: " + ("N workers on C cores run min(N, C) cells at a time, each with C // N threads "
                                     "(as `ablate run --workers N` splits them)" if cpu else
                                     "workers share one GPU: no speed-up from more than one is assumed")
                   + "; every epoch runs (early stopping only shortens it); not in the probe: MLflow and Optuna's "
                   "work per cell (history has it)")
    if past is not None:
        cell = past.epoch_seconds * past.epochs
        out.append(f"history: {past.cells} finished cell(s) of earlier runs: median epoch {past.epoch_seconds:.2f} s "
                   f"x {past.epochs:g} epochs = {cell:.1f} s/cell of training; a cell's run took "
                   f"{past.wall_seconds:.1f} s (median, tracking included)")
        for w in WORKERS:
            par = parallelism(w, p.device if p else "cpu", cores)
            out.append(f"  {w} worker(s): ~{_clock(cells * cell / par)} training, ~{_clock(cells * past.wall_seconds / par)}"
                       f" with each cell's overhead  [{par} cell(s) at a time; cells as timed then]")
    elif p is not None:
        out.append("history: no finished cells of this study in the MLflow store yet")
    return out
