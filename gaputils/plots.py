"""One figure style for the book, and its standard figures (chapter 00)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.ticker import NullLocator, PercentFormatter

from .train import History

STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": "medium",
    "legend.frameon": False,
    "savefig.bbox": "tight",
}

# Small batch blue, large batch orange, everywhere in the book.
SB_COLOR, LB_COLOR = "#1f77b4", "#ff7f0e"
PAIR = (SB_COLOR, LB_COLOR)


def use_style() -> None:
    """Apply the book's matplotlib style; inside a Jupyter kernel, also show figures inline
    whatever ``MPLBACKEND`` says (a non-interactive backend such as Agg, set for headless
    runs, would otherwise swallow every figure of an executed notebook)."""
    plt.rcParams.update(STYLE)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and "IPKernelApp" in shell.config:
        shell.run_line_magic("matplotlib", "inline")
        plt.rcParams.update(STYLE)


def plain_log(*axes, minor: bool = True) -> None:
    """Label log-scaled axes (``ax.xaxis``, ``ax.yaxis``) with plain numbers - 500, not
    5 x 10^2 - and, with ``minor``, the minor ticks whose leading digit is 2 or 5 (so that
    neighbouring labels do not collide); without it, the minor ticks stay unlabelled."""
    plain = plt.FuncFormatter(lambda v, _: f"{v:g}")
    some = plt.FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
    for axis in axes:
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(some if minor else plt.NullFormatter())


def _pixels(img: torch.Tensor, mean: Sequence[float], std: Sequence[float],
            shift: bool = True) -> np.ndarray:
    """A normalized image (C, H, W) back in intensity units, as an (H, W) or (H, W, C) array;
    ``shift=False`` for a difference of images (scaled, not shifted)."""
    s = torch.tensor(std).view(-1, 1, 1)
    out = img.detach().cpu() * s + (torch.tensor(mean).view(-1, 1, 1) if shift else 0)
    out = out.permute(1, 2, 0).numpy()
    return out.squeeze(-1) if out.shape[-1] == 1 else out


def image_grid(x: torch.Tensor, y: torch.Tensor, classes: Sequence[str],
               mean: Sequence[float], std: Sequence[float], n: int = 16,
               cols: int = 8) -> plt.Figure:
    """The first ``n`` images of ``x`` (normalized ``(N, C, H, W)``) titled by class name."""
    n = min(n, len(x))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(_pixels(x[i], mean, std).clip(0, 1), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(classes[int(y[i])], fontsize=8)
    fig.tight_layout()
    return fig


def curves(ax: plt.Axes, groups: dict[str, History | Sequence[History]], key: str = "test_acc",
           x: str = "epoch", style: str = "-", colors: Sequence[str] | None = None,
           suffix: str = "", scale: float = 1.0, start: int = 0) -> plt.Axes:
    """Draw ``key`` (times ``scale``, e.g. 100 for percent) against ``x`` for each labelled group
    of histories on ``ax``, from record ``start`` on: the mean over the group, with a band of
    +- 1 std (ddof=1) when it holds several runs. With ``x="seconds"`` the curve's x is the mean
    time over the group's runs at each record."""
    for i, (label, hs) in enumerate(groups.items()):
        hs = [hs] if isinstance(hs, History) else list(hs)
        color = colors[i] if colors else f"C{i}"
        n = min(len(getattr(h, key)) for h in hs)
        xs = np.mean([getattr(h, x)[start:n] for h in hs], axis=0)
        ys = scale * np.array([getattr(h, key)[start:n] for h in hs])
        ax.plot(xs, ys.mean(0), style, color=color, label=f"{label}{suffix}",
                marker="o" if n - start <= 15 else None, ms=3)
        if len(hs) > 1:
            sd = ys.std(0, ddof=1)
            ax.fill_between(xs, ys.mean(0) - sd, ys.mean(0) + sd, color=color, alpha=0.2, lw=0)
    ax.set_xlabel(X_LABELS[x])
    return ax


X_LABELS = {"epoch": "epoch", "step": "optimizer step",
            "seconds": "training time (s, evaluation excluded)"}


