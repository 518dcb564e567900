"""A 21 x 21 loss plane of F1 on 2,048 images along two filter-normalized random directions:
gaputils' ``landscape.plane`` (weights set in place, one flat vector) against the
``loss-landscapes`` package's ``random_plane`` (which copies the model and steps through
parameter wrappers). Both evaluate in eval mode. Agreement: the loss at the grid's centre
point (10, 10) - the network itself for gaputils; for ``loss-landscapes``, whose 21 steps span
the distance from one corner, a point half a step off it along each direction.
"""

from __future__ import annotations

import torch

from gaputils import landscape

from .common import missing, network, row, timed


def t_device(net) -> str:
    return str(next(net.parameters()).device)

STEPS = 21


def run(quick: bool = False) -> tuple[list[dict], dict]:
    net, data = network("F1")
    d1, d2 = landscape.random_direction(net, seed=1), landscape.random_direction(net, seed=2)
    t_ours, (ours,) = timed(lambda: landscape.plane(net, d1, d2, data, span=1.0, n=STEPS))
    centre = float(ours["loss"][STEPS // 2, STEPS // 2])
    try:
        import loss_landscapes
        import loss_landscapes.metrics
    except ImportError:
        return [row("plane 21x21 F1", "loss-landscapes", t_ours, None,
                    missing("loss-landscapes"))], {}
    metric = loss_landscapes.metrics.Loss(torch.nn.CrossEntropyLoss(), *data)
    try:
        t, (theirs,) = timed(lambda: loss_landscapes.random_plane(
            net.eval(), metric, distance=2.0, steps=STEPS, normalization="filter",
            deepcopy_model=True))
    except RuntimeError as err:  # it draws its directions on the CPU, whatever the model's device
        return [row("plane 21x21 F1", "loss-landscapes", t_ours, None,
                    f"fails on {t_device(net)}: {err}"[:160], f"{STEPS**2} evals (ours)")], {}
    their_centre = float(theirs[STEPS // 2, STEPS // 2])
    return [row("plane 21x21 F1", "loss-landscapes", t_ours, t,
                f"centre loss {centre:.4f} (ours) / {their_centre:.4f}",
                f"{STEPS**2} / {STEPS**2} evals")], {"centre": [centre, their_centre]}
