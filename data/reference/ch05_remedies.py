"""Keskar et al.'s remedies on the standard testbed with sixteen seeds (chapter 05).

The chapter trains every remedy with the seeds its time budget allows; a fraction of a gap of
under a point needs more pairs than that. This script runs the same code (``gu.study.run``) with
seeds 0-15 - plain SB and LB, every arm of ``gu.arms.keskar_arms`` and the SB controls of the
adversarial remedies - and measures lambda_max and Keskar's sharpness on seeds 0-4. Like the
other references it trains on one thread per process, so that its SB and LB networks are those
of chapters 06's and 07's references (the same seeds give other networks on two threads). One
part per seed in ``data/reference/parts/ch05_testbed/`` (committed and resumable, ``_parts``);
``merge`` writes ``gaputils/results/ch05_remedies.json``, which the chapter shows beside its
live result, labelled with the device and date:

    export GAPUTILS_MODE=standard GAPUTILS_CACHE=/tmp/one-thread-cache  # no other threads' runs
    python data/reference/ch05_remedies.py run --seeds 0 2 4 6 8 10 12 14 &
    python data/reference/ch05_remedies.py run --seeds 1 3 5 7 9 11 13 15 &
    wait; python data/reference/ch05_remedies.py merge

Each seed takes several minutes of one core's time, more for the five with curvature. The
committed result holds the seeds whose parts are done (``merge`` takes them all); run the same
commands again to add the rest.

``--binding`` trains only conservative training whose proximal term binds
(``gu.arms.binding_proximal``: lambda = 20, lambda x lr = 2; plain SB and LB are trained too, to
pair with) into ``parts/ch05_testbed/binding``, on the seeds of the committed result; ``merge
--binding`` adds that arm to it, recording the addition.
"""

import argparse

import _parts

import gaputils as gu

SEEDS, MEASURED = tuple(range(16)), tuple(range(5))
FOLDER = _parts.PARTS / "ch05_testbed"


def arms_of(binding: bool) -> tuple[gu.testbed.Setting, list, object]:
    setting = gu.testbed.get()
    if binding:
        return setting, [gu.arms.binding_proximal(setting)], FOLDER / "binding"
    return setting, gu.arms.keskar_arms(setting, controls=True), FOLDER


def run(seeds, threads: int, binding: bool = False) -> None:
    setting, arms, folder = arms_of(binding)
    _parts.run(folder, seeds, lambda seed: gu.study.run(
        arms, (seed,), tuple(s for s in (seed,) if s in MEASURED), setting=setting,
        progress=True), threads)


def merge(threads: int, binding: bool = False) -> None:
    _, arms, folder = arms_of(binding)
    parts = _parts.load(folder)
    res = gu.study.merge(*parts)
    flag = " --binding" if binding else ""
    info = {"command": "GAPUTILS_MODE=standard python data/reference/ch05_remedies.py run"
                       f"{flag} --seeds ... (processes of {threads} thread(s)), then merge{flag}",
            "mode": gu.mode(), **gu.reference.stamp(f"{threads} thread(s) per process"),
            "threads": threads, "wall_seconds": sum(p["wall_seconds"] for p in parts)}
    out = _parts.ROOT / "gaputils" / "results" / "ch05_remedies.json"
    res = gu.reference.write_result(out, res, info, [a.name for a in arms] if binding else None)
    print(f"wrote {out}: seeds {res['seeds']}, {len(res['arms'])} arms")


def main() -> None:
    if gu.mode() != "standard":
        raise SystemExit("run with GAPUTILS_MODE=standard (the reference is of that testbed)")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("run", "merge"))
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--binding", action="store_true",
                   help="only the binding proximal term (gu.arms.binding_proximal)")
    args = p.parse_args()
    if args.what == "run":
        run(args.seeds, args.threads, args.binding)
    else:
        merge(args.threads, args.binding)


if __name__ == "__main__":
    main()