def learning_curves(histories: dict[str, History | Sequence[History]],
                    x: str = "epoch") -> plt.Figure:
    """Train (dashed) and test (solid) loss and accuracy against ``x`` ("epoch", "step" or
    "seconds"). Several histories under one label are drawn as mean with a band of +- 1 std
    (ddof=1)."""
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind, scale in ((ax_l, "loss", 1), (ax_a, "acc", 100)):
        curves(ax, histories, f"train_{kind}", x, "--", suffix=" (train)", scale=scale)
        curves(ax, histories, f"test_{kind}", x, "-", suffix=" (test)", scale=scale)
    ax_l.set(ylabel="cross-entropy (nats)", yscale="log", title="loss (dashed: train, solid: test)")
    lo, hi = ax_l.get_ylim()
    plain_log(ax_l.yaxis, minor=hi / lo < 100)  # minor labels only where they do not crowd
    ax_a.set(ylabel="accuracy (%)", title="accuracy")
    ax_a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def epochs_and_seconds(groups: dict[str, Sequence[History]]) -> plt.Figure:
    """Training loss against epochs, and test accuracy against epochs and against seconds of
    training, for labelled groups of runs (mean +- 1 std, ddof=1). The accuracy panels start at
    the first record after initialization (at chance, far below the rest), so that the
    differences near the end are visible."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colors = PAIR if len(groups) == 2 else None
    curves(axes[0], groups, "train_loss", "epoch", colors=colors).set(
        yscale="log", ylabel="training loss (nats)", title="training loss vs epochs")
    for ax, x in zip(axes[1:], ("epoch", "seconds"), strict=True):
        curves(ax, groups, "test_acc", x, colors=colors, scale=100, start=1).set(
            ylabel="test accuracy (%)", xlim=(0, None),
            title=f"test accuracy vs {'epochs' if x == 'epoch' else 'training time'}")
    axes[2].set_xlabel("training time (s, mean over seeds; evaluation excluded)")
    axes[2].legend()
    fig.tight_layout()
    return fig


def batch_sweep(tables: dict[str, dict[int, dict]]) -> plt.Figure:
    """Final test accuracy, final training accuracy and the gap train - test (in points) against
    batch size, one line per labelled sweep.

    ``tables`` maps a label (e.g. "40 epochs") to ``gu.gaps.summarize(runs)``; error
    bars are +- 1 std (ddof=1) over seeds."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    seeds = sorted({row["n"] for table in tables.values() for row in table.values()})
    keys = {"test_acc": ("final test accuracy (%)", "test accuracy vs batch size (mean ± sd, "
                         f"{'/'.join(map(str, seeds))} seeds)"),
            "train_acc": ("final training accuracy (%)", "training accuracy vs batch size"),
            "gap": ("train - test accuracy (points)", "generalization gap vs batch size")}
    sizes = sorted({b for table in tables.values() for b in table})
    for i, (label, table) in enumerate(tables.items()):
        bs = sorted(table)
        for ax, key in zip(axes, keys, strict=True):
            mean, sd = (100 * np.array([table[b][key][j] for b in bs]) for j in (0, 1))
            ax.errorbar(bs, mean, sd, color=f"C{i}", marker="o", capsize=3, label=label)
    for ax, (ylabel, title) in zip(axes, keys.values(), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.minorticks_off()
        ax.set(xlabel="batch size (examples)", ylabel=ylabel, title=title)
    low, high = axes[1].get_ylim()
    axes[1].set_ylim(low, min(high, 100.5))  # no room above 100% where every run fits
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def paired_runs(pairs: dict[str, tuple[Sequence, Sequence]], differences: dict,
                key: str = "test_acc") -> plt.Figure:
    """One panel per labelled setting: ``key`` (in percent) of the SB and LB run of every seed,
    joined by a line - runs of one seed share their initial weights - and the paired difference
    SB - LB per seed with its mean and 95% t-interval (``differences[label]``, in points:
    :func:`gaputils.gaps.difference`). ``pairs`` maps a label to (SB runs, LB runs), each a
    list of ``gu.runs.Run``. Chapter 01."""
    fig, axes = plt.subplots(1, 2 * len(pairs), figsize=(5.5 * len(pairs), 4),
                             gridspec_kw={"width_ratios": [2, 1] * len(pairs)}, squeeze=False)
    for i, (label, (sb, lb)) in enumerate(pairs.items()):
        ax, ax_d = axes[0, 2 * i], axes[0, 2 * i + 1]
        d = differences[label]
        by = {r.seed: [100 * r.final[key]] for r in sb}
        for r in lb:
            by[r.seed].append(100 * r.final[key])
        for _, (a, b) in sorted(by.items()):
            ax.plot([0, 1], [a, b], "-o", color="0.6", ms=5, zorder=1)
        ax.set(xticks=[0, 1], xticklabels=[f"SB ({sb[0].batch_size})", f"LB ({lb[0].batch_size})"],
               xlim=(-0.4, 1.4), xlabel="batch size",
               ylabel=f"{key.replace('_acc', '')} accuracy (%)",
               title=f"{label}: one line per seed")
        diffs = [a - b for a, b in by.values()]
        ax_d.scatter(np.zeros(len(diffs)), diffs, color=PAIR[1], zorder=2)
        ax_d.errorbar([0.3], [d.mean], yerr=[[d.mean - d.lo], [d.hi - d.mean]], fmt="s",
                      color="k", capsize=4)
        ax_d.axhline(0, color="0.5", lw=0.8)
        # labelled below the axis rather than by a legend, which could hide a seed's point
        ax_d.set(xticks=[], xlim=(-0.3, 0.6), ylabel="SB - LB (points)", title="paired difference",
                 xlabel=f"dots: {d.n} seeds\nsquare: mean, 95% CI")
    fig.tight_layout()
    return fig


def interpolation(res: dict, naive: dict | None = None, title: str | None = None) -> plt.Figure:
    """Keskar's parametric plot: cross-entropy (left axis, log) and accuracy (right axis, in
    percent) against alpha, with x(0) the first and x(1) the second minimizer. ``naive``: the
    same with interpolated BatchNorm statistics, drawn dotted. ``title``: which pair it is."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    acc_ax = ax.twinx()
    acc_ax.grid(False)
    for part, style in (("train", "-"), ("test", "--")):
        ax.plot(res["alpha"], res[f"{part}_loss"], style, color="C0", label=f"{part} loss")
        if f"{part}_acc" in res:
            acc_ax.plot(res["alpha"], res[f"{part}_acc"], style, color="C3",
                        label=f"{part} accuracy")
    if naive is not None:
        ax.plot(naive["alpha"], naive["train_loss"], ":", color="C0", lw=2,
                label="train loss, BN statistics interpolated")
    for a, name in ((0, "SB"), (1, "LB")):
        ax.axvline(a, color="grey", lw=0.8)
        ax.annotate(name, (a, 1), xycoords=("data", "axes fraction"), ha="center", va="bottom")
    ax.set(yscale="log", xlabel="alpha  (x = alpha x_LB + (1 - alpha) x_SB)",
           ylabel="cross-entropy (nats, log scale)")
    acc_ax.set_ylabel("accuracy (%)", color="C3")
    acc_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    acc_ax.spines["right"].set_visible(True)
    if title:
        ax.set_title(title, pad=14)
    lines = ax.get_legend_handles_labels()
    more = acc_ax.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper center",
              bbox_to_anchor=(0.5, -0.14), ncol=3)
    fig.tight_layout()
    return fig


def slices(ax: plt.Axes, groups: dict[str, Sequence[dict]], colors: Sequence[str] | None = None,
           style: str | Sequence[str] = "-") -> plt.Axes:
    """1-D slices (results of ``gu.landscape.line``) per label: the geometric mean over
    directions (losses span decades, and the axis is usually logarithmic), and a band from the
    lowest to the highest slice. ``style``: one line style, or one per label (a dashed line
    keeps a solid one it coincides with visible). Draws the legend, what the lines and bands
    are in its title."""
    styles = [style] * len(groups) if isinstance(style, str) else list(style)
    if len(styles) != len(groups):
        raise ValueError(f"slices() got {len(styles)} styles for {len(groups)} labels; give one "
                         "style, or one per label")
    counts = set()
    for i, (label, lines) in enumerate(groups.items()):
        color = colors[i] if colors else f"C{i}"
        t = lines[0]["t"]
        losses = np.array([r["loss"] for r in lines])
        counts.add(len(lines))
        ax.plot(t, np.exp(np.log(losses).mean(0)), styles[i], color=color, label=label)
        if len(lines) > 1:
            ax.fill_between(t, losses.min(0), losses.max(0), color=color, alpha=0.2, lw=0)
    k = counts.pop() if len(counts) == 1 else None
    what = ("1 direction" if k == 1 else
            f"geometric mean of {k or 'several'} directions,\nband: lowest to highest")
    ax.legend(title=what, fontsize=8, title_fontsize=8, loc="upper center")
    ax.set(xlabel="step along the direction (t, in units of each filter's norm)",
           ylabel="training loss (nats)")
    return ax


def planes(results: dict[str, dict], levels: int = 15, title: str | None = None) -> plt.Figure:
    """2-D slices (results of ``gu.landscape.plane``) side by side on one log color scale; the
    axes are the steps along the two directions, in units of each filter's norm (the
    directions are filter-normalized). ``title``: over all panels (which networks)."""
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.4), squeeze=False,
                             layout="constrained")
    lo = min(r["loss"].min() for r in results.values())
    hi = max(r["loss"].max() for r in results.values())
    lv = np.geomspace(max(lo, 1e-4), hi, levels)
    for ax, (label, r) in zip(axes[0], results.items(), strict=True):
        cs = ax.contourf(r["t"], r["t"], np.clip(r["loss"], lv[0], None), levels=lv,
                         norm=LogNorm(lv[0], lv[-1]), cmap="viridis")
        ax.plot(0, 0, "w+", ms=10)
        ax.set(title=label, xlabel="a: step along direction 1 (filter norms)",
               ylabel="b: step along direction 2 (filter norms)", aspect="equal")
        ax.locator_params(nbins=5)
        ax.grid(False)
    fig.colorbar(cs, ax=axes[0].tolist(), label="training loss (nats, log scale)",
                 format="%.2g")
    if title:
        fig.suptitle(title)
    return fig


def scatter_groups(ax: plt.Axes, groups: dict[str, tuple[Sequence[float], Sequence[float]]],
                   xlabel: str, ylabel: str, logx: bool = True) -> plt.Axes:
    """One marker style per labelled group of (x, y) points."""
    for i, (label, (xs, ys)) in enumerate(groups.items()):
        ax.scatter(xs, ys, color=f"C{i}", marker="os^Dv"[i % 5], label=label, alpha=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, xscale="log" if logx else "linear")
    ax.legend(fontsize=8)
    return ax


def density_axis(ax: plt.Axes, curves: dict[str, tuple], colors: dict[str, str] | None = None
                 ) -> plt.Axes:
    """Draw broadened spectral densities ``{label: (grid, density, sigma)}``
    (:func:`gaputils.hessian.broadened`) on ``ax``, on a log y-axis reaching eight decades below
    the highest peak. Chapter 04."""
    top = 0.0
    for i, (label, (grid, dens, _)) in enumerate(curves.items()):
        top = max(top, float(dens.max()))
        ax.semilogy(grid, np.maximum(dens, 1e-300), label=label,
                    color=colors[label] if colors else f"C{i}")
    widths = sorted({f"{w:.2g}" for _, _, w in curves.values()})
    ax.set(xlabel="Hessian eigenvalue", ylabel="density (log scale)",
           ylim=(top * 1e-8, top * 3), title=f"broadening {', '.join(widths)}")
    ax.legend()
    return ax


def spectra(curves: dict[str, tuple], colors: Sequence[str] | None = None,
            separate: bool = False) -> plt.Figure:
    """Broadened spectral densities (:func:`gaputils.hessian.broadened`) on a log y-axis, one
    per label, together or (``separate=True``) each in its own panel. Chapter 04."""
    groups = [[k] for k in curves] if separate else [list(curves)]
    fig, axes = plt.subplots(1, len(groups), figsize=(8 if len(groups) == 1 else 12, 4),
                             squeeze=False)
    palette = {k: colors[i] if colors else f"C{i}" for i, k in enumerate(curves)}
    for ax, group in zip(axes[0], groups, strict=True):
        density_axis(ax, {k: curves[k] for k in group}, palette)
    fig.suptitle("spectral density (stochastic Lanczos quadrature)")
    fig.tight_layout()
    return fig


def eigenvalue_bars(values: dict[str, np.ndarray], colors: Sequence[str] | None = None,
                    ax: plt.Axes | None = None) -> plt.Axes:
    """The top eigenvalues of several minimizers side by side, by rank (log y-axis)."""
    ax = ax or plt.subplots(figsize=(8, 4))[1]
    width = 0.8 / len(values)
    for i, (label, v) in enumerate(values.items()):
        ranks = np.arange(1, len(v) + 1)
        ax.bar(ranks + (i - (len(values) - 1) / 2) * width, v, width,
               color=colors[i] if colors else f"C{i}", label=label)
    ax.set(xlabel="rank", ylabel="eigenvalue (log scale)", yscale="log",
           title="largest Hessian eigenvalues")
    ax.legend()
    return ax


def edge_of_stability(runs: dict[float, tuple[History, Sequence[float]]]) -> plt.Figure:
    """Training loss (left) and lambda_max with 2 / lr dashed (right) of full-batch gradient
    descent runs ``{lr: (history, lambda_max every few steps)}``. Chapter 04."""
    fig, (ax_l, ax_s) = plt.subplots(1, 2, figsize=(12, 4))
    for i, (lr, (h, lams)) in enumerate(runs.items()):
        ax_l.plot(h.step, h.train_loss, color=f"C{i}", label=f"lr {lr}")
        ax_s.plot(h.step, lams, color=f"C{i}", label=f"lr {lr}")
        ax_s.axhline(2 / lr, color=f"C{i}", ls="--", lw=1)
    ax_l.set(xlabel="step", ylabel="training loss (nats, log scale)", yscale="log",
             title="full-batch gradient descent: loss")
    ax_s.set(xlabel="step", ylabel="lambda_max of the Hessian",
             title="lambda_max; dashed: 2 / lr")
    ax_l.legend()
    ax_s.legend()
    fig.tight_layout()
    return fig


def loglog_curves(x: Sequence[float], curves: dict[str, dict], xlabel: str, ylabel: str,
                  title: str, colors: Sequence[str] = PAIR, ax: plt.Axes | None = None
                  ) -> plt.Axes:
    """Log-log curves ``{label: {style: values}}``: one colour per label, one line style per
    entry (e.g. "o-" measured, ":" first order). Chapter 03."""
    ax = ax or plt.subplots()[1]
    for (label, lines), color in zip(curves.items(), colors, strict=False):
        for style, (name, values) in lines.items():
            ax.loglog(x, values, style, color=color, label=f"{label}, {name}" if name else label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax


# ---- remedies (chapter 05) ------------------------------------------------------------------

GROUP_MARKERS = {"plain": "o", "augmentation": "s", "conservative": "D", "robust": "^",
                 "warm start": "v", "dynamic sampling": "P", "binding proximal": "d"}
_MEMBER_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def arm_markers(names: Sequence[str], groups: dict[str, str]) -> dict[str, str]:
    """One marker per arm: circles for plain SB and LB; the first arm of a group gets the
    group's own marker (``GROUP_MARKERS``), the next ones other shapes in turn, so that arms of
    one group, which share a hue (:func:`arm_colors`), differ in shape as well as in shade.
    Chapter 05."""
    out, seen = {"SB": "o", "LB": "o"}, {}  # plain SB and LB: circles, told apart by colour
    for n in names:
        if n in out:
            continue
        g = groups.get(n, "")
        first = GROUP_MARKERS.get(g, "o")
        shapes = [first] + [m for m in _MEMBER_MARKERS if m != first]
        out[n] = shapes[seen.get(g, 0) % len(shapes)]
        seen[g] = seen.get(g, 0) + 1
    return out


def _point(ax: plt.Axes, x: float, y: float, xerr, yerr, color, marker: str, label: str) -> None:
    """One arm: thin bars, and the marker drawn above every arm's bars, with a white edge, so
    that no bar hides a marker."""
    ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="none", ecolor=color, elinewidth=1,
                capsize=3, alpha=0.8, zorder=2)
    ax.scatter([x], [y], marker=marker, color=color, s=55, edgecolors="white", linewidths=0.8,
               zorder=4, label=label)


_ARM_PALETTE = [plt.cm.tab10(i) for i in range(2, 10)] + [plt.cm.tab20(i) for i in
                                                            (5, 9, 11, 13, 15, 17, 19)]


_GROUP_MAPS = ("Greens", "Purples", "Reds", "Greys", "RdPu", "BuGn", "YlGn")  # no blue, orange


def arm_colors(names: Sequence[str], groups: dict[str, str] | None = None) -> dict[str, tuple]:
    """One colour per arm name, the same in every panel and figure of a chapter: SB blue, LB
    orange, the others from a palette without those two. With ``groups`` (name -> group), the
    arms of a group share a hue, from light to dark in the order given, so that sixteen arms
    stay told apart by group and within it. Chapter 05."""
    others = [n for n in names if n not in ("SB", "LB")]
    fixed = {"SB": SB_COLOR, "LB": LB_COLOR}
    if groups is None:
        return fixed | {n: _ARM_PALETTE[i % len(_ARM_PALETTE)] for i, n in enumerate(others)}
    members: dict[str, list[str]] = {}
    for n in others:
        members.setdefault(groups.get(n, ""), []).append(n)
    out = dict(fixed)
    for i, (_, names_) in enumerate(members.items()):
        cmap = plt.get_cmap(_GROUP_MAPS[i % len(_GROUP_MAPS)])
        shades = np.linspace(0.5, 0.95, len(names_)) if len(names_) > 1 else [0.75]
        out |= {n: cmap(float(v)) for n, v in zip(names_, shades, strict=True)}
    return out


def image_rows(rows: dict[str, torch.Tensor], mean: Sequence[float], std: Sequence[float],
               n: int = 8, signed: Sequence[str] = ()) -> plt.Figure:
    """One row per label of the first ``n`` images of normalized batches (N, C, H, W), shown
    as intensities in [0, 1]; the rows labelled in ``signed`` are differences of images, drawn
    in a red-blue map scaled to their largest intensity change. Chapter 05."""
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.25 * len(rows)), squeeze=False)
    for r, (label, x) in enumerate(rows.items()):
        diff = label in signed
        imgs = [_pixels(x[i], mean, std, shift=not diff) for i in range(n)]
        top = max(float(np.abs(img).max()) for img in imgs) if diff else 1.0
        for img, ax in zip(imgs, axes[r], strict=True):
            ax.imshow(img, cmap="RdBu_r" if diff else "gray_r", vmin=-top if diff else 0, vmax=top)
            ax.set(xticks=[], yticks=[])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def _err(center: float, lo: float, hi: float) -> list[list[float]]:
    return [[center - lo], [hi - center]]


def remedy_summary(panels: dict[str, dict[str, dict]], base: str = "LB") -> plt.Figure:
    """Accuracy gain over plain LB (points, paired 95% CI) against lambda_max relative to LB
    (geometric-mean ratio, paired 95% CI, log scale), one marker per arm, one panel per
    labelled :func:`gaputils.scores.summarize` result. Chapter 05."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    widest = max(panels.values(), key=len)
    groups = {n: r["group"] for n, r in widest.items()}
    colors, markers = arm_colors(list(widest), groups), arm_markers(list(widest), groups)
    for ax, (title, rows) in zip(axes[0], panels.items(), strict=True):
        for name, r in rows.items():
            if name == base:
                ax.scatter([1.0], [0.0], marker="o", color=LB_COLOR, s=60, zorder=3,
                           label=r.get("label", name))
                continue
            if "lambda_max_ratio" not in r:
                continue
            x, xlo, xhi = r["lambda_max_ratio"]
            g = r["gain"]
            _point(ax, x, g.mean, _err(x, xlo, xhi), _err(g.mean, g.lo, g.hi),
                   colors.get(name, "k"), markers.get(name, "o"), r.get("label", name))
        ax.axhline(0, color=LB_COLOR, lw=0.8, ls=":")
        if "SB" in rows:
            ax.axhline(rows["SB"]["gain"].mean, color=SB_COLOR, lw=0.8, ls=":")
        ns = sorted({r["n"] for r in rows.values()})
        ax.set(xscale="log", xlabel="λmax / λmax of plain LB (log scale)",
               ylabel="test accuracy - plain LB (points)",
               title=f"{title} ({'/'.join(map(str, ns))} seeds; 95% CIs)")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


