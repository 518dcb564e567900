"""Cache bundles: what a chapter used is noted, exported with checksums, imported into another
cache without training - and a damaged or foreign bundle is refused before anything is written."""

import io
import tarfile

import pytest
import torch
from helpers import toy_dataset

import gaputils as gu
from gaputils import cache
from gaputils.cache import bundle
from gaputils.cache.__main__ import main
from gaputils.reproduce import execute, sources
from gaputils.train import TrainConfig


def train_two(folder, monkeypatch):
    monkeypatch.setenv("GAPUTILS_CHAPTER", "02")
    out = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = gu.models.build("F1", (1, 4, 4), 3, width=8, depth=1)
        cache.fit_or_load(net, toy_dataset(), TrainConfig(batch_size=16, epochs=1), folder=folder)
        out.append(net)
    return out


def test_a_chapters_runs_are_noted_exported_and_imported_elsewhere(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    train_two(a, monkeypatch)
    keys = bundle.chapter_keys("02", a)
    assert len(keys) == 2 and (a / "chapters" / "02.keys").exists()
    assert main(["export", "--chapter", "2", "--cache", str(a), "--out",
                 str(tmp_path / "ch02.tar.gz")]) == 0
    assert main(["import", str(tmp_path / "ch02.tar.gz"), "--cache", str(b)]) == 0
    assert sorted(p.stem for p in b.glob("*.json")) == sorted(keys)
    monkeypatch.setenv("GAPUTILS_NO_TRAIN", "1")
    monkeypatch.setattr(cache, "fit", lambda *a, **k: pytest.fail("trained"))
    train_two(b, monkeypatch)  # every run loads from the imported entries
    assert bundle.load(tmp_path / "ch02.tar.gz", b) == {"added": 0, "kept": 2, "mode": "smoke"}


def test_no_train_refuses_a_missing_run_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPUTILS_NO_TRAIN", "1")
    with pytest.raises(RuntimeError, match="import a bundle"):
        train_two(tmp_path, monkeypatch)
    with pytest.raises(FileNotFoundError, match="GAPUTILS_CHAPTER=07"):
        bundle.chapter_keys("07", tmp_path)


def test_a_damaged_or_foreign_bundle_is_refused_before_anything_is_written(tmp_path,
                                                                          monkeypatch):
    a = tmp_path / "a"
    train_two(a, monkeypatch)
    good = tmp_path / "good.tar.gz"
    bundle.export(bundle.chapter_keys("02", a), good, a)
    with tarfile.open(good) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for m, blob in members:
            if m.name.endswith(".pt"):
                blob = blob[:-1] + bytes([blob[-1] ^ 1])  # one bit flipped
            tar.addfile(m, io.BytesIO(blob))
    empty = tmp_path / "empty"
    with pytest.raises(ValueError, match="checksum"):
        bundle.load(bad, empty)
    assert not empty.exists() or not any(empty.iterdir())
    monkeypatch.setattr(bundle, "RUNS_VERSION", "9.9")
    with pytest.raises(ValueError, match="version"):
        bundle.load(good, empty)


def test_the_release_url_comes_from_the_one_setting():
    url = bundle.release_url(2, "standard")
    assert url.startswith("https://github.com/generalization-gap/book/releases/download/v")
    assert url.endswith(f"v{gu.__version__}/gaputils-cache-ch02-standard.tar.gz")


@pytest.mark.slow
def test_an_imported_bundle_makes_chapter_02_run_without_training(tmp_path):
    """Chapter 02 executed with a fresh cache notes its runs; its bundle, imported into an empty
    cache, lets it run again with training forbidden."""
    path = sources([2])["02"]
    a, b = tmp_path / "a", tmp_path / "b"
    env = {"GAPUTILS_MODE": "smoke", "GAPUTILS_CACHE": str(a), "GAPUTILS_CHAPTER": "02"}
    _, _, error = execute(path, env, timeout=600, progress=False)
    assert error is None, error
    out = tmp_path / "ch02.tar.gz"
    assert main(["export", "--chapter", "2", "--cache", str(a), "--out", str(out)]) == 0
    assert main(["import", str(out), "--cache", str(b)]) == 0
    env = {"GAPUTILS_MODE": "smoke", "GAPUTILS_CACHE": str(b), "GAPUTILS_NO_TRAIN": "1"}
    _, _, error = execute(path, env, timeout=600, progress=False)
    assert error is None, error
