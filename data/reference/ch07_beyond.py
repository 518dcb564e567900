"""Chapter 07's experiments on the standard testbed with six seeds.

Three parts, each the chapter's own code with more seeds than its ten minutes allow:

- ``run --seeds ...``: SAM and ASAM at SB and LB, and the learning-rate rules (unchanged,
  square root, linear with warm-up) at every batch size of ``budget.scaling_sizes``
  (``gu.study.run`` on ``gu.arms.beyond_arms``, lambda_max and sharpness measured for every
  seed), then SB and LB of the tiny ViT (``gu.testbed.vit``, measured too); one file per seed
  in ``/tmp/ch07_parts``, so the seeds can be split over processes;
- ``control``: the ViT's experiment with Keskar's F1 in place of the ViT, for every seed;
- ``critical``: steps to the target training loss at every batch size of
  ``budget.critical_sizes``, each with its tuned learning rate (``gu.scaling.steps_to_target``,
  seeds 0-2 together), and the gradient noise scale along SB runs (``gu.scaling.noise_along``,
  seeds 0-2);
- ``merge``: everything into ``gaputils/results/ch07_beyond.json``.

    GAPUTILS_MODE=standard python data/reference/ch07_beyond.py run --seeds 0 2 4 &
    GAPUTILS_MODE=standard python data/reference/ch07_beyond.py run --seeds 1 3 5 &&
    GAPUTILS_MODE=standard python data/reference/ch07_beyond.py critical
    GAPUTILS_MODE=standard python data/reference/ch07_beyond.py control
    wait; GAPUTILS_MODE=standard python data/reference/ch07_beyond.py merge

(each process on one thread).
"""

import argparse
import json
import time
from pathlib import Path

import torch

import gaputils as gu

PARTS = Path("/tmp/ch07_parts")
CRITICAL_SEEDS, NOISE_SEEDS = (0, 1, 2), (0, 1, 2)
OUT = Path(__file__).parents[2] / "gaputils" / "results" / "ch07_beyond.json"


def run(seeds) -> None:
    budget = gu.budget()
    setting = budget.testbed
    arms = gu.arms.beyond_arms(setting, budget.scaling_sizes)
    for seed in seeds:
        t0 = time.time()
        res = {"study": gu.study.run(arms, (seed,), (seed,), setting=setting, progress=True),
               "vit": gu.study.run([], (seed,), (seed,), setting=budget.vit, progress=True)}
        res["wall_seconds"] = round(time.time() - t0)
        (PARTS / f"seed{seed}.json").write_text(json.dumps(res))
        print(f"seed {seed} done after {res['wall_seconds']} s", flush=True)


def control(seeds) -> None:
    f1 = gu.budget().vit.replace(name="F1 control", model="F1")
    t0 = time.time()
    res = gu.study.run([], seeds, seeds, setting=f1, progress=True)
    res["wall_seconds"] = round(time.time() - t0)
    (PARTS / "control.json").write_text(json.dumps(res))
    print(f"F1 control done after {res['wall_seconds']} s", flush=True)


def critical() -> None:
    budget = gu.budget()
    setting = budget.testbed.replace(n_test=256)  # the test set plays no part here
    ds = setting.load()
    t0 = time.time()
    res = gu.scaling.critical_batch(ds, budget.critical_sizes, CRITICAL_SEEDS, budget.target_loss,
                                    NOISE_SEEDS, budget.noise_levels, setting=setting,
                                    max_epochs=budget.critical_epochs)
    res["wall_seconds"] = round(time.time() - t0)
    (PARTS / "critical.json").write_text(json.dumps(res))
    print(f"critical batch size done after {res['wall_seconds']} s", flush=True)


def merge(threads: int) -> None:
    parts = [json.loads(p.read_text()) for p in sorted(PARTS.glob("seed*.json"))]
    crit = json.loads((PARTS / "critical.json").read_text())
    f1 = json.loads((PARTS / "control.json").read_text())
    res = {"study": gu.study.merge(*[p["study"] for p in parts]),
           "vit": gu.study.merge(*[p["vit"] for p in parts]), "f1": f1, "critical": crit,
           "command": "GAPUTILS_MODE=standard python data/reference/ch07_beyond.py run --seeds "
                      "... (two processes), critical, then merge",
           "mode": gu.mode(), **gu.reference.stamp(f"{threads} thread(s) per process"),
           "wall_seconds": sum(p["wall_seconds"] for p in parts) + crit["wall_seconds"]
           + f1["wall_seconds"]}
    OUT.write_text(json.dumps(res, indent=1))
    print(f"wrote {OUT}: seeds {res['study']['seeds']}")


def main() -> None:
    if gu.mode() != "standard":
        raise SystemExit("run with GAPUTILS_MODE=standard (the reference is of that testbed)")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("run", "control", "critical", "merge"))
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    PARTS.mkdir(exist_ok=True)
    {"run": lambda: run(args.seeds), "control": lambda: control(args.seeds),
     "critical": critical,
     "merge": lambda: merge(args.threads)}[args.what]()


if __name__ == "__main__":
    main()
