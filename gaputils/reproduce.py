"""Reference runs: execute whole chapters and commit their key numbers (chapters 00-07).

    python -m gaputils.reproduce --mode paper                 # every chapter, on a GPU
    python -m gaputils.reproduce --mode standard --chapter 2  # one chapter, standard mode

Each chapter is executed from its source (``chapters/NN_*.py``, read with jupytext) in a
Jupyter kernel with ``GAPUTILS_MODE`` set. The chapter's ``gu.reference.compare`` cell records
its key numbers and curves; when the chapter has run to its end, they are written with the
command, mode, device, torch version, date and elapsed time to
``gaputils/results/ch<NN>_<mode>.json`` (or ``--out``), where every chapter finds and shows them
beside its live result. A chapter that
fails is reported and leaves the others' results in place. The chapters of one call share a
fresh cache (``--cache`` to reuse one), so the elapsed times are those of a new reader's runs in
chapter order. Needs a checkout and the ``lab`` extra (jupytext, ipykernel).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from tqdm.auto import tqdm

from . import reference, runtime


def chapters_dir() -> Path:
    """The checkout's ``chapters/``; an error that says what to do for a plain install."""
    root = runtime.project_root()
    if root is None:
        raise SystemExit("gaputils.reproduce executes the chapters of a checkout of the book: "
                         "clone its repository and pip install -e \".[lab]\" there")
    return root / "chapters"


def sources(chapters: list[int] | None = None, folder: Path | None = None) -> dict[str, Path]:
    """The chapters' py:percent sources in ``folder`` (default: the checkout's) by two-digit
    number, all or those in ``chapters``."""
    folder = folder or chapters_dir()
    found = {p.name[:2]: p for p in sorted(folder.glob("[0-9][0-9]_*.py"))}
    if chapters is None:
        return found
    missing = [c for c in chapters if f"{c:02d}" not in found]
    if missing:
        raise SystemExit(f"no chapter {missing}; the chapters are {', '.join(found)}")
    return {f"{c:02d}": found[f"{c:02d}"] for c in chapters}


def execute(path: Path, env: dict[str, str], timeout: int | None = None,
            progress: bool = True):
    """Execute the chapter ``path`` in a fresh kernel whose environment has ``env`` added, in
    the chapter's folder. Returns (the executed notebook, seconds, the error or None)."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = jupytext.read(path)
    code = sum(c.cell_type == "code" for c in nb.cells)
    bar = tqdm(total=code, desc=path.stem, unit="cell", disable=not progress)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_executed=lambda **_: bar.update())
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as e:
        error = e
    finally:
        bar.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, time.perf_counter() - start, error


def result(chapter: str, recorded: Path, mode: str, seconds: float, cache: str,
           command: str) -> dict:
    """The committed JSON of one reference run: what the chapter recorded, and its stamp."""
    if not recorded.exists():
        raise RuntimeError(f"chapter {chapter} ran but recorded nothing: it needs a "
                           f"gu.reference.compare(\"{chapter}\", ...) cell")
    got = json.loads(recorded.read_text())
    return {"chapter": chapter, "command": command, "mode": mode, **reference.stamp(),
            "elapsed_seconds": round(seconds, 1), "cache": cache, **got}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gaputils.reproduce", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=runtime.MODES, default=None,
                   help="run mode (default: GAPUTILS_MODE, else standard)")
    p.add_argument("--chapter", type=int, action="append", default=None,
                   help="a chapter number (repeatable; default: every chapter)")
    p.add_argument("--chapters", type=Path, default=None,
                   help="folder of the chapters' sources (default: the checkout's chapters/)")
    p.add_argument("--out", type=Path, default=Path(reference.__file__).parent / "results",
                   help="folder for ch<NN>_<mode>.json (default: gaputils/results)")
    p.add_argument("--cache", type=Path, default=None,
                   help="cache folder to reuse (default: a fresh one for this call)")
    p.add_argument("--executed", type=Path, default=None,
                   help="also save the executed notebooks here (e.g. for the HTML edition)")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: none)")
    args = p.parse_args(argv)
    for name in ("chapters", "out", "cache", "executed"):  # the kernels run in chapters/:
        if getattr(args, name) is not None:  # a relative path means the caller's folder
            setattr(args, name, getattr(args, name).resolve())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    mode = args.mode or runtime.mode()
    todo = sources(args.chapter, args.chapters)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    with tempfile.TemporaryDirectory(prefix="gaputils-reproduce-") as tmp:
        cache = args.cache or Path(tmp) / "cache"
        held = len(list(cache.glob("*.json"))) if cache.is_dir() else 0
        how = (f"held {held} cached runs at the start" if held else
               "empty at the start") + "; shared with the chapters run before it in the call"
        for chapter, path in todo.items():
            recorded = Path(tmp) / "record"
            env = {"GAPUTILS_MODE": mode, "GAPUTILS_CACHE": str(cache),
                   "GAPUTILS_CHAPTER": chapter,  # its runs' ledger (gaputils.cache export)
                   reference.RECORD_ENV: str(recorded)}
            nb, seconds, error = execute(path, env, args.timeout)
            if args.executed:
                import nbformat

                args.executed.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, args.executed / f"{path.stem}.ipynb")
            if error is not None:
                failed.append(chapter)
                print(f"chapter {chapter} FAILED after {seconds:.0f} s; its reference is "
                      f"not written:\n{str(error)[-3000:]}", file=sys.stderr)
                continue
            try:
                command = (f"python -m gaputils.reproduce --mode {mode} --chapter {int(chapter)}"
                           + (f" --cache {args.cache}" if args.cache else ""))
                res = result(chapter, recorded / f"ch{chapter}.json", mode, seconds, how,
                             command)
            except RuntimeError as e:
                failed.append(chapter)
                print(e, file=sys.stderr)
                continue
            out = args.out / f"ch{chapter}_{mode}.json"
            out.write_text(json.dumps(res, indent=1) + "\n")
            print(f"chapter {chapter}: {seconds:.0f} s, {len(res['numbers'])} numbers and "
                  f"{len(res['curves'])} curves -> {out}")
    if failed:
        print(f"failed: chapter {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
