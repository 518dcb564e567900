"""Memory: one Hessian-vector product of Keskar's full-width C1 (1.39 M parameters) over
10,000 Fashion-MNIST images on the CPU, in a fresh process, with gaputils' default chunk
(``batches.auto_chunk``). Reports the peak resident memory of the process (torch and the
data included, in GiB = 2^30 bytes) against the goal of 4 GB, and the chunk chosen. No peer:
PyHessian and curvlinops take the chunking from the caller.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .common import row

CHILD = """
import json, resource, sys, time, torch
import gaputils as gu

def peak_gb():  # VmHWM: this program's peak (ru_maxrss may carry the parent's from the fork)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

n = int(sys.argv[1])
ds = gu.data.load("fashion-mnist", n_train=n, device="cpu")
torch.manual_seed(0)
net = gu.models.build("C1", ds.input_shape, ds.num_classes).eval()
t = time.perf_counter()
op = gu.hessian.HessianOperator(net, ds.train)
op @ torch.randn(op.n)
print(json.dumps({"seconds": time.perf_counter() - t, "chunk": op.data.chunk, "n": n,
                  "peak_gb": peak_gb()}))
"""


def run(quick: bool = False) -> tuple[list[dict], dict]:
    n = 2_000 if quick else 10_000
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True,
                         env=None, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return [row(f"HVP C1 {n:,} images (CPU)", "- (memory)", res["seconds"], None,
                f"peak {res['peak_gb']:.2f} GiB (goal 4 GB), chunk {res['chunk']}")], res
