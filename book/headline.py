"""The README's figure and headline, from a committed reference run (chapter 01, paper mode).

    python book/headline.py     # writes book/_static/headline.png and prints the headline

The numbers come from ``gaputils/results/ch01_paper.json``; tests/test_book.py checks that the
README states them as this script prints them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import gaputils as gu  # noqa: E402

OUT = Path(__file__).resolve().parent / "_static" / "headline.png"


def headline(ref: dict) -> str:
    """One sentence: the testbed's paired gap with its interval and seeds."""
    n = ref["numbers"]
    d = gu.stats.estimate_interval(n["testbed SB - LB test acc., pts"], n["  95% CI low"],
                                   n["  95% CI high"])
    return (f"On the book's testbed, training with a batch of 500 instead of 32 costs {d} points "
            f"of test accuracy (mean and 95% interval over {n['testbed seeds']:.0f} seeds), "
            f"although both fit the training set ({n['lowest train acc. %']:.0f}%).")


def figure(ref: dict) -> plt.Figure:
    """Test accuracy against the batch size, from the reference run's sweep."""
    c = ref["curves"]["batch-size sweep"]
    seeds = len(gu.budget(ref["mode"]).sweep_seeds)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    ax.plot(c["x"], c["y"], "o-", color="C0")
    ax.set(xscale="log", xlabel="batch size (examples; log scale)", ylabel=c["ylabel"],
           title="the generalization gap of large batches: C1 on Fashion-MNIST,\n"
                 f"same epochs for every batch size (mean of {seeds} seeds; {ref['mode']} mode)")
    gu.plots.plain_log(ax.xaxis)
    fig.tight_layout()
    return fig


def main() -> int:
    ref = gu.reference.run("01", "paper")
    figure(ref).savefig(OUT)
    print(f"wrote {OUT}\n{headline(ref)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
