"""Run-or-load for training runs, keyed by a hash of everything that shapes the result.

An entry is two files in ``gu.runtime.cache_dir()``: ``<key>.pt`` (the trained state_dict) and
``<key>.json`` (the history, the key's parts and the SHA-256 of the ``.pt`` file). Both are
written atomically (temporary file, then rename), the JSON last, so a run killed mid-write
leaves no entry that looks complete. On load the JSON must parse, its key and checksum must
match, and the weights must load with ``weights_only=True`` into the model; anything else is
reported as a warning and the run is recomputed - never silently used. Chapter 00.

Two switches in the environment: ``GAPUTILS_NO_TRAIN=1`` makes a run that is not in the cache an
error instead of a training run (to check that a chapter only loads); ``GAPUTILS_CHAPTER=NN``
(set by ``gaputils.reproduce``) notes every run the chapter loads or trains in
``<cache>/chapters/NN.keys``, which ``python -m gaputils.cache export --chapter NN`` bundles
(:mod:`gaputils.cache.bundle`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..data import Dataset
from ..remedies.base import code_digest
from ..runtime import cache_dir, mode
from ..train import History, TrainConfig, fit


class CorruptEntry(Exception):
    """A cache entry exists but cannot be trusted (reason in the message)."""


def state_digest(model: nn.Module) -> str:
    """SHA-256 of a model's state_dict (names, shapes, dtypes and values)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        shape = t.shape
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{tuple(shape)}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# What a cached run's weights mean: changed only by a change to what training produces, not by
# a new release, so that a reader's cache (and a downloaded bundle) survives an upgrade. It was
# the package version until 0.1.0, hence the field's name in the key.
RUNS_VERSION = "0.1.0"


def key(parts: dict) -> str:
    """Hex key of a JSON-serializable dict; the runs' version (:data:`RUNS_VERSION`) and the run
    mode are added."""
    full = dict(parts, gaputils_version=RUNS_VERSION, mode=mode())
    blob = json.dumps(full, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save(k: str, model: nn.Module, record: dict, folder: Path | None = None) -> Path:
    """Store ``model``'s state_dict and the JSON ``record`` under key ``k``; returns the JSON."""
    folder = Path(folder) if folder is not None else cache_dir()
    pt, js = folder / f"{k}.pt", folder / f"{k}.json"
    state = {n: t.detach().cpu() for n, t in model.state_dict().items()}
    _atomic_write(pt, lambda p: torch.save(state, p))
    entry = {"key": k, "sha256": _sha256(pt), "record": record}
    _atomic_write(js, lambda p: p.write_text(json.dumps(entry, indent=1)))
    return js


def has(k: str, folder: Path | None = None) -> bool:
    """Whether entry ``k`` is in the cache (its JSON, written last, is there)."""
    return (Path(folder or cache_dir()) / f"{k}.json").exists()


def load(k: str, model: nn.Module, folder: Path | None = None) -> dict | None:
    """Load entry ``k`` into ``model`` and return its record; None when there is no entry.

    Raises :class:`CorruptEntry` when the entry is there but broken; ``model`` is then
    unchanged.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    pt, js = folder / f"{k}.pt", folder / f"{k}.json"
    if not js.exists():
        return None
    try:
        entry = json.loads(js.read_text())
        if entry.get("key") != k or "record" not in entry:
            raise CorruptEntry(f"{js.name} does not describe key {k}")
        if not pt.exists() or _sha256(pt) != entry.get("sha256"):
            raise CorruptEntry(f"{pt.name} is missing or does not match its checksum")
        state = torch.load(pt, map_location="cpu", weights_only=True)
        dev = next(iter(model.state_dict().values())).device
        snapshot = {n: t.clone() for n, t in model.state_dict().items()}
        try:
            model.load_state_dict({n: t.to(dev) for n, t in state.items()})
        except RuntimeError:
            model.load_state_dict(snapshot)
            raise
    except CorruptEntry:
        raise
    except Exception as err:
        first_line = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise CorruptEntry(f"{js.name}: {type(err).__name__}: {first_line}") from err
    return entry["record"]


NO_TRAIN, CHAPTER = "GAPUTILS_NO_TRAIN", "GAPUTILS_CHAPTER"


def ledger(chapter: str, folder: Path | None = None) -> Path:
    """The file that lists the runs chapter ``chapter`` ("02") used, one key per line."""
    return Path(folder or cache_dir()) / "chapters" / f"{int(chapter):02d}.keys"


def note(k: str, folder: Path | None = None) -> None:
    """Add key ``k`` to the ledger of the chapter named by ``GAPUTILS_CHAPTER``, if set."""
    chapter = os.environ.get(CHAPTER, "").strip()
    if chapter:
        path = ledger(chapter, folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(k + "\n")


def run_key(model: nn.Module, dataset: Dataset, config: TrainConfig,
            tag: str = "", fit_kwargs: dict | None = None) -> tuple[str, dict]:
    """The cache key of training ``model`` (from its current weights) on ``dataset`` with
    ``config``, and the parts it hashes (see :func:`fit_or_load`); a reader's ``optimizer`` or
    ``step`` among ``fit_kwargs`` enters by a digest of its code."""
    parts = {"model": repr(model), "init": state_digest(model), "data": dataset.fingerprint,
             "config": config.as_dict(), "tag": tag}
    own = {k: code_digest(v) for k, v in (fit_kwargs or {}).items()
           if k in ("optimizer", "step") and v is not None}
    if own:
        parts["fit"] = own
    return key(parts), parts


def may_train() -> bool:
    """Whether a run missing from the cache may train (``GAPUTILS_NO_TRAIN`` unset or 0)."""
    return os.environ.get(NO_TRAIN, "").strip() in ("", "0")


def fit_or_load(model: nn.Module, dataset: Dataset, config: TrainConfig, *,
                tag: str = "", folder: Path | None = None, **fit_kwargs) -> History:
    """``fit(model, dataset, config)``, or its cached result when one exists.

    The key hashes the architecture (``repr(model)``), the initial weights, the dataset's
    fingerprint, the config (its remedies included), ``tag``, the run mode, :data:`RUNS_VERSION`
    and the code of an ``optimizer`` or ``step`` passed on to ``fit``. On a hit the trained
    weights are loaded into ``model`` and the stored History returned. A corrupt entry is
    reported and recomputed. Chapter 00.
    """
    k, parts = run_key(model, dataset, config, tag, fit_kwargs)
    note(k, folder)
    try:
        record = load(k, model, folder)
    except CorruptEntry as err:
        warnings.warn(f"cache entry {k} is corrupt ({err}); recomputing it", RuntimeWarning,
                      stacklevel=2)
        record = None
    if record is not None:
        return History.from_dict(record["history"])
    if not may_train():
        raise RuntimeError(f"run {k} is not in the cache {Path(folder or cache_dir())} and "
                           f"{NO_TRAIN} forbids training it: import a bundle that holds it "
                           f"(python -m gaputils.cache import ...) or unset {NO_TRAIN}")
    history = fit(model, dataset, config, **fit_kwargs)
    save(k, model, {"history": history.to_dict(), "parts": parts}, folder)
    return history
