"""Every size a chapter needs, per run mode, in one place (chapter 00).

A chapter never hard-codes a size: it asks ``gu.budget()`` and uses the fields below. The three
modes trade time for fidelity:

- ``smoke``: tiny subsets, one or two epochs; proves that the code runs (< 60 s per chapter).
- ``standard``: real Fashion-MNIST results with error bars on 2 CPU cores (<= 10 min per chapter).
- ``paper``: the papers' batch sizes, epochs and seeds on a GPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .runtime import MODES
from .runtime import mode as current_mode


@dataclass(frozen=True)
class Budget:
    """Sizes for one run mode. Batch sizes count examples; ``lb`` is derived from ``n_train``."""

    mode: str
    dataset: str  # default dataset of the mode
    n_train: int | None  # training examples (None: the whole training set)
    n_test: int | None  # test examples used for evaluation (None: the whole test set)
    epochs: int  # training epochs of one SB/LB run
    sb: int  # small batch (Keskar: 256)
    lb_fraction: float  # large batch as a fraction of the training set (Keskar: 0.1)
    lr: float  # Adam learning rate of the SB/LB runs (the same for every batch size)
    schedule: str  # learning-rate schedule of those runs ("constant", "step" or "cosine")
    eval_epochs: int  # epochs between two evaluation records of a long run
    batch_sizes: tuple[int, ...]  # batch-size sweep
    sweep_epochs: int  # epochs of each sweep run (fixed-epoch sweep; fixed-step uses SB's steps)
    sweep_seeds: tuple[int, ...]  # seeds of the sweep
    seeds: tuple[int, ...]  # independent runs for error bars
    n_curvature: int  # training examples for sharpness and Hessian computations
    grid: int  # points per axis of landscape planes
    alphas: int  # points of the 1-D interpolation in [-1, 2]
    probes: int  # random directions, subspaces or trace probes
    subspace_dim: int  # dimension of random subspaces for sharpness (Keskar: 100)
    lanczos_steps: int  # Lanczos iterations for spectra
    top_k: int  # how many of the largest Hessian eigenvalues to compute
    intro_epochs: int  # epochs of the short demonstration runs (chapter 00, widgets)

    @property
    def train_size(self) -> int:
        """Training examples actually used (60,000 for the full Fashion-MNIST/MNIST set)."""
        return self.n_train if self.n_train is not None else 60_000

    @property
    def lb(self) -> int:
        """The large batch: ``lb_fraction`` of the training set, at least ``sb``."""
        return max(self.sb, int(round(self.lb_fraction * self.train_size)))

    def as_dict(self) -> dict:
        return asdict(self) | {"lb": self.lb}


_BUDGETS = {
    "smoke": Budget(
        mode="smoke", dataset="fashion-mnist", n_train=512, n_test=256, epochs=1, sb=64,
        lb_fraction=0.25, lr=1e-3, schedule="cosine", eval_epochs=1, batch_sizes=(32, 128),
        sweep_epochs=1, sweep_seeds=(0,), seeds=(0, 1), n_curvature=256, grid=5, alphas=5,
        probes=2, subspace_dim=10, lanczos_steps=5, top_k=2, intro_epochs=1,
    ),
    "standard": Budget(
        mode="standard", dataset="fashion-mnist", n_train=10_000, n_test=10_000, epochs=30,
        sb=256, lb_fraction=0.1, lr=3e-3, schedule="cosine", eval_epochs=2,
        batch_sizes=(32, 64, 128, 256, 512, 1000), sweep_epochs=10, sweep_seeds=(0, 1),
        seeds=(0, 1, 2), n_curvature=2048, grid=21, alphas=25, probes=5, subspace_dim=100,
        lanczos_steps=40, top_k=10, intro_epochs=2,
    ),
    "paper": Budget(
        mode="paper", dataset="fashion-mnist", n_train=None, n_test=None, epochs=100, sb=256,
        lb_fraction=0.1, lr=1e-3, schedule="cosine", eval_epochs=5,
        batch_sizes=(32, 64, 128, 256, 512, 1024, 2048, 6000), sweep_epochs=30,
        sweep_seeds=(0, 1, 2), seeds=(0, 1, 2, 3, 4), n_curvature=10_000, grid=41, alphas=25,
        probes=10, subspace_dim=100, lanczos_steps=100, top_k=20, intro_epochs=2,
    ),
}


def budget(mode: str | None = None) -> Budget:
    """The budget of ``mode`` (default: the current run mode, see ``gu.mode()``). Chapter 00."""
    name = current_mode() if mode is None else mode
    if name not in _BUDGETS:
        raise ValueError(f"unknown run mode {name!r}; use one of: {', '.join(MODES)}")
    return _BUDGETS[name]
