import os
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


def test_default_mode_is_standard_everywhere_and_setup_says_how_to_ask_for_paper(
        monkeypatch, capsys):
    monkeypatch.delenv("GAPUTILS_MODE")
    for dev in ("cpu", "cuda"):
        monkeypatch.setattr(runtime, "device", lambda dev=dev: torch.device(dev))
        assert gu.mode() == "standard"
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert gu.mode() == "standard"
    monkeypatch.setenv("GAPUTILS_MODE", "paper")
    assert gu.mode() == "paper"
    monkeypatch.delenv("GAPUTILS_MODE")
    monkeypatch.setattr(gu, "device", lambda: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: "a GPU")
    info = gu.setup(verbose=True)
    assert "GAPUTILS_MODE=paper" in info["paper mode"] and "hours" in capsys.readouterr().out


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


def test_drive_cache_mounts_drive_on_colab_and_sets_the_cache(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match="only Colab"):
        runtime.drive_cache()
    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(runtime, "Path", lambda p: tmp_path / p.strip("/"))
    path = runtime.drive_cache("runs")
    assert mounted == ["/content/drive"] and path.is_dir()
    assert os.environ["GAPUTILS_CACHE"] == str(path) and path.name == "runs"


def test_a_bar_that_stops_early_finishes_at_what_was_done(monkeypatch):
    """A solver that converges before its step budget closes its bar as finished (notebooks
    otherwise keep it, red, as a failure)."""
    monkeypatch.setenv("GAPUTILS_MODE", "standard")
    monkeypatch.delenv("GAPUTILS_PROGRESS", raising=False)
    bar = runtime.progress(200, "Lanczos", least=1)
    bar.update(12)
    runtime.finish(bar)
    assert bar.total == bar.n == 12
    off = runtime.progress(5, "x", least=20)  # below least: disabled, closed all the same
    runtime.finish(off)
    assert off.disable
