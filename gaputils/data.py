"""Datasets as tensors on the device, and shuffled batches drawn there (chapter 00).

``load(name)`` returns a :class:`Dataset` whose ``train`` and ``test`` are ``(x, y)`` pairs:
``x`` float32 of shape ``(N, C, H, W)`` normalized per channel with the training set's mean and
standard deviation, ``y`` int64 of shape ``(N,)``. The files are read directly (IDX for MNIST
and Fashion-MNIST, pickled batches for CIFAR) in the on-disk layout torchvision downloads.
"""

from __future__ import annotations

import gzip
import math
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .runtime import data_dir, project_root
from .runtime import device as default_device

SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says how to get it."""


@dataclass(frozen=True)
class _Spec:
    subdirs: tuple[str, ...]  # where the files may lie below a data folder
    marker: str  # a file whose presence identifies the dataset's folder
    num_classes: int
    classes: tuple[str, ...]
    torchvision_name: str
    how_to_get: str


SPECS = {
    "fashion-mnist": _Spec(("fashion-mnist", "FashionMNIST/raw"), _IDX_FILES[0], 10,
                           FASHION_CLASSES, "FashionMNIST",
                           "install Debian/Ubuntu's package: `apt-get install "
                           "dataset-fashion-mnist` (files land in /usr/share/datasets/"
                           "fashion-mnist)"),
    "mnist": _Spec(("mnist", "MNIST/raw"), _IDX_FILES[0], 10, tuple(str(i) for i in range(10)),
                   "MNIST", "copy the four IDX files (train-images-idx3-ubyte.gz, ...) into "
                   "data/MNIST/raw/"),
    "cifar10": _Spec(("cifar-10-batches-py",), "data_batch_1", 10, CIFAR10_CLASSES, "CIFAR10",
                     "unpack cifar-10-python.tar.gz (from the CIFAR web page) into data/"),
    "cifar100": _Spec(("cifar-100-python",), "train", 100, tuple(f"class {i}" for i in range(100)),
                      "CIFAR100", "unpack cifar-100-python.tar.gz (from the CIFAR web page) "
                      "into data/"),
}


@dataclass
class Dataset:
    """A classification dataset held as tensors. ``x`` is ``(N, C, H, W)``, ``y`` is ``(N,)``."""

    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    num_classes: int
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per-channel statistics used to normalize (pixel values in [0, 1])
    std: tuple[float, ...]
    source: str  # the folder the files were read from
    subset_seed: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train[0].shape[1:])

    @property
    def fingerprint(self) -> dict:
        """What identifies this data for caching: name, sizes, subset seed, normalization."""
        return {"name": self.name, "n_train": len(self.train[1]), "n_test": len(self.test[1]),
                "subset_seed": self.subset_seed, "input_shape": list(self.input_shape),
                "mean": list(self.mean), "std": list(self.std)}

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Dataset:
        """The same data on another device (inputs in ``dtype``, if given)."""
        move = lambda pair: (pair[0].to(device, dtype), pair[1].to(device))
        return Dataset(self.name, move(self.train), move(self.test), self.num_classes,
                       self.classes, self.mean, self.std, self.source, self.subset_seed,
                       dict(self.extra))

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.train[1])}, test={len(self.test[1])}, "
                f"input_shape={self.input_shape}, classes={self.num_classes}, "
                f"device={self.train[0].device})")


def _search_dirs(name: str) -> list[Path]:
    """Folders searched for ``name``, in order: $GAPUTILS_DATA, data/, system folders."""
    spec = SPECS[name]
    bases = [data_dir()]
    root = project_root()
    if root is not None and root / "data" not in bases:
        bases.append(root / "data")
    dirs = [base / sub for base in bases for sub in spec.subdirs]
    return dirs + list(SYSTEM_DIRS.get(name, []))


def locate(name: str) -> Path | None:
    """The folder holding dataset ``name`` on disk, or None when it is nowhere to be found."""
    _check_name(name)
    marker = SPECS[name].marker
    for d in _search_dirs(name):
        if (d / marker).is_file() or (d / f"{marker}.gz").is_file():
            return d
    return None


def _check_name(name: str) -> None:
    if name not in SPECS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(SPECS)}")


def _download(name: str) -> None:
    """Download ``name`` into data_dir() with torchvision (needs internet)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, SPECS[name].torchvision_name)
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        cls(root=str(root), train=train, download=True)


