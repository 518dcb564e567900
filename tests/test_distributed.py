"""Data-parallel training under torchrun (2 CPU workers, gloo, a free port) against one
process: the same weights without BatchNorm, Ghost BatchNorm's with it. In float64: in float32
the summation order (two half batches against one batch) changes the last bits, and a few
steps of a BatchNorm network amplify that to about 1e-4 (in float64: below 1e-8)."""

import os
import re
import subprocess
import sys

import pytest
import torch

import gaputils as gu
from gaputils.train.__main__ import main

pytestmark = [pytest.mark.skipif(gu.data.locate("fashion-mnist") is None,
                                 reason="Fashion-MNIST not installed"),
              pytest.mark.slow]

COMMON = ["--n-train", "256", "--n-test", "64", "--batch-size", "64", "--steps", "4",
          "--optimizer", "sgd", "--lr", "0.02", "--eval-every", "2", "--float64"]
NO_BN = ["--model", "F1", "--model-arg", "batchnorm=False", "--model-arg", "width=64"]
WITH_BN = ["--model", "C1", "--model-arg", "channels=(4, 8)", "--model-arg", "hidden=(32,)",
           "--model-arg", "dropout=0.0"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh cache, smoke mode, the CPU (two workers cannot share one GPU with NCCL)."""
    values = {"GAPUTILS_CACHE": str(tmp_path), "GAPUTILS_MODE": "smoke",
              "GAPUTILS_DEVICE": "cpu", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return os.environ | values


def state(text):
    path = re.search(r"cached: (\S+)\.json", text).group(1) + ".pt"
    return torch.load(path, weights_only=True)


def one_process(args, capsys):
    assert main(args) == 0
    return state(capsys.readouterr().out)


def two_workers(args, env):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "gaputils.train", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 worker(s)" in done.stdout
    return state(done.stdout)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-8, msg=lambda m: f"{k}: {m}")


def test_two_workers_without_batchnorm_equal_one_process_at_the_same_batch(env, capsys):
    one = one_process(COMMON + NO_BN, capsys)
    two = two_workers(COMMON + NO_BN, env)
    assert_same(two, one)
    torch.manual_seed(0)  # ...and the weights moved: the run trained
    init = gu.models.build("F1", (1, 28, 28), 10, batchnorm=False, width=64).state_dict()
    moved = float((one["1.weight"] - init["1.weight"].double()).abs().max())
    assert moved > 1e-4, moved


def test_two_workers_with_batchnorm_equal_ghost_batchnorm_of_half_the_batch(env, capsys):
    ghost = one_process(COMMON + WITH_BN + ["--ghost-bn-size", "32"], capsys)
    plain = one_process(COMMON + WITH_BN, capsys)
    two = two_workers(COMMON + WITH_BN, env)
    assert_same(two, ghost)  # weights and running statistics
    with pytest.raises(AssertionError):
        assert_same(two, plain)


def test_what_cannot_run_data_parallel_is_refused(monkeypatch):
    net = gu.models.build("C1", (1, 28, 28), 10, channels=(4, 8), hidden=(32,))
    monkeypatch.setattr(gu.distributed, "world", lambda: (0, 2))
    config = gu.train.TrainConfig(batch_size=64, steps=1)
    with pytest.raises(ValueError, match="dropout"):
        gu.distributed.Parallel(net, config)
    net = gu.models.build("F1", (1, 28, 28), 10, width=8)
    for remedy in (gu.remedies.Augment(), gu.remedies.Adversarial(),
                   gu.remedies.MultiplicativeNoise(32), gu.remedies.BatchSchedule(((0, 64, 1.),))):
        config = gu.train.TrainConfig(batch_size=64, epochs=1, remedies=(remedy,))
        with pytest.raises(ValueError, match=type(remedy).__name__):
            gu.distributed.Parallel(net, config)
    safe = (gu.remedies.GhostBN(16), gu.remedies.SAM(), gu.remedies.Conservative())
    assert gu.remedies.base.not_data_parallel(safe) == []
    with pytest.raises(ValueError, match="multiple of the 2 workers"):
        gu.distributed.Parallel(net, gu.train.TrainConfig(batch_size=63, steps=1))
