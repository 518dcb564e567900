"""The book's recurring experiment: one network trained with several batch sizes and seeds
from the same starting point, cached, so later chapters reuse the minimizers (chapter 01).

``minimizers()`` returns the small-batch (SB) and large-batch (LB) runs of the testbed (or of
any :class:`gu.testbed.Setting`); ``train_runs`` trains any grid of batch sizes and seeds;
``summarize`` turns runs into a table of means and standard deviations (ddof=1) over seeds;
``difference`` compares two groups of runs by their paired differences.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import cache, data, models, reference, stats, testbed
from .budget import Budget
from .budget import budget as current_budget
from .runtime import mode
from .train import History, TrainConfig, fit


@dataclass
class Run:
    """One trained network: its batch size, seed, trained weights and history."""

    batch_size: int
    seed: int
    model: nn.Module
    history: History

    @property
    def final(self) -> dict:
        return self.history.final()


def dataset(setting: testbed.Setting | None = None) -> data.Dataset:
    """The data of ``setting`` (default: the testbed) on ``gu.device()`` - the same examples in
    every chapter."""
    return (setting or testbed.get()).load()


def curvature_data(ds: data.Dataset, b: Budget | None = None,
                   split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``b.n_curvature`` examples of a split: the fixed data on which chapters 02-04
    evaluate landscapes, sharpness and Hessians."""
    b = b or current_budget()
    x, y = ds.train if split == "train" else ds.test
    return x[:b.n_curvature], y[:b.n_curvature]


def train_runs(ds: data.Dataset, batch_sizes: Iterable[int], seeds: Iterable[int], *,
               setting: testbed.Setting | None = None, progress: bool | None = None,
               **overrides) -> list[Run]:
    """Train the network of ``setting`` (default: the testbed) for every (batch size, seed),
    cached; runs with the same seed start from the same weights. ``overrides`` replace fields
    of the training configuration (``epochs``, ``steps``, ``lr``, ...; see
    :meth:`Setting.config`), and ``model_kwargs=...`` the network's options. One progress bar
    counts the runs (loaded ones pass in an instant)."""
    from tqdm.auto import tqdm

    setting = setting or testbed.get()
    if "model_kwargs" in overrides:
        setting = setting.replace(model_kwargs=tuple(overrides.pop("model_kwargs").items()))
    grid = [(bs, s) for s in seeds for bs in batch_sizes]
    show = mode() != "smoke" if progress is None else progress
    runs = []
    for bs, seed in tqdm(grid, desc=f"{setting.model} runs", unit="run", disable=not show):
        torch.manual_seed(seed)
        net = setting.build(ds)
        cfg = setting.config(bs, seed, n_train=len(ds.train[1]), **overrides)
        history = cache.fit_or_load(net, ds, cfg, tag=setting.model, progress=False)
        runs.append(Run(bs, seed, net, history))
    return runs


def minimizers(ds: data.Dataset | None = None, *,
               setting: testbed.Setting | None = None) -> dict[str, list[Run]]:
    """The SB and LB runs of ``setting`` (default: the testbed of the run mode), every seed in
    ``setting.seeds``, trained once and then loaded from the cache. Chapter 01."""
    setting = setting or testbed.get()
    ds = ds if ds is not None else setting.load()
    return {name: train_runs(ds, [bs], setting.seeds, setting=setting)
            for name, bs in (("SB", setting.sb), ("LB", setting.lb))}


def initial_model(ds: data.Dataset, seed: int, setting: testbed.Setting | None = None
                  ) -> nn.Module:
    """The untrained network that every run of ``seed`` starts from. Chapter 04."""
    torch.manual_seed(seed)
    return (setting or testbed.get()).build(ds)


@dataclass
class Minimizers:
    """The testbed's SB and LB minimizers (every seed) and the fixed data chapters 02-04 measure
    them on: the first ``budget.n_curvature`` training and test examples."""

    ds: data.Dataset
    runs: dict[str, list[Run]]
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]

    @property
    def sb(self) -> nn.Module:
        """The SB network of the first seed."""
        return self.runs["SB"][0].model

    @property
    def lb(self) -> nn.Module:
        """The LB network of the first seed."""
        return self.runs["LB"][0].model

    def __str__(self) -> str:
        return (f"{len(self.runs['SB'])} SB and {len(self.runs['LB'])} LB minimizers of the "
                f"testbed; measured on {len(self.train[1]):,} training examples")


