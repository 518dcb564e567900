"""Hoffer et al.'s remedies with eight seeds, in both of chapter 06's regimes.

Regime adaptation trains LB for as many steps as SB, about 16 times plain LB's, so every
combination of it over eight seeds takes longer than a chapter's ten minutes. This script runs
the chapter's code (``gu.study.run``, evaluated 10 times per run, learning curves and weight
distances kept for seeds 0-2) one seed at a time, on one thread per process, and writes each
seed's result as it finishes to ``data/reference/parts/ch06_<regime>/<arms>/seed<k>.json`` -
committed, so that a run split over processes, machines or sessions resumes where it stopped
(a seed whose part exists is skipped, as is one that another process has claimed with a
``seed<k>.claimed`` file; delete a claim that a killed process left):

    # the testbed (gaputils/results/ch06_train_longer.json; 86 min on 2 cores for all arms)
    GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py run --seeds 0 2 4 6 &
    GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py run --seeds 1 3 5 7 &
    wait; GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py merge

    # Hoffer's regime (gaputils/results/ch06_hoffer_regime.json): the same with --regime hoffer

``--arms NAME ...`` trains only the arms named (plain SB and LB are trained too, to pair with);
``merge`` then adds those arms to the committed result, keeping its SB, LB and other arms, and
records the addition's command, machine and time under ``"additions"``.
"""

import argparse
import json
import time
from pathlib import Path

import torch

import gaputils as gu

ROOT = Path(__file__).parents[2]
EVALS, CURVE_SEEDS = 10, (0, 1, 2)
REGIMES = {"testbed": ("ch06_train_longer", gu.testbed.get, None),
           "hoffer": ("ch06_hoffer_regime", gu.testbed.hoffer, gu.arms.HOFFER_REGIME_ARMS)}


def arms_of(regime: str, names: list[str] | None):
    _, setting_of, default = REGIMES[regime]
    setting = setting_of()
    return setting, gu.arms.hoffer_arms(setting, names=tuple(names) if names else default)


def folder(regime: str, names: list[str] | None) -> Path:
    tag = "all" if not names else "+".join(sorted(names)).replace(" ", "").replace(",", "")
    return ROOT / "data" / "reference" / "parts" / f"ch06_{regime}" / tag


def run(regime: str, seeds, names, threads: int) -> None:
    torch.set_num_threads(threads)
    setting, arms = arms_of(regime, names)
    out = folder(regime, names)
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        part, claim = out / f"seed{seed}.json", out / f"seed{seed}.claimed"
        if part.exists():
            print(f"seed {seed}: {part} exists, skipped", flush=True)
            continue
        try:  # another process may be training this seed
            claim.open("x").close()
        except FileExistsError:
            print(f"seed {seed}: claimed by another process ({claim}), skipped", flush=True)
            continue
        t0 = time.time()
        res = gu.study.run(arms, (seed,), (), setting=setting, progress=True, evals=EVALS,
                           curve_seeds=CURVE_SEEDS)
        res["wall_seconds"] = round(time.time() - t0)
        res["threads"] = threads
        part.write_text(json.dumps(res))
        claim.unlink()
        print(f"seed {seed} done after {res['wall_seconds']} s", flush=True)


def merge(regime: str, names, threads: int) -> None:
    name, _, _ = REGIMES[regime]
    parts = [json.loads(p.read_text()) for p in sorted(folder(regime, names).glob("seed*.json"))]
    common = set.intersection(*(set(p["arms"]) for p in parts))
    extra = {n for p in parts for n in p["arms"]} - common
    if extra:  # parts run after an arm was added hold it too; it comes from its own folder
        print(f"merged without {sorted(extra)}, which only some parts have: merge them with "
              "--arms from their own parts")
        parts = [p | {"arms": {n: a for n, a in p["arms"].items() if n in common}}
                 for p in parts]
    res = gu.study.merge(*parts)
    command = (f"GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py run "
               f"--regime {regime}{' --arms ...' if names else ''} --seeds ... "
               f"(processes of {threads} thread(s)), then merge")
    info = {"command": command, "mode": gu.mode(),
            **gu.reference.stamp(f"{threads} thread(s) per process"),
            "wall_seconds": sum(p["wall_seconds"] for p in parts), "evals": EVALS}
    out = ROOT / "gaputils" / "results" / f"{name}.json"
    res = gu.reference.write_result(out, res, info, names)
    print(f"wrote {out}: seeds {res['seeds']}, {len(res['arms'])} arms")


def main() -> None:
    if gu.mode() != "standard":
        raise SystemExit("run with GAPUTILS_MODE=standard (the reference is of that mode)")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("run", "merge"))
    p.add_argument("--regime", choices=tuple(REGIMES), default="testbed")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--arms", nargs="+", default=None, help="only these arms (names)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.what == "run":
        run(args.regime, args.seeds, args.arms, args.threads)
    else:
        merge(args.regime, args.arms, args.threads)


if __name__ == "__main__":
    main()