def warm_starts(panels: dict[str, list[tuple[float, dict]]], epochs: float,
                focus: str | None = None) -> plt.Figure:
    """Warm starting against the number k of SB epochs before LB (plain LB, k = 0, is the
    dotted orange line; k = ``epochs`` is plain SB): test accuracy gain over LB, and
    lambda_max and Keskar's sharpness relative to LB, each with its paired 95% CI; one series
    per labelled list of (k, row of :func:`gaputils.scores.summarize`). The accuracy panel's
    range is set by the series ``focus`` (default: the last) and every series' means, so that
    a series of two seeds, whose t-intervals are wide, does not flatten the others; bars it cuts
    are said so in the legend. Chapter 05."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ks_all: set[float] = set()
    focus = focus or list(panels)[-1]
    spans: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for j, (label, points) in enumerate(panels.items()):
        shift = 1 + 0.04 * (j - (len(panels) - 1) / 2)  # side by side, not on top
        for ax, key in zip(axes, ("gain", "lambda_max_ratio", "sharpness_ratio"), strict=True):
            pts = sorted(((k, r[key]) for k, r in points if key in r), key=lambda p: p[0])
            if not pts:
                continue
            ks_all.update(k for k, _ in pts)
            trio = [(v.mean, v.lo, v.hi) if key == "gain" else v for _, v in pts]
            c, lo, hi = np.array(trio, dtype=float).T
            if key == "gain":
                spans[label] = (c, lo, hi)
            ax.errorbar(np.array([k for k, _ in pts]) * shift, c, yerr=[c - lo, hi - c],
                        marker="os"[j % 2], capsize=3, color=("C2", "C4")[j % 2], label=label)
    if focus in spans:
        c, lo, hi = spans[focus]
        means = np.concatenate([v[0] for v in spans.values()] + [[0.0]])
        bottom = np.nanmin(np.concatenate([lo[np.isfinite(lo)], means]))
        top = np.nanmax(np.concatenate([hi[np.isfinite(hi)], means]))
        pad = 0.12 * (top - bottom or 1.0)
        axes[0].set_ylim(bottom - pad, top + pad)
        cut = [label for label, (_, lo_, hi_) in spans.items()
               if np.nanmin(lo_) < bottom - pad or np.nanmax(hi_) > top + pad]
        for line, text in zip(*axes[0].get_legend_handles_labels(), strict=True):
            if text in cut:
                line.set_label(f"{text} (bars cut by the axis)")
    titles = ("test accuracy - plain LB (points)", "λmax / plain LB", "Keskar sharpness / plain LB")
    for ax, t in zip(axes, titles, strict=True):
        ax.set(xscale="log", xlabel=f"SB epochs before LB, k (k = {epochs:g}: plain SB)",
               ylabel=t, title=f"{t}; bars: paired 95% CIs")
        ax.set_xticks(sorted(ks_all), [f"{k:g}" for k in sorted(ks_all)])
        ax.xaxis.set_minor_locator(plt.NullLocator())
    for ax in axes[1:]:
        ax.set_yscale("log")
        ax.axhline(1, color=LB_COLOR, lw=0.8, ls=":")
    axes[0].axhline(0, color=LB_COLOR, lw=0.8, ls=":")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def batch_schedules(profiles: dict[str, list[tuple[int, int, float, int]]]) -> plt.Figure:
    """Batch size, learning rate and optimizer steps per epoch of labelled runs, from their
    profiles (:func:`gaputils.remedies.schedules.profile`), in the arms' colours
    (:func:`arm_colors`: SB blue, LB orange). Runs often share a stretch (every warm start is LB
    after its switch; most share the cosine rate), so each line is drawn narrower than the one
    before it: where lines coincide, the earlier ones show as wide bands around the later.
    Chapter 05."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    colors, k = arm_colors(list(profiles)), len(profiles)
    for i, (label, rows) in enumerate(profiles.items()):
        e = np.arange(len(rows) + 1)
        for ax, v in zip(axes, ([r[1] for r in rows], [r[2] for r in rows],
                                [r[3] for r in rows]), strict=True):
            ax.step(e, v + v[-1:], where="post", color=colors[label], label=label,
                    lw=1.5 + 1.2 * (k - 1 - i), zorder=2 + i, solid_capstyle="butt")
    for ax, t, y in zip(axes, ("batch size", "learning rate (at each epoch's start)",
                               "optimizer steps in the epoch"),
                        ("examples", "learning rate", "steps"), strict=True):
        ax.set(yscale="log", xlabel="epoch", ylabel=f"{y} (log scale)", title=t)
    plain_log(axes[0].yaxis, axes[2].yaxis)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len(profiles),
               fontsize=8, frameon=False, title="where lines coincide, the wider lies underneath",
               title_fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def accuracy_and_steps(rows: dict[str, dict], names: Sequence[str]) -> plt.Figure:
    """Test accuracy gain over plain LB (points, paired 95% CI) against the optimizer steps
    each arm took (log scale), one marker per arm; plain SB's gain dotted in SB's colour, so
    that an arm's distance from it can be read across. Chapter 05."""
    fig, ax = plt.subplots(figsize=(8, 4))
    groups = {n: r["group"] for n, r in rows.items()}
    colors, markers = arm_colors(list(rows), groups), arm_markers(list(rows), groups)
    for name in names:
        r = rows[name]
        g = r.get("gain")
        y, err = (g.mean, _err(g.mean, g.lo, g.hi)) if g else (0.0, None)
        _point(ax, r["steps"], y, None, err, colors[name], markers[name], r.get("label", name))
    ax.set(xscale="log", xlabel="optimizer steps (log scale)",
           ylabel="test accuracy - plain LB (points)",
           title="accuracy against optimizer steps (bars: paired 95% CIs)")
    plain_log(ax.xaxis)
    ax.axhline(0, color=LB_COLOR, lw=0.8, ls=":")
    if "gain" in rows.get("SB", {}):
        ax.axhline(rows["SB"]["gain"].mean, color=SB_COLOR, lw=0.8, ls=":")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


