"""Every size a chapter needs, per run mode, in one place (chapter 00).

A chapter never hard-codes a size: it asks ``gu.budget()`` and uses the fields below. The three
modes trade time for fidelity:

- ``smoke``: tiny subsets, one or two epochs; proves that the code runs (< 60 s per chapter).
- ``standard``: real Fashion-MNIST results with error bars on 2 CPU cores (<= 10 min per chapter).
- ``paper``: the papers' batch sizes, epochs and seeds on a GPU (``budget.keskar``), and the
  testbed (ten seeds, as in standard) measured with more examples, directions and grid points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import testbed
from .runtime import MODES
from .runtime import mode as current_mode
from .testbed import Setting


@dataclass(frozen=True)
class Budget:
    """Sizes for one run mode. The SB/LB setting itself - network, data, batch sizes, optimizer,
    epochs, seeds - is the testbed (``budget.testbed``, see ``gu.testbed``)."""

    mode: str
    batch_sizes: tuple[int, ...]  # batch-size sweep (on the testbed)
    sweep_epochs: int  # epochs of each sweep run
    sweep_seeds: tuple[int, ...]  # seeds of the sweep
    n_curvature: int  # training examples for sharpness and Hessian computations
    testbed_measured: int  # how many of the testbed's seeds chapters 02-04 measure
    grid: int  # points per axis of landscape planes
    alphas: int  # points of the 1-D interpolation in [-1, 2]
    probes: int  # random directions, subspaces or trace probes
    subspace_dim: int  # dimension of random subspaces for sharpness (Keskar: 100)
    lanczos_steps: int  # Lanczos iterations for spectra
    top_k: int  # how many of the largest Hessian eigenvalues to compute
    intro_epochs: int  # epochs of the short demonstration runs (chapter 00, widgets)
    remedy_seeds: tuple[int, ...]  # seeds of every remedy (chapter 05)
    remedy_measured: int  # how many of them get lambda_max and sharpness measured
    lambdas: tuple[float, ...]  # conservative training's lambda sweep
    warm_epochs: tuple[int, ...]  # SB epochs before LB in the warm starts
    hoffer_seeds: tuple[int, ...]  # seeds of Hoffer et al.'s remedies (chapter 06)
    hoffer_live: tuple[str, ...] | None  # names of the testbed's long (RA) arms run live
    hoffer_regime_live: tuple[str, ...] | None  # names of the arms of Hoffer's regime run live
    ghost_sizes: tuple[int, ...]  # ghost batch sizes of the sweep
    beyond_seeds: tuple[int, ...]  # seeds of chapter 07's live runs (SAM, scaling, ViT)
    scaling_sizes: tuple[int, ...]  # batch sizes of the linear-against-sqrt comparison
    critical_sizes: tuple[int, ...]  # batch sizes of the steps-to-target experiment
    target_loss: float  # its target training loss (nats)
    critical_epochs: float  # its longest run (epochs) before a run counts as not reaching it
    noise_levels: tuple[float, ...]  # training losses at which to measure the noise scale

    @property
    def testbed(self) -> Setting:
        """The book's SB/LB testbed in this mode (chapter 01)."""
        return testbed.get(self.mode)

    @property
    def keskar(self) -> Setting:
        """Keskar et al.'s own procedure at this mode's size (chapter 01)."""
        return testbed.keskar(self.mode)

    @property
    def hoffer(self) -> Setting:
        """Hoffer et al.'s regime in this mode (chapter 06)."""
        return testbed.hoffer(self.mode)

    @property
    def vit(self) -> Setting:
        """The testbed with the tiny Vision Transformer (chapter 07)."""
        return testbed.vit(self.mode)

    def as_dict(self) -> dict:
        return asdict(self) | {"testbed": asdict(self.testbed), "keskar": asdict(self.keskar),
                                  "hoffer": asdict(self.hoffer), "vit": asdict(self.vit)}


_BUDGETS = {
    "smoke": Budget(
        mode="smoke", batch_sizes=(32, 128), sweep_epochs=1, sweep_seeds=(0,), n_curvature=256,
        testbed_measured=2,
        grid=5, alphas=5, probes=2, subspace_dim=10, lanczos_steps=5, top_k=2, intro_epochs=1,
        remedy_seeds=(0, 1), remedy_measured=1, lambdas=(5.0,), warm_epochs=(1,),
        hoffer_seeds=(0, 1), hoffer_live=None, hoffer_regime_live=None, ghost_sizes=(16, 64),
        beyond_seeds=(0,),
        scaling_sizes=(64, 128), critical_sizes=(16, 32, 64), target_loss=1.5,
        critical_epochs=3, noise_levels=(2.0, 1.5),
    ),
    "standard": Budget(
        mode="standard", batch_sizes=(32, 64, 125, 250, 500), sweep_epochs=40,
        sweep_seeds=(0, 1), n_curvature=1000, testbed_measured=5, grid=21, alphas=25, probes=5,
        subspace_dim=100,
        lanczos_steps=40, top_k=10, intro_epochs=2, remedy_seeds=(0, 1), remedy_measured=2,
        lambdas=(0.0, 5.0), warm_epochs=(2, 10), hoffer_seeds=(0,),
        hoffer_live=(), hoffer_regime_live=("LB_LR", "LB_GBN", "LB_LR_GBN", "LB_RA"),
        ghost_sizes=(16, 64, 125, 250),
        beyond_seeds=(0,), scaling_sizes=(64, 125, 250, 500, 1000),
        critical_sizes=(8, 16, 32, 64, 125, 250, 500, 1000), target_loss=0.3,
        critical_epochs=30, noise_levels=(1.0, 0.7, 0.5, 0.3, 0.2),
    ),
    "paper": Budget(
        mode="paper", batch_sizes=(16, 32, 64, 125, 250, 500, 1000, 2000), sweep_epochs=40,
        sweep_seeds=(0, 1, 2), n_curvature=2048, testbed_measured=10, grid=41, alphas=25,
        probes=10,
        subspace_dim=100, lanczos_steps=100, top_k=20, intro_epochs=2,
        remedy_seeds=tuple(range(10)), remedy_measured=5, lambdas=(0.0, 1.0, 5.0),
        warm_epochs=(2, 5, 10, 20), hoffer_seeds=tuple(range(10)), hoffer_live=None,
        hoffer_regime_live=None,
        ghost_sizes=(16, 64, 125, 250), beyond_seeds=tuple(range(10)),
        scaling_sizes=(64, 125, 250, 500, 1000),
        critical_sizes=(8, 16, 32, 64, 125, 250, 500, 1000), target_loss=0.3,
        critical_epochs=30, noise_levels=(1.0, 0.7, 0.5, 0.3, 0.2),
    ),
}


def budget(mode: str | None = None) -> Budget:
    """The budget of ``mode`` (default: the current run mode, see ``gu.mode()``). Chapter 00."""
    name = current_mode() if mode is None else mode
    if name not in _BUDGETS:
        raise ValueError(f"unknown run mode {name!r}; use one of: {', '.join(MODES)}")
    return _BUDGETS[name]
