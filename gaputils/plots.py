"""One figure style for the book, and its standard figures (chapter 00)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

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


def use_style() -> None:
    """Apply the book's matplotlib style."""
    plt.rcParams.update(STYLE)


def image_grid(x: torch.Tensor, y: torch.Tensor, classes: Sequence[str],
               mean: Sequence[float], std: Sequence[float], n: int = 16,
               cols: int = 8) -> plt.Figure:
    """The first ``n`` images of ``x`` (normalized ``(N, C, H, W)``) titled by class name."""
    n = min(n, len(x))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.4 * rows), squeeze=False)
    m = torch.tensor(mean).view(-1, 1, 1)
    s = torch.tensor(std).view(-1, 1, 1)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = (x[i].detach().cpu() * s + m).clamp(0, 1).permute(1, 2, 0).numpy()
        ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(classes[int(y[i])], fontsize=8)
    fig.tight_layout()
    return fig


def learning_curves(histories: dict[str, History | Sequence[History]],
                    x: str = "epoch") -> plt.Figure:
    """Train (dashed) and test (solid) loss and accuracy against ``x`` ("epoch", "step" or
    "seconds"). Several histories under one label are drawn as mean with a band of +- 1 std."""
    xlabel = {"epoch": "epoch", "step": "optimizer step",
              "seconds": "training time (s, evaluation excluded)"}[x]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, hs) in enumerate(histories.items()):
        hs = [hs] if isinstance(hs, History) else list(hs)
        color = f"C{i}"
        for key, ax, style in (("train_loss", ax_l, "--"), ("test_loss", ax_l, "-"),
                               ("train_acc", ax_a, "--"), ("test_acc", ax_a, "-")):
            n = min(len(getattr(h, key)) for h in hs)
            xs = np.mean([getattr(h, x)[:n] for h in hs], axis=0)
            ys = np.array([getattr(h, key)[:n] for h in hs])
            part = "train" if key.startswith("train") else "test"
            ax.plot(xs, ys.mean(0), style, color=color, label=f"{label} ({part})")
            if len(hs) > 1:
                ax.fill_between(xs, ys.mean(0) - ys.std(0), ys.mean(0) + ys.std(0),
                                color=color, alpha=0.2, lw=0)
    ax_l.set(xlabel=xlabel, ylabel="cross-entropy (nats)", yscale="log", title="loss")
    ax_a.set(xlabel=xlabel, ylabel="accuracy", title="accuracy")
    ax_a.legend(fontsize=8)
    fig.tight_layout()
    return fig