# ---- chapter 06 ---------------------------------------------------------------------------


def weight_distances(series: dict[str, tuple[Sequence[int], Sequence[float]]],
                     fits: dict[str, dict] | None = None,
                     colors: dict[str, tuple] | None = None, title: str = "",
                     labels: dict[str, str] | None = None) -> plt.Figure:
    """||w_t - w_0|| against the step t on a log axis, one line per name, with the fitted
    a + b ln t (``gu.walk.fit_walk`` results) dashed over the steps it was fitted on;
    ``colors`` maps names to colours (default :func:`arm_colors`), ``labels`` to the legend's
    text (default: the name); ``title`` goes before the plot's own. A series recorded at few
    steps (under 50: at evaluations only) is drawn with a marker at each, and its step 0 (off a
    log axis) left out. Chapter 06."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = colors or arm_colors(list(series))
    for name, (steps, dist) in series.items():
        fit, shown = (fits or {}).get(name), (labels or {}).get(name, name)
        label = shown if fit is None else f"{shown}: slope {fit['b']:.2f}, R² {fit['r2']:.3f}"
        sparse = len(steps) < 50
        if sparse:
            label += " (at evaluations)"
            kept = [(t, d) for t, d in zip(steps, dist, strict=True) if t > 0]
            steps, dist = [t for t, _ in kept], [d for _, d in kept]
        ax.plot(steps, dist, color=colors[name], label=label, marker="o" if sparse else None,
                ms=4)
        if fit is not None:
            t = np.geomspace(fit.get("first", min(steps)), fit.get("last", max(steps)), 50)
            ax.plot(t, fit["a"] + fit["b"] * np.log(t), "--", color="k", lw=0.8)
    ax.set(xscale="log", xlabel="optimizer step t (log scale)",
           ylabel="‖w_t - w_0‖ (all parameters)",
           title=(f"{title}: " if title else "") + "distance from the initial weights"
           + (" (dashed: a + b ln t, fitted)" if fits else ""))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def forest(rows: dict[str, dict], names: Sequence[str], title: str,
           base: str = "LB", top: str = "SB", family: dict | None = None,
           ax: plt.Axes | None = None, colors: dict[str, tuple] | None = None) -> plt.Figure:
    """One line per arm: its paired accuracy gain over ``base`` (points, 95% CI), with the
    ``top`` arm's gain (the whole gap) dotted; the steps each arm took in the labels. With
    ``family`` (:func:`gaputils.scores.verdicts`) each arm also gets its Holm interval (the
    wide pale bar), and a filled marker where the corrected verdict tells it from ``base``,
    an open one where it does not; ``colors`` maps arms to colours (default
    :func:`arm_colors`), so that an arm keeps its colour across a chapter's figures. Chapter 06."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.4))
    colors = colors or arm_colors(list(rows))
    for i, name in enumerate(names):
        g = rows[name].get("gain")
        y, err = (g.mean, _err(g.mean, g.lo, g.hi)) if g else (0.0, None)
        v = (family or {}).get(name)
        if v is not None:
            c = v.corrected
            ax.plot([c.lo, c.hi], [i, i], color=colors[name], lw=6, alpha=0.25,
                    solid_capstyle="butt")
        told = v is None or not v.verdict.startswith("not told")
        ax.errorbar([y], [i], xerr=err, fmt="o", color=colors[name], capsize=3, ms=6,
                    mfc=colors[name] if told else "white")
    ax.set_yticks(range(len(names)), [f"{rows[n].get('label', n)} ({rows[n]['steps']:.0f})"
                                      for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color=LB_COLOR, lw=0.8, ls=":")
    if top in rows and rows[top].get("gain") is not None:
        ax.axvline(rows[top]["gain"].mean, color=SB_COLOR, lw=0.8, ls=":")
    n = sorted({rows[k]["n"] for k in names})
    how = ("95% CIs; pale: Holm; open: not told apart" if family else "95% CIs")
    ax.set(xlabel=f"test accuracy - plain {base} (points; dotted: orange plain {base}, blue "
                  f"plain {top})",
           ylabel="arm (optimizer steps per run)",
           title=f"{title} ({'/'.join(map(str, n))} seeds, {how})")
    ax.figure.tight_layout()
    return ax.figure


def forests(panels: dict[str, tuple[dict, Sequence[str], dict | None]],
            colors: dict[str, tuple] | None = None) -> plt.Figure:
    """:func:`forest` panels side by side, one per title: ``(rows, names, family)`` each, in
    ``colors`` (see :func:`forest`). Chapter 06."""
    height = max(len(names) for _, names, _ in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 0.45 * height + 1.6),
                             squeeze=False)
    for ax, (title, (rows, names, family)) in zip(axes[0], panels.items(), strict=True):
        forest(rows, names, title, family=family, ax=ax, colors=colors)
    return fig


