"""Hoffer et al.'s remedies with eight seeds, in both of chapter 06's regimes.

Regime adaptation trains LB for as many steps as SB, about 16 times plain LB's, so every
combination of it over eight seeds takes longer than a chapter's ten minutes. This script runs
the chapter's code (``gu.study.run``, evaluated 10 times per run, learning curves and weight
distances kept for seeds 0-2) one seed at a time, on one thread per process, and writes each
seed's result as it finishes to ``data/reference/parts/ch06_<regime>/<arms>/seed<k>.json``
(committed and resumable, ``_parts``):

    # the testbed (gaputils/results/ch06_train_longer.json; 86 min on 2 cores for all arms)
    GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py run --seeds 0 2 4 6 &
    GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py run --seeds 1 3 5 7 &
    wait; GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py merge

    # Hoffer's regime (gaputils/results/ch06_hoffer_regime.json): the same with --regime hoffer

``--arms NAME ...`` trains only the arms named (by id, as ``LB_GBN16``; plain SB and LB are
trained too, to pair with); ``merge`` then adds those arms to the committed result, keeping its
SB, LB and other arms, and records the addition's command, machine and time under
``"additions"``.
"""

import argparse
from pathlib import Path

import _parts

import gaputils as gu

EVALS, CURVE_SEEDS = 10, (0, 1, 2)
REGIMES = {"testbed": ("ch06_train_longer", gu.testbed.get, None),
           "hoffer": ("ch06_hoffer_regime", gu.testbed.hoffer, gu.arms.HOFFER_REGIME_ARMS)}


def arms_of(regime: str, names: list[str] | None):
    _, setting_of, default = REGIMES[regime]
    setting = setting_of()
    return setting, gu.arms.hoffer_arms(setting, names=tuple(names) if names else default)


def folder(regime: str, names: list[str] | None) -> Path:
    tag = "all" if not names else "+".join(sorted(names))  # arm ids: no spaces
    return _parts.PARTS / f"ch06_{regime}" / tag


def run(regime: str, seeds, names, threads: int) -> None:
    setting, arms = arms_of(regime, names)
    _parts.run(folder(regime, names), seeds,
               lambda seed: gu.study.run(arms, (seed,), (), setting=setting, progress=True,
                                         evals=EVALS, curve_seeds=CURVE_SEEDS), threads)


def merge(regime: str, names, threads: int) -> None:
    name, _, _ = REGIMES[regime]
    parts = _parts.load(folder(regime, names))
    res = gu.study.merge(*parts)
    command = (f"GAPUTILS_MODE=standard python data/reference/ch06_train_longer.py run "
               f"--regime {regime}{' --arms ...' if names else ''} --seeds ... "
               f"(processes of {threads} thread(s)), then merge")
    info = {"command": command, "mode": gu.mode(),
            **gu.reference.stamp(f"{threads} thread(s) per process"),
            "wall_seconds": sum(p["wall_seconds"] for p in parts), "evals": EVALS}
    out = _parts.ROOT / "gaputils" / "results" / f"{name}.json"
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
