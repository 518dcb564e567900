"""Remedies for the generalization gap, each an object that plugs into the one training loop
(chapters 05-07).

A remedy is a frozen dataclass with a few optional hooks (:mod:`.base`, where the hooks are
listed); ``TrainConfig(remedies=(...))`` trains with it, and its fields enter the cache key.
One file per remedy:

- :class:`Augment` (:mod:`.augment`): random shifts and flips of every batch.
- :class:`Conservative` (:mod:`.conservative`): a few proximal steps per batch.
- :class:`Adversarial` (:mod:`.adversarial`): FGSM or PGD examples in part of every batch.
- :class:`BatchSchedule` (:mod:`.schedules`): warm starts and growing batches.
- :class:`GhostBN` (:mod:`.ghost`): Ghost Batch Normalization.
- :class:`MultiplicativeNoise` (:mod:`.noise`): SB's gradient covariance at LB.
- :class:`SAM` (:mod:`.sam`): sharpness-aware minimization, and ASAM.

and the rules that change a configuration instead (:mod:`.scaling`): :func:`scale_lr`,
:func:`adapt_regime`. Write your own by subclassing :class:`Remedy` (chapter 05 ends with one).
"""

from .adversarial import Adversarial, adversarial
from .augment import Augment, augment
from .base import Context, Remedy, plain_step
from .conservative import Conservative, proximal_step
from .ghost import GhostBN
from .noise import MultiplicativeNoise, matching_variance, multipliers
from .sam import SAM
from .scaling import LR_RULES, adapt_regime, scale_lr
from .schedules import (
                        BatchSchedule,
                        Schedule,
                        epoch_batches,
                        epoch_sizes,
                        geometric,
                        increase_instead_of_decay,
                        per_epoch,
                        profile,
                        schedule_steps,
                        warm_start,
)

__all__ = ["LR_RULES", "SAM", "Adversarial", "Augment", "BatchSchedule", "Conservative",
           "Context", "GhostBN", "MultiplicativeNoise", "Remedy", "Schedule", "adapt_regime",
           "adversarial", "augment", "epoch_batches", "epoch_sizes", "geometric",
           "increase_instead_of_decay", "matching_variance", "multipliers", "per_epoch",
           "plain_step", "profile", "proximal_step", "scale_lr", "schedule_steps",
           "warm_start"]