def regimes(groups: dict[str, Sequence[History]],
            colors: dict[str, tuple] | None = None, title: str = "",
            labels: dict[str, str] | None = None) -> plt.Figure:
    """Test error (%) against epochs, optimizer steps and training seconds (log axes), one
    line per named group of runs (mean, band +- 1 std over its runs, ddof=1); the error
    axis spans from the lowest error to 3 points above the highest final one, so that early,
    much higher errors leave the frame; ``colors`` maps names to colours (default
    :func:`arm_colors`), ``labels`` to the legend's text (default: the name); ``title`` heads
    the figure. Chapter 06."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colors = colors or arm_colors(list(groups))
    err = {(labels or {}).get(name, name): [_error_history(h) for h in hs]
           for name, hs in groups.items()}
    low = min(min(h.test_acc) for hs in err.values() for h in hs)
    high = max(h.test_acc[-1] for hs in err.values() for h in hs)
    for ax, x in zip(axes, ("epoch", "step", "seconds"), strict=True):
        curves(ax, err, "test_acc", x, colors=[colors[k] for k in groups])
        ax.set(xscale="log", ylabel="test error (%)", title=f"test error per {X_LABELS[x]}",
               ylim=(low - 0.5, high + 3))
        plain_log(ax.xaxis, minor=False)
        ax.set_xlabel(ax.get_xlabel() + " (log scale)")
    n = "/".join(map(str, sorted({len(hs) for hs in groups.values()})))
    fig.suptitle((f"{title}: " if title else "") + f"mean over {n} seeds; band: ± 1 standard "
                 "deviation", fontsize=9)
    axes[2].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


def _error_history(h: History) -> History:
    """A copy of the records from the first evaluation after the start (log axes), with the
    test accuracy turned into the test error in percent."""
    keep = [i for i, s in enumerate(h.step) if s > 0]
    pick = lambda v: [v[i] for i in keep]
    return History(epoch=pick(h.epoch), step=pick(h.step), seconds=pick(h.seconds),
                   test_acc=[100 * (1 - a) for a in pick(h.test_acc)])


def gain_sweep(points: list[tuple[float, dict]], xlabel: str, title: str,
               top: dict | None = None) -> plt.Figure:
    """Accuracy gain over plain LB (points, paired 95% CI) against a swept value on a log
    axis; (x, row of :func:`gaputils.scores.summarize`) pairs, plain LB's own x at 0 gain;
    ``top``, plain SB's row, dotted. Chapter 06."""
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [x for x, _ in points]
    trio = np.array([(r["gain"].mean, r["gain"].lo, r["gain"].hi) if "gain" in r else (0, 0, 0)
                     for _, r in points])
    ax.errorbar(xs, trio[:, 0], yerr=[trio[:, 0] - trio[:, 1], trio[:, 2] - trio[:, 0]],
                marker="o", capsize=3, color="C2")
    ax.axhline(0, color=LB_COLOR, lw=0.8, ls=":")
    ax.annotate("plain LB", (0.01, 0), xycoords=("axes fraction", "data"), color=LB_COLOR,
                fontsize=8, va="bottom")
    if top is not None:
        ax.axhline(top["gain"].mean, color=SB_COLOR, lw=0.8, ls=":")
        ax.annotate("plain SB", (0.01, top["gain"].mean), xycoords=("axes fraction", "data"),
                    color=SB_COLOR, fontsize=8, va="top")
        ax.margins(y=0.12)
    ax.set(xscale="log", xlabel=xlabel, ylabel="test accuracy - plain LB (points)", title=title)
    ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    fig.tight_layout()
    return fig


