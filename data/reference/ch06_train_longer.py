"""Hoffer et al.'s remedies on the standard testbed with eight seeds (chapter 06).

Regime adaptation trains LB for as many steps as SB, about 16 times plain LB's, so every
combination of it over eight seeds takes longer than a chapter's ten minutes. This script runs
the chapter's code (``gu.study.run`` on ``gu.study.hoffer_arms``, evaluated 10 times per run,
learning curves and weight distances kept for seeds 0-2) one seed at a time, writing each seed's
result to ``/tmp/ch06_parts`` as it finishes, so the seeds can be split over processes:

    GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py run --seeds 0 2 4 6 &
    GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py run --seeds 1 3 5 7 &
    wait; GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py merge

(each process on one thread; 86 min on 2 cores). ``merge`` joins the parts into
``gaputils/results/ch06_train_longer.json``, which the chapter shows beside its live result.
"""

import argparse
import json
import time
from pathlib import Path

import torch

import gaputils as gu

PARTS = Path("/tmp/ch06_parts")
EVALS, CURVE_SEEDS = 10, (0, 1, 2)
OUT = Path(__file__).parents[2] / "gaputils" / "results" / "ch06_train_longer.json"


def run(seeds, threads: int) -> None:
    torch.set_num_threads(threads)
    setting = gu.testbed.get()
    PARTS.mkdir(exist_ok=True)
    for seed in seeds:
        t0 = time.time()
        res = gu.study.run(gu.study.hoffer_arms(setting), (seed,), (), setting=setting,
                           progress=True, evals=EVALS, curve_seeds=CURVE_SEEDS)
        res["wall_seconds"] = round(time.time() - t0)
        (PARTS / f"seed{seed}.json").write_text(json.dumps(res))
        print(f"seed {seed} done after {res['wall_seconds']} s", flush=True)


def merge(threads: int) -> None:
    parts = [json.loads(p.read_text()) for p in sorted(PARTS.glob("seed*.json"))]
    res = gu.study.merge(*parts)
    res |= {"command": "GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py "
                       "run --seeds ... (two processes), then merge",
            "mode": gu.mode(), **gu.reference.stamp(f"{threads} thread(s) per process"),
            "wall_seconds": sum(p["wall_seconds"] for p in parts), "evals": EVALS}
    OUT.write_text(json.dumps(res, indent=1))
    print(f"wrote {OUT}: seeds {res['seeds']}")


def main() -> None:
    if gu.mode() != "standard":
        raise SystemExit("run with GAPUTILS_MODE=standard (the reference is of that testbed)")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("run", "merge"))
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    run(args.seeds, args.threads) if args.what == "run" else merge(args.threads)


if __name__ == "__main__":
    main()
