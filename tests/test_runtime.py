import sys
import types

import pytest
import torch

import gaputils as gu
from gaputils import runtime


def test_mode_reads_the_environment(monkeypatch):
    for m in ("smoke", "standard", "paper"):
        monkeypatch.setenv("GAPUTILS_MODE", m)
        assert gu.mode() == m
    monkeypatch.setenv("GAPUTILS_MODE", " Standard ")
    assert gu.mode() == "standard"


def test_unknown_mode_lists_the_three(monkeypatch):
    monkeypatch.setenv("GAPUTILS_MODE", "fast")
    with pytest.raises(ValueError, match="smoke, standard, paper"):
        gu.mode()


def test_default_mode_follows_the_device(monkeypatch):
    monkeypatch.delenv("GAPUTILS_MODE")
    monkeypatch.setattr(runtime, "device", lambda: torch.device("cpu"))
    assert gu.mode() == "standard"
    monkeypatch.setattr(runtime, "device", lambda: torch.device("cuda"))
    assert gu.mode() == "paper"
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert gu.mode() == "standard"  # Colab: standard even with a GPU
    monkeypatch.setenv("GAPUTILS_MODE", "paper")
    assert gu.mode() == "paper"


def test_device_override(monkeypatch):
    monkeypatch.setenv("GAPUTILS_DEVICE", "cpu")
    assert gu.device() == torch.device("cpu")
    monkeypatch.setenv("GAPUTILS_DEVICE", "warp-drive")
    with pytest.raises(ValueError, match="not a device name"):
        gu.device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("GAPUTILS_DEVICE", "cuda")
        with pytest.raises(ValueError, match="no CUDA device"):
            gu.device()


def test_budget_per_mode(monkeypatch):
    for m in runtime.MODES:
        b = gu.budget(m)
        assert b.mode == m
        assert len(b.sweep_seeds) >= 1 and b.testbed.sb in b.batch_sizes
        assert set(b.as_dict()["testbed"]) >= {"sb", "lb", "model", "n_train"}
    monkeypatch.setenv("GAPUTILS_MODE", "standard")
    assert gu.budget() is gu.budget("standard")
    with pytest.raises(ValueError, match="unknown run mode"):
        gu.budget("huge")


def test_seed_everything_repeats_draws():
    gu.seed_everything(3)
    a = torch.rand(3)
    gu.seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_setup_reports(capsys, monkeypatch):
    info = gu.setup(seed=1)
    out = capsys.readouterr().out
    for key in ("device", "mode", "fashion-mnist", "cache"):
        assert key in info and key in out
    assert info["mode"] == "smoke"
