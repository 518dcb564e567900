"""Keskar et al.'s remedies on the standard testbed with twelve seeds (chapter 05).

The chapter trains every remedy with the seeds its time budget allows; a fraction of a gap of
under a point needs more pairs than that. This script runs the same code (``gu.study``) with
seeds 0-11 - plain SB and LB and every arm of ``gu.arms.keskar_arms`` - and measures lambda_max
and Keskar's sharpness on seeds 0-4. It writes ``gaputils/results/ch05_remedies.json``, which the
chapter shows beside its live result, labelled with the device and date.

    GAPUTILS_MODE=standard python data/reference/ch05_remedies.py   # about 50 min on 2 cores
"""

import json
import time
from pathlib import Path

import gaputils as gu

SEEDS, MEASURED = tuple(range(12)), tuple(range(5))


def main() -> None:
    if gu.mode() != "standard":
        raise SystemExit("run with GAPUTILS_MODE=standard (the reference is of that testbed)")
    setting = gu.testbed.get()
    t0 = time.time()
    res = gu.study.run(gu.arms.keskar_arms(setting), SEEDS, MEASURED, setting=setting,
                       progress=True)
    res |= {"command": "GAPUTILS_MODE=standard python data/reference/ch05_remedies.py",
            "mode": gu.mode(), **gu.reference.stamp(),
            "wall_seconds": round(time.time() - t0)}
    out = Path(__file__).parents[2] / "gaputils" / "results" / "ch05_remedies.json"
    out.write_text(json.dumps(res, indent=1))
    print(f"wrote {out} after {res['wall_seconds']} s")


if __name__ == "__main__":
    main()
