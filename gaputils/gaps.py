"""The generalization gap over runs: SB against LB, paired by seed (runs of one seed share their
initial weights), in tables of means and standard deviations (ddof=1) and paired differences with
their t-intervals; at equal time; with the test set's own sampling error (chapter 01)."""

from __future__ import annotations

import statistics

import numpy as np
import torch

from . import data, papers, stats
from .runs import Run
from .train import History


def summarize(runs: list[Run]) -> dict[int, dict]:
    """Per batch size: mean and std (ddof=1) over seeds of the final train and test accuracy,
    the train - test gap and the training seconds; ``n`` counts the seeds."""
    table: dict[int, dict] = {}
    for bs in sorted({r.batch_size for r in runs}):
        finals = [r.final for r in runs if r.batch_size == bs]
        row = {"n": len(finals)}
        for key in ("train_acc", "test_acc", "seconds", "step"):
            row[key] = stats.mean_std([f[key] for f in finals])
        row["gap"] = stats.mean_std([f["train_acc"] - f["test_acc"] for f in finals])
        table[bs] = row
    return table


def difference(a: list[Run], b: list[Run], key: str = "test_acc",
               confidence: float = 0.95) -> stats.Difference:
    """``key`` of runs ``a`` minus that of runs ``b``, paired by seed (runs of one seed share
    their initial weights): mean, paired standard error and t-interval, in the units of
    ``key``. Chapter 01."""
    va, vb = {r.seed: r.final[key] for r in a}, {r.seed: r.final[key] for r in b}
    if set(va) != set(vb) or len(va) != len(a) or len(vb) != len(b):
        raise ValueError(f"difference() pairs runs by seed; got seeds {sorted(va)} and "
                         f"{sorted(vb)} (one run per seed on each side)")
    seeds = sorted(va)
    return stats.paired([va[s] for s in seeds], [vb[s] for s in seeds], confidence)


def equal_time(sb: list[History], lb: list[History]) -> tuple[float, float, float]:
    """SB against LB at equal wall-clock time, paired by position (one seed each): for every
    pair, SB's test accuracy read along the straight line between its records at the moment
    its LB finished. Returns medians over pairs of (LB's finishing time in seconds, SB's test
    accuracy then, LB's final test accuracy); medians, because other processes on a machine
    can stretch a run's wall-clock time. Chapter 01."""
    if len(sb) != len(lb) or not sb:
        raise ValueError(f"equal_time() pairs SB and LB runs one to one; got {len(sb)} and "
                         f"{len(lb)} histories")
    rows = [(b.seconds[-1], float(np.interp(b.seconds[-1], a.seconds, a.test_acc)),
             b.test_acc[-1]) for a, b in zip(sb, lb, strict=True)]
    t, sb_then, lb_end = (statistics.median(col) for col in zip(*rows, strict=True))
    return t, sb_then, lb_end


@torch.no_grad()
def test_sampling_se(a: list[Run], b: list[Run], ds: data.Dataset,
                     batch_size: int = 4096) -> float:
    """The standard error (a fraction) that the finite test set adds to the mean paired test
    accuracy difference of runs ``a`` minus runs ``b``: per test image, the mean over seeds of
    correct_a - correct_b; its sample std (ddof=1) / sqrt(number of test images). The interval
    over seeds holds the test set fixed; this is the part it leaves out. Chapter 01."""
    x, y = ds.test

    def correct(run: Run) -> torch.Tensor:
        was = run.model.training
        run.model.eval()
        out = torch.cat([run.model(x[i:i + batch_size]).argmax(1)
                         for i in range(0, len(y), batch_size)])
        run.model.train(was)
        return (out == y).double()

    by_a, by_b = {r.seed: r for r in a}, {r.seed: r for r in b}
    z = torch.stack([correct(by_a[s]) - correct(by_b[s]) for s in sorted(by_a)]).mean(0)
    return float(z.std() / len(z) ** 0.5)


def gap_table(results: dict[str, dict[str, list[Run]]]) -> str:
    """Keskar's Table 2 for our runs: per setting (key) and method ("SB", "LB"), train and
    test accuracy as mean ± std (ddof=1) over seeds in percent, the mean final training loss
    (nats), steps, seconds, Keskar et al.'s
    number where the key names one of their networks, and the paired SB - LB test difference."""
    head = (f"{'setting':<10}{'method':<7}{'batch':>6}{'train acc %':>15}{'train loss':>12}"
            f"{'test acc %':>15}{'steps':>7}{'seconds':>9}{'paper test %':>14}")
    lines = [head, "-" * len(head)]
    for name, by_method in results.items():
        paper = papers.KESKAR_TABLE2.get(name.split()[-1])
        for method, runs in by_method.items():
            row = summarize(runs)[runs[0].batch_size]
            pct = lambda k: f"{100 * row[k][0]:.2f} ± {100 * row[k][1]:.2f}"
            ref = f"{paper[1 if method == 'SB' else 2]:.2f} ({paper[0]})" if paper else ""
            loss = statistics.fmean(r.final["train_loss"] for r in runs)
            lines.append(f"{name:<10}{method:<7}{runs[0].batch_size:>6}{pct('train_acc'):>15}"
                         f"{loss:>12.4f}{pct('test_acc'):>15}{row['step'][0]:>7.0f}"
                         f"{row['seconds'][0]:>9.1f}{ref:>14}")
        d = difference(by_method["SB"], by_method["LB"]).scaled(100)
        lines.append(f"{'':<10}SB - LB test accuracy, paired over seeds (points): {d}")
    return "\n".join(lines)


def sweep_table(tables: dict[str, dict[int, dict]]) -> str:
    """Batch-size sweeps side by side: per batch size, train and test accuracy (mean over seeds,
    percent) and the steps taken, for each labelled sweep."""
    labels = list(tables)
    head = f"{'batch':>6}" + "".join(f"{lab + ': train/test %, steps':>36}" for lab in labels)
    lines = [head, "-" * len(head)]
    for bs in sorted(set().union(*tables.values())):
        cells = []
        for lab in labels:
            row = tables[lab].get(bs)
            cells.append(f"{100 * row['train_acc'][0]:.2f} / {100 * row['test_acc'][0]:.2f}, "
                         f"{row['step'][0]:.0f}" if row else "")
        lines.append(f"{bs:>6}" + "".join(f"{c:>36}" for c in cells))
    return "\n".join(lines)
