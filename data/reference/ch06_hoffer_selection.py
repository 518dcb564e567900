"""How the epoch budget of Hoffer's regime was chosen, without looking at the test set (chapter 06).

Hoffer's regime (``gu.testbed.hoffer``) is fixed, apart from its epochs, by the rule in its
docstring: the testbed's network, optimizer, learning rate, schedule and SB (32); 5,000 training
images, the smallest multiple of 1,000 at which the testbed's LB of 500 is at most 10% of the set
(Hoffer et al.'s 4,096 of 50,000 is 8%); every batch augmented as chapter 05 augments (random
shifts of up to 2 pixels, zero padding, and horizontal flips - Hoffer et al.'s code pads, crops
and flips); the gradient norm clipped at 5 for every arm; ghost batches of SB's 32.

The rule for the epoch budget E, fixed before this study ran:
1. eligible: at E epochs, plain LB's training accuracy (on the un-augmented training images,
   mean over seeds 100 and 101) stays at least 2 points below plain SB's - LB has had too few
   updates, the regime regime adaptation is meant for - and the reference run of chapter 06 in
   this regime fits 2 hours on 2 cores, estimated from these runs' seconds as 8 seeds x (SB + 4
   non-adapted LB arms + 5 regime-adapted arms of |B_L| / |B_S| LB runs each), on two processes;
2. chosen: the largest eligible E of CANDIDATES (more epochs: nearer the well-trained networks
   of the papers).
Runs are evaluated on a validation set of the last 10,000 images of the training-set permutation
(as chapter 01's selection), never on the test set; seeds 100 and 101 are used nowhere else.

    python data/reference/ch06_hoffer_selection.py    # about 10 minutes, one thread
"""

import json
import statistics
import time
from pathlib import Path

import torch
from ch01_selection import split

import gaputils as gu
from gaputils.train import fit

CANDIDATES = (5, 10, 20)
SEEDS = (100, 101)
MARGIN, HOURS = 0.02, 2.0
OUT = Path(__file__).parents[2] / "gaputils" / "results" / "ch06_hoffer_selection.json"


def estimate_hours(sb_s: float, lb_s: float, ratio: float) -> float:
    """The reference run's wall-clock hours on two processes (rule 1)."""
    per_seed = sb_s + 4 * lb_s + 5 * ratio * lb_s
    return 8 * per_seed / 2 / 3600


def main() -> None:
    torch.set_num_threads(1)  # as each of the reference run's two processes
    base = gu.testbed.hoffer("standard").replace(seeds=SEEDS)
    ds = split(base.n_train)
    rows = []
    for epochs in CANDIDATES:
        setting = base.replace(epochs=epochs)
        for seed in SEEDS:
            for bs in (setting.sb, setting.lb):
                cfg = setting.config(bs, seed, eval_every=10 ** 6)
                torch.manual_seed(seed)
                t = time.perf_counter()
                f = fit(setting.build(ds), ds, cfg, progress=False).final()
                rows.append({"epochs": epochs, "seed": seed, "batch_size": bs,
                             "train_acc": f["train_acc"], "val_acc": f["test_acc"],
                             "seconds": round(time.perf_counter() - t, 1)})
                print({k: v for k, v in rows[-1].items() if k != "val_acc"}, flush=True)
    verdicts = {}
    for epochs in CANDIDATES:
        mean = lambda bs, key: statistics.fmean(r[key] for r in rows
                                                if r["epochs"] == epochs and r["batch_size"] == bs)
        behind = mean(base.sb, "train_acc") - mean(base.lb, "train_acc")
        hours = estimate_hours(mean(base.sb, "seconds"), mean(base.lb, "seconds"),
                               base.lb / base.sb)
        verdicts[epochs] = {"lb_behind_sb": behind, "hours": hours,
                            "eligible": behind >= MARGIN and hours <= HOURS}
        verdict = "eligible" if verdicts[epochs]["eligible"] else "out"
        print(f"E = {epochs}: LB's training accuracy {100 * behind:+.2f} points behind SB's; "
              f"reference about {hours:.1f} h -> {verdict}")
    chosen = max((e for e, v in verdicts.items() if v["eligible"]), default=None)
    print(f"chosen: E = {chosen}")
    OUT.write_text(json.dumps({
        "command": "python data/reference/ch06_hoffer_selection.py", **gu.reference.stamp(),
        "rule": __doc__.split("fixed before this study ran:")[1].split("Runs are")[0].strip(),
        "setting": base.describe(), "results": rows,
        "verdicts": {str(k): v for k, v in verdicts.items()}, "chosen": chosen}, indent=1))


if __name__ == "__main__":
    main()
