"""The book's testbed: one setting in which the small batch (SB) and the large batch (LB) both fit
the training set and LB tests worse beyond seed noise (chapter 01).

A :class:`Setting` fixes everything that shapes an SB-against-LB comparison: network, data,
the two batch sizes, optimizer, schedule, epochs and seeds. ``get()`` is the testbed of the
current run mode - chosen in standard mode by the validation study
``data/reference/ch01_selection.py`` - on which chapters 01 and 05-07 measure the gap and what
closes it; ``keskar()`` is Keskar et al.'s own procedure (F1, Adam at 1e-3, LB = 10% of the
training set), kept beside it as a row of chapter 01; ``hoffer()`` is the second setting, Hoffer
et al.'s regime, in which chapter 06 tests their remedies as their code trains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from . import data, models
from .remedies import Augment, Remedy
from .runtime import device
from .runtime import mode as current_mode
from .train import TrainConfig


@dataclass(frozen=True)
class Setting:
    """How to train SB against LB. Sizes count examples; ``n_train=None`` is the whole set.

    ``model_kwargs`` is a tuple of (name, value) pairs (hashable), passed to ``models.build``;
    every run of the setting trains with ``remedies`` (augmentation, say: objects of
    :mod:`gaputils.remedies`) before any of its own, the :class:`~gaputils.train.TrainConfig`
    fields in ``options`` ((name, value) pairs) and the gradient-norm clipping ``grad_clip``
    (None: none).
    """

    name: str
    model: str
    n_train: int | None
    n_test: int | None
    sb: int
    lb: int
    epochs: float
    optimizer: str
    lr: float
    schedule: str = "cosine"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seeds: tuple[int, ...] = (0, 1, 2)
    eval_epochs: int = 1
    dataset: str = "fashion-mnist"
    model_kwargs: tuple[tuple[str, object], ...] = ()
    grad_clip: float | None = None
    remedies: tuple[Remedy, ...] = ()
    options: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        if not 0 < self.sb < self.lb:
            raise ValueError(f"need 0 < sb < lb, got sb={self.sb}, lb={self.lb}")
        if self.n_train is not None and self.lb > self.n_train:
            raise ValueError(f"lb={self.lb} exceeds the {self.n_train} training examples")

    @property
    def train_size(self) -> int:
        """Training examples used (60,000 for the whole Fashion-MNIST training set)."""
        return self.n_train if self.n_train is not None else 60_000

    def replace(self, **changes) -> Setting:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def load(self, dev: torch.device | str | None = None) -> data.Dataset:
        """The setting's data on ``dev`` (default ``gu.device()``): the same subset everywhere."""
        return data.load(self.dataset, n_train=self.n_train, n_test=self.n_test,
                         device=dev or device())

    def build(self, ds: data.Dataset) -> nn.Module:
        """A fresh network for ``ds`` on the data's device (seed torch's generator first)."""
        net = models.build(self.model, ds.input_shape, ds.num_classes, **dict(self.model_kwargs))
        return net.to(ds.train[0].device)

    def config(self, batch_size: int, seed: int, *, n_train: int | None = None,
               **overrides) -> TrainConfig:
        """The training configuration of one run: the setting's optimizer, learning rate (the
        same for every batch size), schedule, epochs, clipping, remedies and options,
        evaluated every ``eval_epochs`` epochs; ``overrides`` replace any field
        (``epochs``/``steps``, ``lr``, ...) but ``remedies``, which join the setting's."""
        n = n_train or self.train_size
        if "steps" in overrides and "epochs" not in overrides:
            overrides["epochs"] = None
        settings = dict(batch_size=batch_size, lr=self.lr, epochs=self.epochs,
                        optimizer=self.optimizer, momentum=self.momentum,
                        weight_decay=self.weight_decay, schedule=self.schedule, seed=seed,
                        eval_every=max(1, self.eval_epochs * max(1, n // batch_size)),
                        grad_clip=self.grad_clip)
        remedies = self.remedies + tuple(overrides.pop("remedies", ()))
        if remedies:
            settings["remedies"] = remedies
        return TrainConfig(**(settings | dict(self.options) | overrides))

    def describe(self) -> str:
        """One paragraph: network, data, batches, optimizer, schedule, epochs, seeds."""
        kw = ", ".join(f"{k}={v}" for k, v in self.model_kwargs)
        opt = f"{self.optimizer.upper() if self.optimizer == 'sgd' else 'Adam'}, lr {self.lr:g}"
        if self.optimizer == "sgd":
            opt += f", momentum {self.momentum:g}"
        if self.weight_decay:
            opt += f", weight decay {self.weight_decay:g}"
        extra = "".join(f"; {part}" for part in self._extras())
        return (f"{self.name}: {self.model}{f' ({kw})' if kw else ''} on {self.train_size:,} "
                f"{self.dataset} training images; SB {self.sb}, LB {self.lb} "
                f"({self.lb / self.train_size:.0%} of the training set, {self.lb / self.sb:.1f}x "
                f"SB); {opt} for both, {self.schedule} schedule, {self.epochs:g} epochs{extra}; "
                f"seeds {', '.join(map(str, self.seeds))}")

    def _extras(self) -> list[str]:
        out = [r.describe() for r in self.remedies]
        if self.grad_clip is not None:
            out.append(f"gradient norm clipped at {self.grad_clip:g}")
        return out


_NARROW_C1 = (("channels", (8, 16)), ("hidden", (128,)), ("dropout", 0.0))

_TESTBEDS = {
    "smoke": Setting("testbed", "C1", n_train=512, n_test=256, sb=32, lb=128, epochs=1,
                     optimizer="sgd", lr=0.1, weight_decay=5e-4, seeds=(0, 1),
                     model_kwargs=_NARROW_C1),
    "standard": Setting("testbed", "C1", n_train=2000, n_test=10_000, sb=32, lb=500, epochs=40,
                        optimizer="sgd", lr=0.1, weight_decay=5e-4, seeds=tuple(range(10)),
                        eval_epochs=10, model_kwargs=_NARROW_C1),
}
_TESTBEDS["paper"] = _TESTBEDS["standard"]  # ten seeds in both

_KESKAR = {
    "smoke": Setting("Keskar", "F1", n_train=512, n_test=256, sb=16, lb=51, epochs=1,
                     optimizer="adam", lr=1e-3, seeds=(0, 1)),
    "standard": Setting("Keskar", "F1", n_train=10_000, n_test=10_000, sb=256, lb=1000,
                        epochs=20, optimizer="adam", lr=1e-3, seeds=(0, 1, 2), eval_epochs=5),
    "paper": Setting("Keskar", "F1", n_train=None, n_test=None, sb=256, lb=6000, epochs=100,
                     optimizer="adam", lr=1e-3, seeds=(0, 1, 2, 3, 4), eval_epochs=5),
}


# Hoffer's regime (chapter 06): the rule is hoffer()'s docstring; the epochs were chosen by
# data/reference/ch06_hoffer_selection.py (gaputils/results/ch06_hoffer_selection.json).
_HOFFER_TRAINING = {"remedies": (Augment(shift=2, flip=True),), "options": (("distance_every", 1),)}
_HOFFER = {
    "smoke": Setting("Hoffer's regime", "C1", n_train=640, n_test=256, sb=32, lb=64, epochs=1,
                     optimizer="sgd", lr=0.1, weight_decay=5e-4, seeds=(0, 1),
                     model_kwargs=_NARROW_C1, grad_clip=5.0, **_HOFFER_TRAINING),
    "standard": Setting("Hoffer's regime", "C1", n_train=5000, n_test=10_000, sb=32, lb=500,
                        epochs=10, optimizer="sgd", lr=0.1, weight_decay=5e-4,
                        seeds=tuple(range(8)), eval_epochs=1, model_kwargs=_NARROW_C1,
                        grad_clip=5.0, **_HOFFER_TRAINING),
}
_HOFFER["paper"] = _HOFFER["standard"].replace(seeds=tuple(range(10)))


_VIT = {
    "smoke": Setting("tiny ViT", "vit", n_train=512, n_test=256, sb=32, lb=128, epochs=1,
                     optimizer="adam", lr=1e-3, seeds=(0, 1)),
    "standard": Setting("tiny ViT", "vit", n_train=2000, n_test=10_000, sb=32, lb=500,
                        epochs=100, optimizer="adam", lr=1e-3, seeds=(0,), eval_epochs=10),
}
_VIT["paper"] = _VIT["standard"].replace(seeds=tuple(range(10)))


def _pick(table: dict[str, Setting], mode: str | None) -> Setting:
    name = current_mode() if mode is None else mode
    if name not in table:
        raise ValueError(f"unknown run mode {name!r}; use one of: {', '.join(table)}")
    return table[name]


def get(mode: str | None = None) -> Setting:
    """The book's testbed in run mode ``mode`` (default: the current one). Chapter 01."""
    return _pick(_TESTBEDS, mode)


def keskar(mode: str | None = None) -> Setting:
    """Keskar et al.'s procedure (F1, Adam 1e-3, SB 256, LB 10% of the training set) at the
    size of run mode ``mode``. Chapter 01."""
    return _pick(_KESKAR, mode)


def hoffer(mode: str | None = None) -> Setting:
    """Hoffer et al.'s regime in run mode ``mode``: the testbed's network, optimizer, learning
    rate, schedule and SB, trained as Hoffer et al.'s code trains, on a set large enough that
    plain LB has had too few updates at the epoch budget. The rule, written down before any
    test accuracy of it was seen:

    - 5,000 training images (smoke: 640): the smallest multiple of 1,000 at which the
      testbed's LB of 500 is at most 10% of the set (theirs: 4,096 of 50,000, 8%); SB 32;
    - every batch augmented as chapter 05 augments - random shifts of up to 2 pixels into a
      black frame and horizontal flips (their code pads, crops and flips, even on MNIST);
    - the gradient norm clipped at 5 in every run (their Ghost BatchNorm script); Ghost
      BatchNorm, where an arm uses it, over ghost batches of SB's size;
    - the epoch budget: the largest of 5, 10 and 20 epochs at which plain LB's training
      accuracy stays at least 2 points below plain SB's (on validation runs with other seeds)
      and the 8-seed reference run fits 2 hours on 2 cores
      (``data/reference/ch06_hoffer_selection.py``).

    Every run records its distance from the initial weights at every step. Chapter 06."""
    return _pick(_HOFFER, mode)


def vit(mode: str | None = None) -> Setting:
    """The testbed's data and batch sizes with the tiny Vision Transformer (no BatchNorm) in
    place of C1, trained as Keskar et al. trained theirs - Adam at 1e-3 for SB and LB alike -
    for 100 epochs, so that LB fits the training set too. Chapter 07."""
    return _pick(_VIT, mode)
