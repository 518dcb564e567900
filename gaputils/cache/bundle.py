"""Cache bundles: the trained runs a chapter needs, in one checksummed file that a reader can
download and import, so that no chapter has to train chapter 01's testbed again (chapter 00).

A bundle is a ``.tar.gz`` of cache entries (``<key>.pt`` and ``<key>.json``) and a
``manifest.json`` with the SHA-256 of every file, the run mode and the runs' version. Import
checks every checksum before it writes anything, then adds the entries that the cache does not
hold (atomically, as the cache writes its own) - an entry already there is kept. The book's
releases carry one bundle per chapter and mode: :func:`release_url`.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.request
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from .._version import __version__
from ..runtime import cache_dir
from . import RUNS_VERSION, _atomic_write, ledger

MANIFEST = "manifest.json"


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def chapter_keys(chapter: str, folder: Path | None = None) -> list[str]:
    """The keys chapter ``chapter`` used, from its ledger (written while ``GAPUTILS_CHAPTER``
    was set, as ``gaputils.reproduce`` sets it), in order, once each."""
    path = ledger(chapter, folder)
    if not path.exists():
        raise FileNotFoundError(
            f"no ledger of chapter {chapter} in {path.parent}: run the chapter with "
            f"GAPUTILS_CHAPTER={int(chapter):02d} set (python -m gaputils.reproduce --chapter "
            f"{int(chapter)} --cache {Path(folder or cache_dir())} does) to note its runs")
    return list(dict.fromkeys(path.read_text().split()))


def export(keys: Iterable[str], out: Path, folder: Path | None = None,
           mode: str = "") -> dict:
    """Write the cache entries ``keys`` (both files each) into the bundle ``out``; returns its
    manifest. A key without a complete entry is an error naming it."""
    folder = Path(folder or cache_dir())
    keys = list(dict.fromkeys(keys))
    missing = [k for k in keys if not ((folder / f"{k}.pt").exists()
                                       and (folder / f"{k}.json").exists())]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(keys)} runs are not in {folder}: "
                                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    files = {f"{k}{ext}": (folder / f"{k}{ext}").read_bytes() for k in keys
             for ext in (".pt", ".json")}
    manifest = {"runs_version": RUNS_VERSION, "mode": mode, "keys": keys,
                "sha256": {name: _sha256(blob) for name, blob in files.items()}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            for name, blob in [(MANIFEST, json.dumps(manifest, indent=1).encode()),
                               *files.items()]:
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))

    _atomic_write(out, write)
    return manifest


def _read(source: str | Path) -> bytes:
    text = str(source)
    if text.startswith(("http://", "https://", "file://")):
        with urllib.request.urlopen(text, timeout=120) as r:  # noqa: S310 (a URL we build)
            return r.read()
    return Path(source).read_bytes()


def load(source: str | Path, folder: Path | None = None) -> dict:
    """Import the bundle at ``source`` (a path or URL) into the cache ``folder`` (default:
    ``gu.cache_dir()``). Every file's checksum is checked before anything is written. Returns
    ``{"added": n, "kept": n, "mode": ...}``."""
    folder = Path(folder or cache_dir())
    with tarfile.open(fileobj=io.BytesIO(_read(source)), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        if MANIFEST not in members:
            raise ValueError(f"{source} is not a gaputils cache bundle (no {MANIFEST})")
        manifest = json.loads(tar.extractfile(members[MANIFEST]).read())
        files = {}
        for name, digest in manifest["sha256"].items():
            if "/" in name or name not in members:
                raise ValueError(f"{source}: {name} is listed but not in the bundle")
            blob = tar.extractfile(members[name]).read()
            if _sha256(blob) != digest:
                raise ValueError(f"{source}: {name} does not match its checksum; the bundle "
                                 "is damaged - download it again")
            files[name] = blob
    if manifest.get("runs_version") != RUNS_VERSION:
        raise ValueError(f"{source} holds runs of version {manifest.get('runs_version')}, this "
                         f"gaputils trains runs of version {RUNS_VERSION}: its keys would never "
                         "be asked for")
    added = kept = 0
    for k in manifest["keys"]:
        if (folder / f"{k}.json").exists():
            kept += 1
            continue
        for ext in (".pt", ".json"):  # the JSON last, as the cache writes
            blob = files[f"{k}{ext}"]
            _atomic_write(folder / f"{k}{ext}", lambda p, b=blob: p.write_bytes(b))
        added += 1
    return {"added": added, "kept": kept, "mode": manifest.get("mode", "")}


def release_url(chapter: int, mode: str = "standard") -> str:
    """Where the book's release of this version keeps chapter ``chapter``'s bundle: the
    repository named in the package's metadata (pyproject's ``[project.urls] Repository``),
    its release ``v<gaputils.__version__>``, file ``gaputils-cache-ch<NN>-<mode>.tar.gz``."""
    meta = metadata.metadata("gaputils")
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    repo = urls.get("Repository", "").rstrip("/")
    if not repo:
        raise RuntimeError("gaputils' metadata names no Repository URL; install it from the "
                           "book's checkout (pip install -e .)")
    return f"{repo}/releases/download/v{__version__}/{file_name(chapter, mode)}"


def file_name(chapter: int, mode: str) -> str:
    """The bundle's file name in a release (:func:`release_url`)."""
    return f"gaputils-cache-ch{chapter:02d}-{mode}.tar.gz"