# ---- chapter 07 ---------------------------------------------------------------------------

RULE_COLORS = {"plain": LB_COLOR, "sqrt": "C2", "linear": "C4"}


def rule_sweep(sweep: dict[str, list[tuple]], labels: dict[str, str], top: str = "SB",
               title: str = "") -> plt.Figure:
    """Test accuracy minus ``top``'s (points, paired 95% CI where there are seeds for one)
    against the batch size (log axis), one line per learning-rate rule of
    :func:`gaputils.scores.rule_sweep`; a run that diverged is marked with a cross.
    Chapter 07."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for k, (rule, pts) in enumerate(sweep.items()):
        b, m, lo, hi, bad = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
        xs = b * (1 + 0.03 * (k - 1))  # a small offset, so that the bars do not overlap
        err = None if np.isnan(lo).all() else [m - lo, hi - m]
        ax.errorbar(xs, m, yerr=err, marker="o", capsize=3, color=RULE_COLORS.get(rule),
                    label=labels.get(rule, rule))
        if bad.any():
            ax.plot(xs[bad > 0], m[bad > 0], "kx", ms=10, label=f"{labels.get(rule, rule)}: "
                    "diverged in some seeds")
    ax.axhline(0, color=SB_COLOR, lw=0.8, ls=":")
    ax.annotate(f"plain {top}", (0.99, 0), xycoords=("axes fraction", "data"), color=SB_COLOR,
                fontsize=8, va="bottom", ha="right")
    sizes = sorted({p[0] for pts in sweep.values() for p in pts})
    ax.set(xscale="log", xlabel="batch size B (examples; log scale)",
           ylabel=f"test accuracy - plain {top} (points)", title=title)
    ax.set_xticks(sizes, [f"{x:g}" for x in sizes])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def critical_batch(best: dict[int, dict], fit: dict, noise: dict[str, list[dict]],
                   target: float) -> plt.Figure:
    """Left: steps to the target training loss against the batch size (log-log; one dot per
    seed at each size's tuned learning rate, their geometric mean ringed), McCandlish et al.'s
    S(B) = S_min (1 + B_crit / B) fitted, its two asymptotes (E_min / B, perfect scaling,
    dashed; S_min, no gain, dash-dotted), B_crit dotted. Right: the gradient noise scale
    B_simple (jackknife SE bars) against the training loss as an SB run trains, one line per
    seed, the target dotted; ``fit`` is :func:`gaputils.scaling.fit_critical`'s, its
    ``curve`` drawn. Chapter 07."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 4.5))
    sizes = np.array(sorted(best), dtype=float)
    for i, b in enumerate(sizes):
        steps = best[int(b)]["steps"]
        ax.plot([b] * len(steps), steps, ".", color="0.5", label="one seed" if i == 0 else None)
        ax.plot(b, np.exp(np.mean(np.log(steps))), "o", mfc="none", color="k", ms=8,
                label="geometric mean over seeds" if i == 0 else None)
    grid, curve = fit["curve"]
    ax.plot(grid, curve, color="C3",
            label=f"S_min (1 + B_crit / B): S_min = {fit['s_min']:.0f}, "
                  f"B_crit = {fit['b_crit']:.0f}")
    ax.plot(grid, fit["e_min"] / np.asarray(grid), "--", color="C3", lw=0.8,
            label="E_min / B (perfect scaling)")
    ax.axhline(fit["s_min"], ls="-.", color="C3", lw=0.8, label="S_min (no gain)")
    ax.axvline(fit["b_crit"], ls=":", color="C3", label="B_crit")
    ax.set(xscale="log", yscale="log", xlabel="batch size B (examples; log scale)",
           ylabel=f"steps to training loss {target:g} (log scale)",
           title="steps to a target loss, each batch size at its tuned rate")
    ax.legend(fontsize=8, loc="upper right", frameon=True, framealpha=0.9)  # the empty corner
    for k, (seed, rows) in enumerate(noise.items()):
        loss = [r["train_loss"] for r in rows]
        bs = np.array([r["b_simple"] for r in rows])
        se = np.array([r["se"] for r in rows])
        bx.errorbar(loss, bs, yerr=np.minimum(se, 0.95 * bs), marker="o", capsize=3,
                    color=f"C{k}", label=f"seed {seed}")
    bx.axvline(target, ls=":", color="C3", label=f"target loss {target:g}")
    bx.set(xscale="log", yscale="log", xlabel="training loss (nats; log scale, falling ->)",
           ylabel="B_simple = tr(Σ) / |G|² (examples; bars: jackknife SE)",
           title="the gradient noise scale as the SB run trains")
    levels = sorted({r["loss"] for rows in noise.values() for r in rows})
    if levels:
        bx.set_xticks(levels, [f"{v:g}" for v in levels])
    bx.invert_xaxis()
    bx.legend(fontsize=8)
    plain_log(ax.xaxis, ax.yaxis, bx.yaxis)
    bx.xaxis.set_minor_formatter(plt.NullFormatter())
    fig.tight_layout()
    return fig


def measure_scatter(points: dict[str, np.ndarray]) -> plt.Figure:
    """Test accuracy (%) against lambda_max and against Keskar's sharpness (log axes) for a
    pool of networks (:func:`gaputils.questions.measured`), one colour and marker shape per
    batch size for the networks that fit the training set, grey crosses for those that do not.
    Chapter 07."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    sizes = sorted(set(points["batch_size"].astype(int)))
    hues = plt.get_cmap("turbo")(np.linspace(0.08, 0.92, len(sizes)))  # ordered, told apart
    cmap = lambda i: hues[i]
    for ax, key, label in zip(axes, ("lambda_max", "sharpness"),
                              ("λmax (largest Hessian eigenvalue)",
                               "Keskar sharpness, ε = 1e-3 (%)"), strict=True):
        fit = points.get("fitted", np.ones(len(points[key]), bool))
        for i, b in enumerate(sizes):
            m = (points["batch_size"] == b) & fit
            if not m.any():  # no network of this batch size fits: only the grey crosses
                continue
            ax.scatter(points[key][m], 100 * points["test_acc"][m], s=16, color=cmap(i),
                       marker="os^Dvp<>"[i % 8], label=f"B = {b}")
        ax.scatter(points[key][~fit], 100 * points["test_acc"][~fit], s=16, marker="x",
                   color="0.6", label="does not fit the\ntraining set")
        ax.set(xscale="log", xlabel=f"{label} (log scale)",
               title=f"test accuracy against {label.split(' (')[0].split(',')[0]}")
        plain_log(ax.xaxis, minor=False)
    axes[0].set_ylabel("test accuracy (%)")
    fitted = 100 * points["test_acc"][points.get("fitted", np.ones(len(points["test_acc"]), bool))]
    if len(fitted):  # the range of the fitted networks; underfit ones below it are counted
        lo, hi = float(fitted.min()), float(fitted.max())
        pad = 0.1 * (hi - lo or 1.0)
        axes[0].set_ylim(lo - pad, hi + pad)
        below = int(np.sum(100 * points["test_acc"] < lo - pad))
        if below:
            for ax in axes:
                ax.annotate(f"{below} underfit networks below {lo - pad:.1f}% (not shown)",
                            (0.02, 0.02), xycoords="axes fraction", fontsize=8, color="0.4")
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


def reference_curves(live: dict[str, dict], references: dict[str, dict[str, dict]]
                     ) -> plt.Figure:
    """One panel per curve (made by ``gu.reference.curve``): this run's (thick, light) and each
    reference run's where it has that curve (thin: black dashed, then grey dotted; the legend
    says where a reference's curve is this run's, value for value), with ``references`` mapping
    a legend label to a run's curves by title."""
    fig, axes = plt.subplots(1, len(live), figsize=(5.5 * len(live), 3.8), squeeze=False)
    styles = [("x--", "black"), ("+:", "0.45")]
    for ax, (title, c) in zip(axes[0], live.items(), strict=True):
        dots = len(c["x"]) <= 40  # markers where they can be told apart
        ax.plot(c["x"], c["y"], "o-" if dots else "-", ms=5, lw=3, alpha=0.5, color=SB_COLOR,
                label="this run")
        for i, (name, ref) in enumerate(references.items()):
            r = ref.get(title)
            fmt, color = styles[i % len(styles)]
            if r:  # thin on top, so that where the runs agree all stay visible
                same = (len(r["x"]) == len(c["x"]) and np.allclose(r["x"], c["x"], rtol=1e-9)
                        and np.allclose(r["y"], c["y"], rtol=1e-9))
                ax.plot(r["x"], r["y"], fmt if dots else fmt.lstrip("x+"), ms=4, lw=1.2,
                        color=color, label=name + (", identical to this run" if same else ""))
        ax.set(xlabel=c["xlabel"], ylabel=c["ylabel"], title=title,
               xscale="log" if c.get("log_x") else "linear",
               yscale="log" if c.get("log_y") else "linear")
        xs = [*c["x"], *(v for ref in references.values() for v in ref.get(title, {}).get("x", []))]
        whole = sorted({int(v) for v in xs})
        if c.get("log_x") and len(whole) <= 12 and all(float(v).is_integer() for v in xs):
            ax.set_xticks(whole, [str(v) for v in whole])  # e.g. batch sizes, read off exactly
            ax.xaxis.set_minor_locator(NullLocator())
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
