"""gaputils: the helper package of the book on the generalization gap of large-batch training.

``import gaputils as gu``; ``gu.setup(seed=0)`` at the top of every chapter, then
``budget = gu.budget()`` for every size the chapter uses.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import (  # noqa: E402
    cache,
    data,
    experiments,
    ghost,
    hessian,
    landscape,
    measures,
    models,
    noise,
    params,
    plots,
    questions,
    reference,
    remedies,
    reparam,
    sam,
    scaling,
    sharpness,
    stats,
    study,
    testbed,
    train,
    widgets,
)
from .budget import Budget, budget  # noqa: E402
from .runtime import cache_dir, data_dir, device, mode, seed_everything  # noqa: E402

__all__ = ["Budget", "budget", "cache", "cache_dir", "data", "data_dir", "device", "experiments",
           "ghost", "hessian", "landscape", "measures", "mode", "models", "noise", "params",
           "plots", "questions", "reference", "remedies", "reparam", "sam", "scaling",
           "seed_everything", "setup", "sharpness", "stats", "study", "testbed", "train", "widgets"]


def setup(seed: int = 0, verbose: bool = True) -> dict:
    """Seed every generator, apply the figure style and report where the book runs.

    Prints (and returns) the device, the run mode, where Fashion-MNIST was found and the cache
    folder. Chapter 00.
    """
    import torch

    seed_everything(seed)
    plots.use_style()
    dev = device()
    found = data.locate("fashion-mnist")
    info = {
        "seed": seed,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda"
                              else ""),
        "mode": mode(),
        "fashion-mnist": str(found) if found else "not found (see data/README.md)",
        "cache": str(cache_dir()),
        "torch": torch.__version__,
        "gaputils": __version__,
    }
    if verbose:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k:>{width}}: {v}")
    return info
