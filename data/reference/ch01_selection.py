"""How chapter 01's training settings were chosen, without looking at the test set.

Candidates (Adam, F1, the standard budget's 10,000 training images, SB 256 vs LB 1,000, 30
epochs) are compared on a validation set of 10,000 *other* Fashion-MNIST training images. The
criterion: among the candidates under which both batch sizes reach >= 99% training accuracy
on every seed, the one with the largest mean validation-accuracy gap SB - LB. Results go to
ch01_selection.json.

    python data/reference/ch01_selection.py [candidate ...]   # about 1.5 min per candidate, 2 cores
"""

import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import torch

import gaputils as gu
from gaputils.train import TrainConfig, fit

CANDIDATES = {
    "constant-1e-3": dict(lr=1e-3, schedule="constant"),
    "cosine-1e-3": dict(lr=1e-3, schedule="cosine"),
    "cosine-3e-3": dict(lr=3e-3, schedule="cosine"),
    "step-1e-3": dict(lr=1e-3, schedule="step", milestones=(22,)),
}
N, N_VAL, EPOCHS, SEEDS, BATCHES = 10_000, 10_000, 30, (0, 1), (256, 1000)


def split() -> gu.data.Dataset:
    full = gu.data.load("fashion-mnist", device="cpu")
    perm = torch.randperm(60_000, generator=torch.Generator().manual_seed(0))
    tr, va = perm[:N], perm[N:N + N_VAL]  # tr is exactly load(n_train=N, seed=0)'s subset
    x, y = full.train
    return gu.data.Dataset("fashion-mnist-val", (x[tr], y[tr]), (x[va], y[va]), 10,
                           full.classes, full.mean, full.std, full.source)


def main(names: list[str]) -> None:
    ds = split()
    out = Path(__file__).with_suffix(".json")
    results = json.loads(out.read_text())["results"] if out.exists() else {}
    for name in names:
        rows = []
        for seed in SEEDS:
            for bs in BATCHES:
                torch.manual_seed(seed)
                net = gu.models.build("F1", ds.input_shape, 10)
                cfg = TrainConfig(batch_size=bs, epochs=EPOCHS, seed=seed, eval_every=10 ** 6,
                                  **CANDIDATES[name])
                f = fit(net, ds, cfg, progress=False).final()
                rows.append({"seed": seed, "batch_size": bs, "train_acc": f["train_acc"],
                             "val_acc": f["test_acc"]})
                print(name, rows[-1], flush=True)
        results[name] = rows
        out.write_text(json.dumps({
            "command": "python data/reference/ch01_selection.py " + " ".join(names),
            "device": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "date": str(date.today()),
            "mode": "standard-budget subset, validation split", "results": results,
            "candidates": {k: v for k, v in CANDIDATES.items() if k in results},
        }, indent=1))


if __name__ == "__main__":
    t = time.time()
    main(sys.argv[1:] or list(CANDIDATES))
    print(f"{time.time() - t:.0f} s")
