"""Where the book runs: device, run mode, seeds and folders (chapter 00)."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

MODES = ("smoke", "standard", "paper")

_PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path | None:
    """The book's checkout (the folder holding pyproject.toml), or None for a plain install."""
    root = _PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "chapters").is_dir() else None


def data_dir() -> Path:
    """Folder for downloaded datasets: ``$GAPUTILS_DATA``, else ``data/`` of the checkout."""
    env = os.environ.get("GAPUTILS_DATA")
    if env:
        return Path(env).expanduser()
    root = project_root()
    return root / "data" if root else Path.home() / ".cache" / "gaputils" / "data"


def cache_dir() -> Path:
    """Folder for cached training runs: ``$GAPUTILS_CACHE``, else ``cache/`` of the checkout."""
    env = os.environ.get("GAPUTILS_CACHE")
    if env:
        return Path(env).expanduser()
    root = project_root()
    return root / "cache" if root else Path.home() / ".cache" / "gaputils" / "runs"


def drive_cache(folder: str = "gaputils-cache") -> Path:
    """On Colab: mount Google Drive and keep the cache of trained runs in ``MyDrive/<folder>``
    (``GAPUTILS_CACHE``), so that a new session loads the networks an earlier one trained.
    Returns the folder. Chapter 00."""
    if "google.colab" not in sys.modules:
        raise RuntimeError("drive_cache() mounts Google Drive, which only Colab has; elsewhere "
                           "set GAPUTILS_CACHE to a folder of your own")
    from google.colab import drive

    drive.mount("/content/drive")
    path = Path("/content/drive/MyDrive") / folder
    path.mkdir(parents=True, exist_ok=True)
    os.environ["GAPUTILS_CACHE"] = str(path)
    return path


def device() -> torch.device:
    """The device to compute on: CUDA, then Apple MPS, then CPU.

    ``GAPUTILS_DEVICE`` (e.g. ``cpu`` or ``cuda:1``) overrides the choice. Chapter 00.
    """
    env = os.environ.get("GAPUTILS_DEVICE")
    if env:
        try:
            dev = torch.device(env)
        except RuntimeError as err:
            raise ValueError(f"GAPUTILS_DEVICE={env!r} is not a device name ({err})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"GAPUTILS_DEVICE={env!r} but no CUDA device is available; unset it")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def mode() -> str:
    """The run mode: ``smoke``, ``standard`` or ``paper``.

    Read from ``GAPUTILS_MODE``; without it, ``standard`` on every machine, GPU or not: paper
    mode's runs take hours, and nobody should start them without asking (``gu.setup`` says how
    on a GPU). Any other value is an error that lists the three. Chapter 00.
    """
    env = os.environ.get("GAPUTILS_MODE", "").strip().lower()
    if not env:
        return "standard"
    if env not in MODES:
        raise ValueError(
            f"GAPUTILS_MODE={os.environ['GAPUTILS_MODE']!r} is not a run mode; "
            f"use one of: {', '.join(MODES)} (or unset it for the default)"
        )
    return env


def progress(total: int, desc: str, unit: str = "it", least: int = 1):
    """A one-line progress bar (tqdm.auto, removed when done) for long work: off in smoke mode,
    off with ``GAPUTILS_PROGRESS=0``, and off when ``total`` is below ``least``. Chapters 02-04,
    07."""
    from tqdm.auto import tqdm

    off = mode() == "smoke" or os.environ.get("GAPUTILS_PROGRESS", "1") == "0" or total < least
    return tqdm(total=total, desc=desc, unit=unit, leave=False, disable=off)


def finish(bar) -> None:
    """Close a :func:`progress` bar that may stop before its total (a solver that converged
    early): its total becomes what was done, so that a notebook removes it as finished instead
    of leaving it behind, red, as a failure. Chapter 04."""
    if not bar.disable and bar.n < (bar.total or 0):
        bar.total = bar.n
        bar.refresh()
    bar.close()


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random number generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
