"""Small data the tests make: a toy problem, and dataset files in torchvision's layout."""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

import gaputils as gu
from gaputils.data import Dataset
from gaputils.train import TrainConfig, fit


def toy_dataset(n: int = 96, n_test: int = 48, shape=(1, 4, 4), classes: int = 3,
                seed: int = 0) -> Dataset:
    """A small separable classification problem with the shapes of an image dataset."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, *shape, generator=g) * 2

    def draw(m):
        y = torch.randint(0, classes, (m,), generator=g)
        return centers[y] + torch.randn(m, *shape, generator=g), y

    return Dataset("toy", draw(n), draw(n_test), classes, tuple(map(str, range(classes))),
                   (0.0,) * shape[0], (1.0,) * shape[0], "memory")


MEAN, STD = (0.3,), (0.4,)


def images(n=8, c=1, h=6, w=5, seed=0):
    """Normalized (with MEAN, STD) random images (n, c, h, w) of intensities in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand(n, c, h, w, generator=g)
    return (pixels - MEAN[0]) / STD[0]


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    """Write a uint8 array as an IDX file (the format of MNIST and Fashion-MNIST)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "i" * array.ndim, *array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(blob)
    else:
        path.write_bytes(blob)


def write_mnist_like(folder: Path, n_train: int = 30, n_test: int = 20, gz: bool = True,
                     seed: int = 0) -> dict:
    """Tiny MNIST-format files in ``folder``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr, gz)
    return arrays


def write_cifar_like(folder: Path, hundred: bool = False, per_file: int = 6,
                     seed: int = 0) -> dict:
    """Tiny CIFAR-10 (or -100) python-pickle batches in ``folder``; returns labels written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    key = b"fine_labels" if hundred else b"labels"
    classes = 100 if hundred else 10
    names = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + [
        "test_batch"]
    written = {}
    for name in names:
        data = rng.integers(0, 256, (per_file, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.integers(0, classes, per_file).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, key: labels, b"batch_label": name.encode()}, f)
        written[name] = (data, labels)
    return written


def trained(seed=0, bs=16, shape=(1, 4, 4)):
    ds = toy_dataset(shape=shape)
    torch.manual_seed(seed)
    net = gu.models.build("F1", shape, 3, width=12, depth=2)
    fit(net, ds, TrainConfig(batch_size=bs, lr=0.01, epochs=2, seed=seed))
    return net.eval(), ds


def state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
