"""Keskar et al.'s remedies on the standard testbed with twelve seeds (chapter 05).

The chapter trains every remedy with the seeds its time budget allows; a fraction of a gap of
under a point needs more pairs than that. This script runs the same code (``gu.study``) with
seeds 0-11 - plain SB and LB and every arm of ``gu.arms.keskar_arms`` - and measures lambda_max
and Keskar's sharpness on seeds 0-4. It writes ``gaputils/results/ch05_remedies.json``, which the
chapter shows beside its live result, labelled with the device and date.

    GAPUTILS_MODE=standard python data/reference/ch05_remedies.py   # about 50 min on 2 cores

``--controls`` trains only the SB controls of the adversarial remedies (SB + FGSM, SB + PGD) and
adds them to the committed result, keeping its other arms.
"""

import argparse
import time
from pathlib import Path

import gaputils as gu

SEEDS, MEASURED = tuple(range(12)), tuple(range(5))


CONTROLS = ("SB + FGSM ε=0.03", "SB + PGD-3 ε=0.03")  # the remedies' SB controls


def main() -> None:
    if gu.mode() != "standard":
        raise SystemExit("run with GAPUTILS_MODE=standard (the reference is of that testbed)")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--controls", action="store_true",
                   help="train only the SB controls and add them to the committed result")
    controls = p.parse_args().controls
    setting = gu.testbed.get()
    arms = gu.arms.keskar_arms(setting, controls=True)
    arms = [a for a in arms if (a.name in CONTROLS) == controls]
    t0 = time.time()
    res = gu.study.run(arms, SEEDS, MEASURED, setting=setting, progress=True)
    info = {"command": "GAPUTILS_MODE=standard python data/reference/ch05_remedies.py"
                       + (" --controls" if controls else ""),
            "mode": gu.mode(), **gu.reference.stamp(), "wall_seconds": round(time.time() - t0)}
    out = Path(__file__).parents[2] / "gaputils" / "results" / "ch05_remedies.json"
    gu.reference.write_result(out, res, info, CONTROLS if controls else None)
    print(f"wrote {out} after {info['wall_seconds']} s")


if __name__ == "__main__":
    main()
