"""Top Hessian eigenvalues: gaputils' Lanczos against PyHessian's power iteration, side by side
in one process on the same network and data (F1 on 2,048 Fashion-MNIST training images).

    pip install -e ".[bench]"; python benchmarks/hessian.py [--repeat 5]

Prints, for top-1 and top-10 at tol 1e-3, each tool's median time over ``repeat`` runs (the
random start is seeded 0, 1, ... for both; PyHessian's time varies with it), the speed-up, and
each tool's largest relative error against a tightly converged reference (Lanczos, tol 1e-8).
The network is chapter 01's first SB minimizer in the current mode (trained and cached if
needed). Also times gaputils' Hessian-vector product paths.
"""

import argparse
import time

import numpy as np
import torch

import gaputils as gu
from gaputils import hessian


def timed(fn, repeat):
    """Median wall-clock time over ``repeat`` runs, torch seeded 0, 1, ... before each."""
    times, outs = [], []
    for i in range(repeat):
        torch.manual_seed(i)
        t = time.perf_counter()
        outs.append(fn())
        times.append(time.perf_counter() - t)
    return float(np.median(times)), outs


def main(repeat: int) -> None:
    from pyhessian import hessian as pyhessian

    gu.setup(0, verbose=False)
    budget = gu.budget()
    ds = gu.experiments.dataset(budget)
    net = gu.experiments.minimizers(ds)["SB"][0].model.eval()
    data = (ds.train[0][:2048], ds.train[1][:2048])
    print(f"F1 ({sum(p.numel() for p in net.parameters()):,} parameters), 2048 images, "
          f"{gu.device()}, {torch.get_num_threads()} threads, mode {gu.mode()}, "
          f"median of {repeat}")

    op = hessian.HessianOperator(net, data)
    v = torch.randn(op.n)
    block = torch.randn(10, op.n)
    for name, fn in (("rr, kept graph (1 vector)", lambda: op @ v),
                     ("rr, rebuilt per chunk (1 vector)",
                      lambda: hessian.HessianOperator(net, data, chunk=1024) @ v),
                     ("fr, jvp over grad (1 vector)",
                      lambda: hessian.HessianOperator(net, data, method="fr") @ v),
                     ("rr, kept graph (10 vectors, loop)",
                      lambda: hessian.HessianOperator(net, data, method="rr").matmat(block)),
                     ("fr, vmap (10 vectors)",
                      lambda: hessian.HessianOperator(net, data, method="fr").matmat(block))):
        t, _ = timed(fn, repeat)
        print(f"  HVP {name:<36} {t * 1000:8.1f} ms")

    ref = hessian.top_eigenvalues(net, data, k=10, tol=1e-8).values
    for k in (1, 10):
        crit = torch.nn.CrossEntropyLoss()
        t_py, py_runs = timed(lambda: pyhessian(net, crit, data=data, cuda=False)
                              .eigenvalues(top_n=k, tol=1e-3)[0], repeat)
        t_gu, ours = timed(lambda: hessian.top_eigenvalues(net, data, k=k, tol=1e-3,
                                                           seed=torch.initial_seed()), repeat)
        err = lambda vals: np.max(np.abs(np.sort(vals)[::-1] - ref[:k]) / np.abs(ref[:k]))
        py_err = max(err(np.array(v)) for v in py_runs)
        gu_err = max(err(o.values) for o in ours)
        agree = max(np.max(np.abs(np.sort(np.array(v))[::-1] - o.values) / np.abs(o.values))
                    for v, o in zip(py_runs, ours, strict=True))
        print(f"top-{k}: PyHessian {t_py:7.2f} s  gaputils {t_gu:7.2f} s  speed-up "
              f"{t_py / t_gu:5.1f}x | worst relative error: PyHessian {py_err:.1e}, gaputils "
              f"{gu_err:.1e}; the two agree within {agree:.1e} | gaputils "
              f"{int(np.median([o.n_hvp for o in ours]))} HVPs")
    print(f"reference top-10: {np.array2string(ref, precision=4)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    main(parser.parse_args().repeat)