def testbed_minimizers(b: Budget | None = None) -> Minimizers:
    """Chapter 01's SB and LB minimizers of the testbed (trained once, then loaded from the
    cache) with the data of chapters 02-04. Chapter 02."""
    ds = dataset()
    return Minimizers(ds, minimizers(ds), curvature_data(ds, b), curvature_data(ds, b, "test"))


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
        paper = reference.KESKAR_TABLE2.get(name.split()[-1])
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


def rank_correlation(x: Iterable[float], y: Iterable[float], n_boot: int = 2000,
                     seed: int = 0) -> dict[str, float]:
    """Kendall's tau and Spearman's rho between ``x`` and ``y``, their two-sided p-values, and
    95% percentile-bootstrap intervals (resampling the pairs ``n_boot`` times). Chapter 03."""
    import numpy as np
    from scipy import stats

    x, y = np.asarray(list(x), float), np.asarray(list(y), float)
    tau, p_tau = stats.kendalltau(x, y)
    rho, p_rho = stats.spearmanr(x, y)
    rng = np.random.default_rng(seed)
    boots = {"tau": [], "rho": []}
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) == 0 or np.ptp(y[i]) == 0:
            continue
        boots["tau"].append(stats.kendalltau(x[i], y[i])[0])
        boots["rho"].append(stats.spearmanr(x[i], y[i])[0])
    ci = {k: np.nanpercentile(v, [2.5, 97.5]) if v else (np.nan, np.nan)
          for k, v in boots.items()}
    return {"n": len(x), "tau": float(tau), "p_tau": float(p_tau), "tau_lo": float(ci["tau"][0]),
            "tau_hi": float(ci["tau"][1]), "rho": float(rho), "p_rho": float(p_rho),
            "rho_lo": float(ci["rho"][0]), "rho_hi": float(ci["rho"][1])}


def format_correlation(c: dict) -> str:
    """One line for a :func:`rank_correlation` result."""
    ci = lambda k: stats.estimate_interval(c[k], c[k + "_lo"], c[k + "_hi"])
    return (f"tau {ci('tau')} (p {c['p_tau']:.3f}), rho {ci('rho')} (p {c['p_rho']:.3f}), "
            f"n = {c['n']}")


def full_batch_gd(ds: data.Dataset, lr: float, steps: int, n: int, every: int = 20,
                  seed: int = 0, model_kwargs: dict | None = None) -> tuple[History, list]:
    """Full-batch gradient descent (no momentum) on the first ``n`` training examples with a
    BatchNorm-free F1 (default 2 x 128), recording lambda_max of the training-loss Hessian at
    the start and every ``every`` steps (one value per ``history.step``) - the edge-of-stability
    experiment of Cohen et al. (2021). Chapter 04."""
    from . import hessian

    sub = data.Dataset(ds.name, (ds.train[0][:n], ds.train[1][:n]),
                       (ds.test[0][:n], ds.test[1][:n]), ds.num_classes, ds.classes, ds.mean,
                       ds.std, ds.source, ds.subset_seed)
    torch.manual_seed(seed)
    kwargs = {"width": 128, "depth": 2, "batchnorm": False} | (model_kwargs or {})
    net = models.build("F1", sub.input_shape, sub.num_classes, **kwargs).to(sub.train[0].device)
    lams: list[float] = []

    def track(model, history):
        lams.append(float(hessian.top_eigenvalues(model, sub.train, k=1, tol=1e-2,
                                                  check=False).values[0]))

    cfg = TrainConfig(batch_size=n, lr=lr, optimizer="sgd", momentum=0.0, steps=steps,
                      eval_every=every, seed=seed)
    track(net, None)  # at the initial weights: the history's step 0
    return fit(net, sub, cfg, callback=track, progress=False), lams


def edge_of_stability(history: History, lams: list[float], lr: float,
                      reach: float = 0.95) -> dict[str, float]:
    """Summary of one :func:`full_batch_gd` run, as ratios r = lambda_max / (2 / lr): the ratio
    at the initial weights, the step at which r first reached ``reach`` (None if never), the median,
    minimum and maximum of r from then on (over the whole run if never), and the last r.
    Chapter 04."""
    import numpy as np

    ratio = np.asarray(lams) * lr / 2
    steps = np.asarray(history.step)
    if len(steps) != len(ratio):
        raise ValueError(f"{len(ratio)} lambda_max values for {len(steps)} recorded steps")
    hit = np.flatnonzero(ratio >= reach)
    after = ratio[hit[0]:] if len(hit) else ratio
    return {"threshold": 2 / lr, "first": float(ratio[0]),
            "reached_step": int(steps[hit[0]]) if len(hit) else None,
            "median": float(np.median(after)), "lo": float(after.min()),
            "hi": float(after.max()), "last": float(ratio[-1]), "steps": int(steps[-1])}
