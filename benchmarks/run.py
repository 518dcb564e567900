"""The benchmark suite: gaputils against the tools a reader would otherwise use, side by side
in one process, same model, data and device.

    pip install -e ".[bench]"
    python benchmarks/run.py                 # everything (about 13 minutes on 2 CPU cores)
    python benchmarks/run.py --only eigen    # one benchmark
    python benchmarks/run.py --quick         # fewer repeats and sizes: a check that it runs
    python benchmarks/run.py --table         # the table of the last results, without running

Each benchmark writes benchmarks/results/NAME.json (device, torch version, sizes, seconds,
ratios, agreement, products); the script prints one table. Ratios are theirs / ours: above 1,
gaputils is faster. See benchmarks/README.md for the measured table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

NAMES = ("eigen", "spectrum", "sharpness", "epoch", "augment", "landscape", "memory", "grid")


def table(rows: list[dict]) -> str:
    head = f"{'task':<26} {'peer':<26} {'ours s':>8} {'theirs s':>9} {'ratio':>7}  agreement"
    lines = [head, "-" * len(head)]
    for r in rows:
        theirs = "-" if r["theirs_s"] is None else f"{r['theirs_s']:.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        extra = "; ".join(x for x in (r["agreement"], r["products"] and
                                      f"products {r['products']}", r["note"]) if x)
        lines.append(f"{r['task']:<26} {r['peer']:<26} {r['ours_s']:>8.2f} {theirs:>9} "
                     f"{ratio:>7}  {extra}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=NAMES, action="append",
                        help="run this benchmark (repeatable); default all")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    parser.add_argument("--table", action="store_true",
                        help="print the table of the results already in benchmarks/results")
    args = parser.parse_args(argv)
    # the checkout, for `benchmarks.*`: here, not at import, where it would be work that
    # gaputils' workers (which import this file again) refuse to repeat
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if args.table:
        from benchmarks.common import RESULTS

        found = [json.loads((RESULTS / f"{n}.json").read_text()) for n in args.only or NAMES
                 if (RESULTS / f"{n}.json").exists()]
        for r in found:
            print(f"{r['benchmark']}: {r['device_name']}, torch {r['torch']}, {r['date']}"
                  + (" (quick)" if r["quick"] else ""))
        print(table([row for r in found for row in r["rows"]]))
        return 0
    import gaputils as gu
    from benchmarks.common import environment, save

    gu.setup(0, verbose=False)
    env = environment()
    print(f"{env['device_name']} ({env['device']}), torch {env['torch']}, {env['date']}")
    rows = []
    for name in args.only or NAMES:
        t = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        try:
            found, raw = module.run(quick=args.quick)
        except Exception as err:  # one broken peer must not lose the others' numbers
            found = [{"task": name, "peer": "-", "ours_s": float("nan"), "theirs_s": None,
                      "ratio": None, "agreement": f"failed: {type(err).__name__}: {err}"[:200],
                      "products": "", "note": ""}]
            raw = {"error": repr(err)}
        seconds = time.perf_counter() - t
        path = save(name, {"quick": args.quick, "rows": found, "details": raw,
                           "suite_seconds": seconds})
        print(f"{name}: {seconds:.0f} s -> {path}", flush=True)
        rows += found
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
