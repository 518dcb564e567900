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
  seeds 0-2 together; BatchNorm statistics recomputed before each check, the crossing
  interpolated between checks), and the gradient noise scale along SB runs
  (``gu.scaling.noise_along``, seeds 0-2, all 2,000 images); with a committed result it
  replaces that result's ``critical`` (the first measurement, made with running statistics and
  rounded steps, stays as ``critical_before``);
- ``noise``: only the noise scale of a committed ``critical`` again (its earlier values stay as
  ``critical["noise_before"]``); since the estimator is told the population (``population=``,
  all 2,000 images), B_simple is the noise of the training set's own gradient;
- ``merge``: everything into ``gaputils/results/ch07_beyond.json``;
- ``more --seeds 6 ... 15``, ``more --controls --seeds 0 ... 7``, then ``add``: more seeds of
  plain SB and LB and the SAM arms (their accuracy only; they cost seconds, and six seeds
  cannot tell a third of the gap after Holm's correction), and SAM's controls at LB
  (``gu.arms.sam_controls``: other radii, LB for twice the epochs); one part per seed in
  ``data/reference/parts/ch07_sam/`` (committed and resumable, ``_parts``), added to the
  committed result's arms and recorded under ``"additions"`` (``add`` again adds only the parts
  made since; the controls' seeds 8-15 came that way). Their SB and LB networks are
  those of chapter 05's and 06's references (same seeds, one thread per process): ``add``
  checks it.

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

import _parts
import torch

import gaputils as gu

PARTS = Path("/tmp/ch07_parts")
MORE = _parts.PARTS / "ch07_sam"
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
    if OUT.exists():  # a committed reference: the new measurement replaces its own
        ref = json.loads(OUT.read_text())
        if not ref["critical"].get("fresh_bn"):  # kept: the chapter says how far B_crit moved
            ref["critical_before"] = ref["critical"] | {
                "how": "BatchNorm running statistics at each check, steps rounded up to the "
                       "next check (a quarter epoch), B_simple on 1,000 of the 2,000 images"}
        ref["critical"] = res
        _record(ref, "critical", CRITICAL_SEEDS, "critical", res["wall_seconds"])
        print(f"replaced the critical batch size of {OUT}", flush=True)


def _record(ref: dict, part: str, seeds, command: str, seconds: float) -> None:
    """Write ``ref`` back to the committed result, with what was just re-made recorded under
    ``"additions"``: the part, its seeds, the command, machine, date and seconds."""
    ref.setdefault("additions", []).append({
        "arms": [part], "seeds": list(seeds),
        "command": f"GAPUTILS_MODE=standard python data/reference/ch07_beyond.py {command}",
        **gu.reference.stamp("1 thread"), "wall_seconds": round(seconds)})
    OUT.write_text(json.dumps(ref, indent=1))


def noise() -> None:
    """Re-measure only the committed result's noise scale along SB runs (seeds ``NOISE_SEEDS``,
    SB's tuned rate from its steps), e.g. after a change to how B_simple is estimated; the
    earlier values stay as ``critical["noise_before"]``."""
    budget = gu.budget()
    setting = budget.testbed.replace(n_test=256)
    ref = json.loads(OUT.read_text())
    crit = ref["critical"]
    t0 = time.time()
    lr = gu.scaling.best_steps(crit)[setting.sb]["lr"]
    new = gu.scaling.noise_runs(setting.load(), NOISE_SEEDS, budget.noise_levels, lr, setting,
                                budget.critical_epochs)
    crit["noise_before"] = {"noise": crit["noise"], "how": "the 2,000 images treated as a sample "
                            "of an unlimited distribution (tr(Sigma) / n taken off |G|^2)"}
    crit["noise"] = new
    _record(ref, "critical noise", NOISE_SEEDS, "noise", time.time() - t0)
    print(f"re-measured the noise scale of {OUT} in {round(time.time() - t0)} s", flush=True)


def more(seeds, threads: int, controls: bool) -> None:
    setting = gu.budget().testbed
    arms = (gu.arms.sam_controls(setting) if controls else
            [a for a in gu.arms.beyond_arms(setting, ()) if a.group == "sam"])
    _parts.run(MORE / ("controls" if controls else "seeds"), seeds,
               lambda seed: gu.study.run(arms, (seed,), (), setting=setting, progress=True),
               threads)


def add(threads: int) -> None:
    ref = json.loads(OUT.read_text())
    for kind in ("seeds", "controls"):
        parts = _parts.load(MORE / kind)
        names = [n for n in parts[0]["arms"] if n not in ("SB", "LB")]
        arms = ref["study"]["arms"]
        held = set.intersection(*(set(arms[n]["seeds"]) if n in arms else set() for n in names))
        parts = [p for p in parts if not set(p["seeds"]) <= held]  # an earlier add took these
        if not parts:
            print(f"{kind}: every part is in {OUT} already")
            continue
        added = gu.study.merge(*parts)
        ref["study"] = gu.study.extend(ref["study"], added, names)
        info = {"command": "GAPUTILS_MODE=standard python data/reference/ch07_beyond.py more "
                           f"{'--controls ' if kind == 'controls' else ''}--seeds ... "
                           "(processes of 1 thread), then add",
                **gu.reference.stamp(f"{threads} thread(s) per process"),
                "wall_seconds": sum(p["wall_seconds"] for p in parts)}
        ref.setdefault("additions", []).append(gu.reference.addition(added, names, info))
        print(f"added {ref['additions'][-1]['seeds']} of {names} to {OUT}")
    OUT.write_text(json.dumps(ref, indent=1))


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
    p.add_argument("what", choices=("run", "control", "critical", "noise", "merge", "more",
                                    "add"))
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--controls", action="store_true", help="more: SAM's controls at LB")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    PARTS.mkdir(exist_ok=True)
    {"run": lambda: run(args.seeds), "control": lambda: control(args.seeds),
     "critical": critical, "noise": noise,
     "more": lambda: more(args.seeds, args.threads, args.controls),
     "add": lambda: add(args.threads), "merge": lambda: merge(args.threads)}[args.what]()


if __name__ == "__main__":
    main()
