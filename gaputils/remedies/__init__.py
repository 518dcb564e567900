"""Remedies for the generalization gap, each an object that plugs into the one training loop
(chapters 05-07).

A remedy is a frozen dataclass with a few optional hooks (:mod:`.base`, where the hooks are
listed); ``TrainConfig(remedies=(...))`` trains with it, and its fields enter the cache key.
One file per remedy:

- :class:`Augment` (:mod:`.augmentation`): random shifts and flips of every batch.
- :class:`Conservative` (:mod:`.conservative`): a few proximal steps per batch.
- :class:`Adversarial` (:mod:`.robust`): FGSM or PGD examples in part of every batch.
- :class:`BatchSchedule` (:mod:`.schedules`): warm starts and growing batches.
- :class:`GhostBN` (:mod:`.ghost`): Ghost Batch Normalization.
- :class:`MultiplicativeNoise` (:mod:`.noise`): SB's gradient covariance at LB.
- :class:`SAM` (:mod:`.sam`): sharpness-aware minimization, and ASAM.
- :class:`FreshBNStats` (:mod:`.batchnorm_stats`): not a remedy but a plug-in of the same kind -
  BatchNorm statistics recomputed before evaluations (chapter 07's steps to a target).

and the rules that change a configuration instead (:mod:`.scaling`): :func:`scale_lr`,
:func:`adapt_regime`. Write your own by subclassing :class:`Remedy` (chapter 05 ends with one).
"""

import importlib
import pkgutil
import sys

from .base import Context, Remedy, plain_step

__all__ = ["Context", "Remedy", "plain_step"]
# Every module of this package is imported and its public names re-exported, so that adding a
# remedy is adding one file (and its test): gu.remedies.<Name> and the command line find it.
_modules = [m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"]
for _module in sorted(_modules):
    for _name in getattr(importlib.import_module(f"{__name__}.{_module}"), "__all__", ()):
        if _name in __all__ or _name in _modules:
            raise ImportError(f"gaputils.remedies.{_module} exports {_name!r}, which another "
                              "module or a module's name already is; rename one")
        globals()[_name] = getattr(sys.modules[f"{__name__}.{_module}"], _name)
        __all__.append(_name)
