"""Keskar's epsilon-sharpness: gaputils' projected ascent on the device against the authors'
route, SciPy's L-BFGS-B, side by side in one process on the same minimizers and data.

    python benchmarks/sharpness.py [--repeat 3]

For chapter 01's first SB and LB minimizers (F1, current mode; trained and cached if needed)
and the budget's curvature data: full space, eps 1e-3, 10 iterations. Prints each method's
median time, value and evaluations, and the ratios.
"""

import argparse

import numpy as np
import torch

import gaputils as gu
from gaputils import sharpness as sh


def main(repeat: int) -> None:
    gu.setup(0, verbose=False)
    budget = gu.budget()
    ds = budget.keskar.load()  # F1, as in benchmarks/README.md
    runs = gu.experiments.minimizers(ds, setting=budget.keskar)
    data = gu.experiments.curvature_data(ds, budget)
    print(f"F1, {budget.n_curvature} images, {gu.device()}, {torch.get_num_threads()} threads, "
          f"mode {gu.mode()}, eps 1e-3, 10 iterations, median of {repeat}")
    for name in ("SB", "LB"):
        net = runs[name][0].model
        res = {}
        for method in ("ascent", "lbfgsb"):
            out = [sh.keskar(net, data, eps=1e-3, max_iter=10, method=method)
                   for _ in range(repeat)]
            res[method] = (float(np.median([o.seconds for o in out])), out[0])
        (ta, a), (tl, b) = res["ascent"], res["lbfgsb"]
        print(f"{name}: ascent {ta:6.2f} s, {a.value:9.1f} % ({a.evaluations} evals) | "
              f"L-BFGS-B {tl:6.2f} s, {b.value:9.1f} % ({b.evaluations} evals) | "
              f"ascent {tl / ta:4.1f}x faster, value ratio L-BFGS-B / ascent "
              f"{b.value / a.value:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    main(parser.parse_args().repeat)
