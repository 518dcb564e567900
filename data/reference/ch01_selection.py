"""How the book's testbed was chosen, without looking at the test set (chapter 01).

Candidates: Keskar's convolutional network C1 made narrow (conv 8 and 16 channels, one dense
layer of 128, BatchNorm, no dropout) on a subset of the Fashion-MNIST training set, SGD with
momentum 0.9, the same learning rate (0.1) for SB and LB, a cosine schedule; they differ in
training images, SB, LB, epochs and weight decay (CANDIDATES). Each is trained with seeds 100,
101 and 102 (SB and LB of a seed from the same initial weights) and evaluated on a validation
set of the last 10,000 images of the training-set permutation, which no training subset of the
book uses.

The rule, fixed before the study ran:
1. eligible: SB and LB reach >= 99% training accuracy on every seed, and the five seeds of the
   standard chapter fit its time (mean seconds of one SB + LB pair x 5 <= 300 s on 2 cores);
2. chosen: among eligible candidates, the largest lower end of the 95% paired t-interval of the
   validation-accuracy difference SB - LB.
The chapter then reports the chosen candidate on the test set with seeds 0-9 (0-4 when the study
ran; raised to ten later, see the chapter), never used here.

Before the study, single-seed screening runs (seeds 100 and 101) ruled out F1 (differences of
-0.3 to +0.6 points with Adam or SGD, 2,000 to 10,000 images, LB up to 25% of the set) and
pointed to a convolutional network, weight decay and a small training set. Round 1 (2,000
images, 40 epochs) found no eligible candidate above 1 point: at 40 epochs LB = 1,000 does not
fit. Round 2 (1,000 images, 80 epochs: more steps in the same time) was added after round 1,
under the same rule, which is applied to both rounds together. Seconds are wall-clock on a
shared 2-core machine: the seed-100 SB run of n1k-sb32-lb250 (55.5 s, against 30-33 s for the
other seeds) overlapped with another process, which put that candidate 0.3 s over the limit;
the rule was applied as written all the same.

    python data/reference/ch01_selection.py [candidate ...]   # about 10 min per round, 2 cores
"""

import json
import sys
import time
from pathlib import Path

import torch

import gaputils as gu
from gaputils.train import fit

BASE = gu.testbed.get("standard").replace(seeds=(100, 101, 102))
R1, R2 = dict(n_train=2000, epochs=40, weight_decay=5e-4), dict(n_train=1000, epochs=80)
CANDIDATES = {  # round 1
    "sb32-lb500": R1 | dict(sb=32, lb=500),
    "sb32-lb1000": R1 | dict(sb=32, lb=1000),
    "sb16-lb500": R1 | dict(sb=16, lb=500),
    "sb16-lb1000": R1 | dict(sb=16, lb=1000),
    "sb32-lb1000-wd1e-3": R1 | dict(sb=32, lb=1000, weight_decay=1e-3),
} | {  # round 2
    "n1k-sb32-lb250": R2 | dict(sb=32, lb=250, weight_decay=5e-4),
    "n1k-sb16-lb250": R2 | dict(sb=16, lb=250, weight_decay=5e-4),
    "n1k-sb16-lb500": R2 | dict(sb=16, lb=500, weight_decay=5e-4),
    "n1k-sb16-lb250-wd1e-3": R2 | dict(sb=16, lb=250, weight_decay=1e-3),
}
N_VAL = 10_000


def split(n: int) -> gu.data.Dataset:
    """The training subset of ``gu.data.load(n_train=n)`` and the validation images."""
    full = gu.data.load("fashion-mnist", device="cpu")
    perm = torch.randperm(60_000, generator=torch.Generator().manual_seed(0))
    tr, va = perm[:n], perm[-N_VAL:]
    x, y = full.train
    return gu.data.Dataset("fashion-mnist-val", (x[tr], y[tr]), (x[va], y[va]), 10,
                           full.classes, full.mean, full.std, full.source)


def main(names: list[str]) -> None:
    out = Path(__file__).parents[2] / "gaputils" / "results" / "ch01_selection.json"
    old = json.loads(out.read_text()) if out.exists() else {}
    results, commands = old.get("results", {}), old.get("commands", [])
    commands.append("python data/reference/ch01_selection.py " + " ".join(names))
    done: dict[tuple, dict] = {}  # runs shared by candidates (same batch, seed, optimizer)
    for name in names:
        setting = BASE.replace(**CANDIDATES[name])
        ds = split(setting.n_train)
        rows = []
        for seed in setting.seeds:
            for bs in (setting.sb, setting.lb):
                cfg = setting.config(bs, seed, eval_every=10 ** 6)
                key = (setting.n_train, cfg)
                if key not in done:
                    torch.manual_seed(seed)
                    t = time.perf_counter()
                    f = fit(setting.build(ds), ds, cfg, progress=False).final()
                    done[key] = {"train_acc": f["train_acc"], "val_acc": f["test_acc"],
                                 "seconds": round(time.perf_counter() - t, 1)}
                rows.append({"seed": seed, "batch_size": bs, **done[key]})
                print(name, rows[-1], flush=True)
        results[name] = rows
        out.write_text(json.dumps({
            "commands": commands,
            **gu.reference.stamp(),
            "mode": "standard testbed size, validation split", "rule": __doc__.split(
                "The rule, fixed before the study ran:")[1].split("The chapter then")[0].strip(),
            "base": {k: getattr(BASE, k) for k in ("model", "optimizer", "lr", "momentum",
                                                    "schedule")} | dict(BASE.model_kwargs),
            "results": results,
            "candidates": {k: v for k, v in CANDIDATES.items() if k in results},
        }, indent=1))


if __name__ == "__main__":
    t0 = time.time()
    main(sys.argv[1:] or list(CANDIDATES))
    print(f"{time.time() - t0:.0f} s")
