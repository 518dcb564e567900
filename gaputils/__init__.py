"""gaputils: the helper package of the book on the generalization gap of large-batch training.

``import gaputils as gu``; ``gu.setup(seed=0)`` at the top of every chapter, then
``budget = gu.budget()`` for every size the chapter uses.
"""

from __future__ import annotations

import torch

from . import (  # noqa: E402
    arms,
    cache,
    data,
    flatness,
    gaps,
    ghost,
    hessian,
    landscape,
    models,
    noise_scale,
    papers,
    params,
    plan,
    plots,
    questions,
    reference,
    remedies,
    reparam,
    runs,
    sam,
    scaling,
    scores,
    selection,
    sharpness,
    stability,
    stats,
    study,
    testbed,
    train,
    walk,
    widgets,
)
from ._version import __version__  # noqa: E402, F401
from .budget import Budget, budget  # noqa: E402
from .runtime import cache_dir, data_dir, device, mode, seed_everything  # noqa: E402

__all__ = ["Budget", "arms", "budget", "cache", "cache_dir", "data", "data_dir", "device",
           "flatness", "gaps", "ghost", "hessian", "landscape", "mode", "models", "noise_scale",
           "papers", "params", "plan", "plots", "questions", "reference", "remedies", "reparam",
           "runs", "sam", "scaling", "scores", "seed_everything", "selection", "setup",
           "sharpness", "stability", "stats", "study", "testbed", "train", "walk", "widgets"]


def setup(seed: int = 0, verbose: bool = True) -> dict:
    """Seed every generator, apply the figure style and report where the book runs.

    Prints (and returns) the device, the run mode, where Fashion-MNIST was found and the cache
    folder; on a GPU in standard mode, how to ask for paper mode and what it costs. Chapter 00.
    """
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
    if dev.type == "cuda" and info["mode"] == "standard":
        info["paper mode"] = ("more seeds and the papers' full sizes, hours per chapter on a GPU "
                              "(README: times); ask for it with GAPUTILS_MODE=paper before "
                              "importing gaputils")
    if verbose:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k:>{width}}: {v}")
    return info
