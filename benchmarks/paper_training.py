"""The trainings of chapter 01 in paper mode, timed run by run on this device in a fresh cache.

    python benchmarks/paper_training.py --cache /tmp/paper-cache --limit 300 --out times.json

Chapter 01's paper mode trains the testbed (ten seeds), Keskar et al.'s F1 procedure at the
paper's size (60,000 images, 100 epochs, five seeds) and a batch-size sweep; everything later
chapters train starts from these. The runs go in the order that measures each (setting, batch
size) once before any is repeated, so that a run cut off by ``--limit`` seconds still gives a
time for every kind of run; the total of the runs not reached is then estimated from the
measured run of the same kind, and the output says which numbers are estimates. This times the
training only, not the notebook (its measurements and figures come on top).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def planned(b) -> list[tuple[str, object, int, int, dict]]:
    """(kind, setting, batch size, seed, overrides) of every training of chapter 01, each kind's
    first seed first."""
    tb, ks = b.testbed, b.keskar
    grid = ([("testbed", tb, bs, s, {}) for s in tb.seeds for bs in (tb.sb, tb.lb)]
            + [("Keskar F1", ks, bs, s, {}) for s in ks.seeds for bs in (ks.sb, ks.lb)]
            + [("sweep", tb, bs, s, {"epochs": b.sweep_epochs}) for s in b.sweep_seeds
               for bs in b.batch_sizes])
    first = {}
    for item in grid:
        first.setdefault((item[0], item[2]), item)
    return list(first.values()) + [x for x in grid if x not in first.values()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, help="an empty folder for the trained runs")
    parser.add_argument("--limit", type=float, default=float("inf"),
                        help="stop starting runs after this many seconds")
    parser.add_argument("--out", help="write the times here (JSON)")
    args = parser.parse_args(argv)
    os.environ["GAPUTILS_CACHE"], os.environ["GAPUTILS_MODE"] = args.cache, "paper"
    import torch

    import gaputils as gu

    gu.setup(0, verbose=False)
    b = gu.budget("paper")
    data, rows, start = {}, [], time.perf_counter()
    for kind, setting, bs, seed, over in planned(b):
        if time.perf_counter() - start > args.limit:
            rows.append({"kind": kind, "batch": bs, "seed": seed, "seconds": None})
            continue
        ds = data.setdefault(setting.name, setting.load())
        t = time.perf_counter()
        (run,) = gu.runs.train_runs(ds, [bs], [seed], setting=setting, progress=False, **over)
        if gu.device().type == "cuda":
            torch.cuda.synchronize()
        rows.append({"kind": kind, "batch": bs, "seed": seed,
                     "seconds": time.perf_counter() - t, "test_acc": run.final["test_acc"]})
        print(f"{kind:10} B={bs:<5} seed {seed}: {rows[-1]['seconds']:7.1f} s", flush=True)
    measured = {(r["kind"], r["batch"]): r["seconds"] for r in rows if r["seconds"] is not None}
    missing = [r for r in rows if r["seconds"] is None]
    total = sum(r["seconds"] for r in rows if r["seconds"] is not None)
    estimate = total + sum(measured.get((r["kind"], r["batch"]), float("nan")) for r in missing)
    print(f"{gu.device()}: {len(rows) - len(missing)} of {len(rows)} runs in {total:.0f} s; "
          + (f"all {len(rows)} estimated at {estimate:.0f} s from the measured run of each kind"
             if missing else "all measured"))
    if args.out:
        Path(args.out).write_text(json.dumps(
            {"device": str(gu.device()), "torch": torch.__version__,
             "rows": rows, "measured_s": total, "estimated_total_s": estimate,
             "runs_not_reached": len(missing)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
