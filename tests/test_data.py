import numpy as np
import pytest
import torch
from helpers import write_cifar_like, write_mnist_like

import gaputils.data as gd


@pytest.fixture
def offline(monkeypatch):
    """No system copy, no project data/ folder, and every download refused."""
    monkeypatch.setattr(gd, "SYSTEM_DIRS", {})
    monkeypatch.setattr(gd, "project_root", lambda: None)

    def refuse(name):
        raise OSError("network is unreachable")

    monkeypatch.setattr(gd, "_download", refuse)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_files_in_torchvision_layout(tmp_path, offline, gz):
    arrays = write_mnist_like(tmp_path / "data" / "MNIST" / "raw", gz=gz)
    ds = gd.load("mnist", device="cpu")
    x, y = ds.train
    assert x.shape == (30, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64
    assert torch.equal(y, torch.from_numpy(arrays["train-labels-idx1-ubyte"].astype(np.int64)))
    assert ds.test[0].shape == (20, 1, 28, 28)
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    # normalized with the training set's statistics
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-2
    raw = arrays["train-images-idx3-ubyte"][0].astype(np.float32) / 255
    back = x[0, 0].numpy() * ds.std[0] + ds.mean[0]
    np.testing.assert_allclose(back, raw, atol=1e-5)


def test_fashion_mnist_found_under_gaputils_data(tmp_path, offline):
    write_mnist_like(tmp_path / "data" / "fashion-mnist", gz=True, seed=1)
    assert gd.locate("fashion-mnist") == tmp_path / "data" / "fashion-mnist"
    ds = gd.load(device="cpu")
    assert ds.name == "fashion-mnist" and ds.classes[0] == "T-shirt/top"


def test_system_folder_is_searched(tmp_path, offline, monkeypatch):
    system = tmp_path / "usr-share"
    write_mnist_like(system)
    monkeypatch.setattr(gd, "SYSTEM_DIRS", {"fashion-mnist": [system]})
    assert gd.locate("fashion-mnist") == system


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_pickles(tmp_path, offline, hundred):
    sub = "cifar-100-python" if hundred else "cifar-10-batches-py"
    written = write_cifar_like(tmp_path / "data" / sub, hundred=hundred)
    ds = gd.load("cifar100" if hundred else "cifar10", device="cpu")
    n_train = 6 if hundred else 30
    assert ds.train[0].shape == (n_train, 3, 32, 32)
    assert ds.test[0].shape == (6, 3, 32, 32)
    assert ds.num_classes == (100 if hundred else 10)
    test_name = "test" if hundred else "test_batch"
    assert ds.test[1].tolist() == written[test_name][1]
    # channel-first layout: first image, red channel, first row
    raw = written[test_name][0][0, :32].astype(np.float32) / 255
    back = ds.test[0][0, 0, 0].numpy() * ds.std[0] + ds.mean[0]
    np.testing.assert_allclose(back, raw, atol=1e-5)


def test_missing_data_offline_names_three_ways(offline):
    with pytest.raises(gd.DataNotFoundError) as err:
        gd.load("cifar10")
    msg = str(err.value)
    assert "network is unreachable" in msg and "GAPUTILS_DATA" in msg
    assert "1." in msg and "2." in msg and "3." in msg
    with pytest.raises(gd.DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        gd.load("fashion-mnist")


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match="fashion-mnist, mnist, cifar10, cifar100"):
        gd.load("imagenet")


def test_truncated_file_is_an_error(tmp_path, offline):
    folder = tmp_path / "data" / "mnist"
    write_mnist_like(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        gd.load("mnist", device="cpu")


def test_seeded_subsets(tmp_path, offline):
    write_mnist_like(tmp_path / "data" / "mnist", n_train=40)
    a = gd.load("mnist", n_train=10, device="cpu", seed=5)
    b = gd.load("mnist", n_train=10, device="cpu", seed=5)
    c = gd.load("mnist", n_train=10, device="cpu", seed=6)
    assert torch.equal(a.train[0], b.train[0]) and not torch.equal(a.train[0], c.train[0])
    assert a.fingerprint == b.fingerprint != c.fingerprint
    with pytest.raises(ValueError, match="out of range"):
        gd.load("mnist", n_train=41, device="cpu")


def test_batches_cover_an_epoch_in_seeded_order():
    x = torch.arange(10.0).view(10, 1, 1, 1)
    y = torch.arange(10)
    g = lambda: torch.Generator().manual_seed(0)
    full = list(gd.batches(x, y, 3, g()))
    assert [len(b[1]) for b in full] == [3, 3, 3]  # last partial batch dropped
    kept = list(gd.batches(x, y, 3, g(), drop_last=False))
    assert sorted(torch.cat([b[1] for b in kept]).tolist()) == list(range(10))
    assert all(torch.equal(bx.flatten(), by.float()) for bx, by in kept)  # pairs stay together
    again = list(gd.batches(x, y, 3, g()))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(full, again, strict=True))
    with pytest.raises(ValueError, match="batch_size"):
        next(gd.batches(x, y, 11))
    with pytest.raises(ValueError, match="examples"):
        next(gd.batches(x, y[:5], 2))


@pytest.mark.skipif(gd.locate("fashion-mnist") is None, reason="Fashion-MNIST not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("GAPUTILS_DATA")
    ds = gd.load("fashion-mnist", n_train=1000, device="cpu")
    assert ds.train[0].shape == (1000, 1, 28, 28) and len(ds.test[1]) == 10_000
    assert set(ds.test[1].tolist()) == set(range(10))
    assert ds.mean[0] == pytest.approx(0.2860, abs=1e-3)  # the well-known training-set mean


def test_channel_stats_are_exact():
    """Per-channel mean and sd (n - 1) of x / 255 against exact rational arithmetic, rounded
    once to float32, on images with three channels and blocks of uneven size."""
    from fractions import Fraction

    x = np.random.default_rng(0).integers(0, 256, size=(4100, 3, 5, 4), dtype=np.uint8)
    mean, std = gd.channel_stats(x)
    assert mean.dtype == std.dtype == torch.float32 and mean.shape == (3,)
    for c in range(3):
        v = [int(p) for p in x[:, c].ravel()]
        n, m = len(v), Fraction(sum(v), 255 * len(v))
        var = sum((Fraction(p, 255) - m) ** 2 for p in v) / (n - 1)
        assert mean[c].item() == torch.tensor(float(m), dtype=torch.float32).item()
        assert std[c].item() == torch.tensor(float(var) ** 0.5, dtype=torch.float32).item()
    with pytest.raises(ValueError, match="uint8 images"):
        gd.channel_stats(x.astype(np.float32))


@pytest.mark.skipif(gd.locate("fashion-mnist") is None, reason="Fashion-MNIST not installed")
def test_normalization_does_not_depend_on_threads(monkeypatch):
    """Fashion-MNIST's float32 mean, summed by torch, came out one unit in the last place apart
    on one thread and on two - other data, other cache keys, other runs. The exact statistics
    are the same on any thread count, and equal to the two-thread values that the book's caches
    were made with."""
    monkeypatch.delenv("GAPUTILS_DATA", raising=False)
    before = torch.get_num_threads()
    loaded = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            loaded.append(gd.load("fashion-mnist", n_train=500, n_test=100, device="cpu"))
    finally:
        torch.set_num_threads(before)
    first = loaded[0]
    assert first.mean == (0.28604060411453247,) and first.std == (0.3530242443084717,)
    for ds in loaded[1:]:
        assert ds.fingerprint == first.fingerprint
        assert torch.equal(ds.train[0], first.train[0]) and torch.equal(ds.test[0], first.test[0])
