"""A grid of training runs, as every chapter trains them: the testbed's network (standard mode,
2,000 images, 40 epochs) at SB and LB for several seeds. gaputils' ``runs.train_runs`` - on a
CPU one run per core in worker processes, one thread each (``gaputils.workers``), the workers'
start included - against the same runs one after another in one process on torch's default
threads, as a loop over ``train.fit`` (or gaputils before 0.2) trains them. Each side trains
into an empty cache of its own. Agreement: the runs' test accuracies; ours are the networks a run
trained alone on one thread gives (tested), theirs differ in the last digits (another thread
count changes the sums).
"""

from __future__ import annotations

import os
import tempfile
import time
from unittest import mock

import torch

import gaputils as gu

from .common import row


def run(quick: bool = False) -> tuple[list[dict], dict]:
    setting = gu.testbed.get("standard")
    ds = setting.load()
    seeds = (0,) if quick else (0, 1)
    epochs = 4 if quick else setting.epochs
    grid = [(b, s) for s in seeds for b in (setting.sb, setting.lb)]
    with tempfile.TemporaryDirectory() as folder, mock.patch.dict(os.environ,
                                                                   GAPUTILS_CACHE=folder):
        gu.workers.shutdown()  # the workers' start counts
        t = time.perf_counter()
        ours = gu.runs.train_runs(ds, [setting.sb, setting.lb], seeds, setting=setting,
                                  epochs=epochs, progress=False)
        t_ours = time.perf_counter() - t
    t = time.perf_counter()
    theirs = []
    for b, s in grid:
        torch.manual_seed(s)
        net = setting.build(ds)
        cfg = setting.config(b, s, n_train=len(ds.train[1]), epochs=epochs)
        theirs.append(gu.train.fit(net, ds, cfg, progress=False).final()["test_acc"])
    t_theirs = time.perf_counter() - t
    mine = [r.final["test_acc"] for r in ours]
    agree = "test acc " + ", ".join(f"{a:.4f} / {b:.4f}" for a, b in zip(mine, theirs,
                                                                           strict=True))
    note = (f"{len(grid)} runs (B = {setting.sb}, {setting.lb}; seeds {list(seeds)}; {epochs:g} "
            f"epochs); ours on {min(gu.workers.count(), len(grid))} workers of one thread, theirs "
            f"on {torch.get_num_threads()} threads")
    rows = [row("grid of testbed runs", "one process, in turn", t_ours, t_theirs, agree,
                note=note)]
    return rows, {"ours_s": t_ours, "theirs_s": t_theirs, "ours_test_acc": mine,
                  "theirs_test_acc": theirs, "grid": grid, "epochs": epochs}