def _find_or_download(name: str) -> Path:
    found = locate(name)
    if found is not None:
        return found
    try:
        _download(name)
    except Exception as err:  # offline, refused, checksum...: say what to do instead
        searched = "\n".join(f"  - {d}" for d in _search_dirs(name))
        raise DataNotFoundError(
            f"dataset {name!r} is not on disk and could not be downloaded "
            f"({type(err).__name__}: {err}).\nSearched:\n{searched}\nGet it one of three ways:\n"
            f"  1. {SPECS[name].how_to_get};\n"
            f"  2. put the files in a folder of your choice and set GAPUTILS_DATA to it "
            f"(expected below it: {' or '.join(SPECS[name].subdirs)});\n"
            f"  3. run once with internet access: torchvision downloads it into {data_dir()}."
        ) from err
    found = locate(name)
    if found is None:
        raise DataNotFoundError(f"torchvision downloaded {name!r} but it is not in {data_dir()}")
    return found


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): magic, dims as big-endian int32, then uint8 data."""
    gz = path.with_name(path.name + ".gz")
    raw_path = path if path.is_file() else gz
    opener = gzip.open if raw_path.suffix == ".gz" else open
    with opener(raw_path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{raw_path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{raw_path} is truncated: {arr.size} bytes for shape {tuple(dims)}")
    return arr.reshape(tuple(int(d) for d in dims)).copy()


def _read_cifar_batches(paths: list[Path], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for p in paths:
        with open(p, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
        xs.append(np.asarray(entry[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(entry[label_key], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


@lru_cache(maxsize=4)
def _read_arrays(name: str, folder: str) -> tuple[np.ndarray, ...]:
    """Raw arrays (x_train, y_train, x_test, y_test); x as uint8 (N, C, H, W)."""
    d = Path(folder)
    if name in ("fashion-mnist", "mnist"):
        xtr, ytr, xte, yte = (_read_idx(d / f) for f in _IDX_FILES)
        return xtr[:, None], ytr.astype(np.int64), xte[:, None], yte.astype(np.int64)
    if name == "cifar10":
        train = [d / f"data_batch_{i}" for i in range(1, 6)]
        return (*_read_cifar_batches(train, b"labels"),
                *_read_cifar_batches([d / "test_batch"], b"labels"))
    return (*_read_cifar_batches([d / "train"], b"fine_labels"),
            *_read_cifar_batches([d / "test"], b"fine_labels"))


def _subset(n_total: int, n: int | None, seed: int, what: str) -> torch.Tensor | None:
    if n is None:
        return None
    if not 0 < n <= n_total:
        raise ValueError(f"{what}={n} is out of range: the split has {n_total} examples")
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n]


def channel_stats(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (n - 1 in the denominator) of the pixel values
    x / 255 of uint8 images ``x`` (N, C, H, W), float32, computed exactly from integer counts
    and rounded once: the same bits on every machine and thread count. (A float32 reduction
    sums in an order that depends on the threads: Fashion-MNIST's mean came out one unit in the
    last place apart on one thread and on two, which changed every pixel of the normalized data
    and so every cache key and every run trained on it.)"""
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"channel_stats takes uint8 images (N, C, H, W), got {x.dtype} "
                         f"{x.shape}")
    means, stds = [], []
    for c in range(x.shape[1]):
        n, s, s2 = 0, 0, 0
        for i in range(0, len(x), 4096):  # integer sums are exact in any order
            block = x[i:i + 4096, c].astype(np.int64)
            n, s, s2 = n + block.size, s + int(block.sum()), s2 + int((block * block).sum())
        means.append(Fraction(s, 255 * n))
        stds.append(math.sqrt(Fraction(n * s2 - s * s, 255**2 * n * (n - 1))) if n > 1
                    else math.nan)
    return (torch.tensor([float(m) for m in means], dtype=torch.float32),
            torch.tensor(stds, dtype=torch.float32))


def load(name: str = "fashion-mnist", n_train: int | None = None,
         device: torch.device | str | None = None, *, n_test: int | None = None,
         seed: int = 0) -> Dataset:
    """Load a dataset as normalized tensors on ``device`` (default: ``gu.device()``).

    ``name``: "fashion-mnist" (default), "mnist", "cifar10" or "cifar100". ``n_train`` and
    ``n_test`` take a random subset drawn with ``seed`` (the same subset on every device).
    Fashion-MNIST is searched in $GAPUTILS_DATA, data/ and /usr/share/datasets/fashion-mnist;
    the others in $GAPUTILS_DATA and data/; when nothing is found, torchvision downloads into
    data/; offline, a :class:`DataNotFoundError` says how to get the files. Chapter 00.
    """
    _check_name(name)
    folder = _find_or_download(name)
    xtr, ytr, xte, yte = _read_arrays(name, str(folder))
    mean, std = channel_stats(xtr)
    tr = _subset(len(ytr), n_train, seed, "n_train")
    te = _subset(len(yte), n_test, seed + 1, "n_test")
    dev = torch.device(device) if device is not None else default_device()

    def prepare(x: np.ndarray, y: np.ndarray, idx: torch.Tensor | None):
        xt = torch.from_numpy(x if idx is None else x[idx.numpy()])
        yt = torch.from_numpy(y if idx is None else y[idx.numpy()])
        xt = (xt.float().div_(255) - mean[:, None, None]) / std[:, None, None]
        return xt.to(dev), yt.to(dev)

    spec = SPECS[name]
    return Dataset(name, prepare(xtr, ytr, tr), prepare(xte, yte, te), spec.num_classes,
                   spec.classes, tuple(mean.tolist()), tuple(std.tolist()), str(folder), seed)


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int,
            generator: torch.Generator | None = None,
            drop_last: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled ``(x, y)`` batches drawn on the tensors' device.

    The permutation is drawn on the CPU with ``generator`` (so the order is the same on every
    device) and moved once per epoch; ``drop_last`` skips a final incomplete batch. Chapter 00.
    """
    n = len(y)
    if len(x) != n:
        raise ValueError(f"x has {len(x)} examples but y has {n}")
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size={batch_size} must be between 1 and the {n} examples")
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size and
                                                  not drop_last else [])
    for idx in permuted_batches(n, sizes, generator, x.device):
        yield x[idx], y[idx]


def permuted_batches(n: int, sizes: list[int], generator: torch.Generator | None = None,
                     device=None) -> Iterator[torch.Tensor]:
    """One epoch of index batches of the given ``sizes`` (summing to at most ``n``), cut from a
    permutation of ``n`` drawn on the CPU with ``generator`` and moved to ``device`` once.
    Chapter 00."""
    perm = torch.randperm(n, generator=generator).to(device)
    start = 0
    for size in sizes:
        yield perm[start:start + size]
        start += size
