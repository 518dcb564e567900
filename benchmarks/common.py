"""What every benchmark shares: the networks and data, timing, and the result file.

The networks are trained briefly here and cached (``gu.cache``), so the suite needs nothing but
Fashion-MNIST: F1 (1.46 M parameters) and a small CNN (chapter 01's narrow C1, 105 k
parameters), each trained with Adam on 2,048 Fashion-MNIST images, and measured on those
2,048 images in eval mode.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

import gaputils as gu

RESULTS = Path(__file__).resolve().parent / "results"
N_IMAGES = 2048
NETS = {"F1": {}, "CNN": {"channels": (8, 16), "hidden": (128,), "dropout": 0.0}}


def dataset(n_train: int = N_IMAGES) -> gu.data.Dataset:
    return gu.data.load("fashion-mnist", n_train=n_train, n_test=2048)


def network(name: str = "F1", batch_size: int = 128, epochs: float = 3,
            ds: gu.data.Dataset | None = None) -> tuple[torch.nn.Module, tuple]:
    """``name`` in NETS, trained with Adam 1e-3 at ``batch_size`` for ``epochs`` on the
    benchmark's images (cached); returns the network in eval mode and its data (x, y)."""
    ds = ds or dataset()
    torch.manual_seed(0)
    model = "F1" if name == "F1" else "C1"
    net = gu.models.build(model, ds.input_shape, ds.num_classes, **NETS[name]).to(gu.device())
    config = gu.train.TrainConfig(batch_size=batch_size, lr=1e-3, epochs=epochs)
    gu.cache.fit_or_load(net, ds, config, tag="benchmark", progress=False)
    return net.eval(), ds.train


def curvature_network(name: str) -> tuple[torch.nn.Module, tuple]:
    """``network(name)`` with the data its curvature is measured on: all images for F1, half
    of them for the CNN (a CNN product costs about four F1 products on the CPU)."""
    net, data = network(name)
    if name == "CNN":
        data = (data[0][:N_IMAGES // 2], data[1][:N_IMAGES // 2])
    return net, data


def timed(fn, repeat: int = 1, sync: bool = True) -> tuple[float, list]:
    """Median wall-clock seconds of ``fn()`` over ``repeat`` runs (torch seeded 0, 1, ...)."""
    times, outs = [], []
    for i in range(repeat):
        torch.manual_seed(i)
        if sync and torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        outs.append(fn())
        if sync and torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), outs


def environment() -> dict:
    dev = gu.device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    return {"device": str(dev), "device_name": name, "torch": torch.__version__,
            "python": sys.version.split()[0], "date": date.today().isoformat()}


def save(name: str, result: dict) -> Path:
    """Write ``benchmarks/results/NAME.json``: the environment and ``result``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, **environment(), **result}, indent=1,
                               default=float))
    return path


def row(task: str, peer: str, ours: float, theirs: float | None, agreement: str,
        products: str = "", note: str = "") -> dict:
    """One line of the table: seconds for us and the peer, the ratio theirs / ours."""
    return {"task": task, "peer": peer, "ours_s": ours, "theirs_s": theirs,
            "ratio": None if theirs is None else theirs / ours, "agreement": agreement,
            "products": products, "note": note}


def missing(package: str) -> str:
    return f"{package} not installed (pip install -e \".[bench]\")"
