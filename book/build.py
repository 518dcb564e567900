"""Build the book's HTML edition: every chapter executed, then rendered by Sphinx and MyST-NB.

    python book/build.py                     # standard mode, about 40 minutes on 2 CPU cores
    python book/build.py --mode smoke        # a quick build, as CI makes it
    python book/build.py --executed DIR      # render notebooks executed before (gaputils.reproduce)

Needs the ``book`` extra (``pip install -e ".[book]"``; ``dev`` includes it) and nothing from
the network. The chapters run in a Jupyter kernel with ``GAPUTILS_MODE`` set, sharing the
reader's cache as Jupyter Lab does; a chapter that fails stops the build with its error. The
interactive explorers keep their static figure (no widget runs in a static page). Opens at
``build/book/html/index.html``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"


# The chapters' badge images, served from the book's own _static folder: nothing is fetched
# when a page is read.
BADGES = {"https://colab.research.google.com/assets/colab-badge.svg": "colab-badge.svg",
          "https://mybinder.org/badge_logo.svg": "binder-badge.svg"}


def static(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without widget views and their saved state (the static figure each explorer
    draws above its controls is what a page shows), its badge images local."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]
        elif cell.cell_type == "markdown":
            for remote, local in BADGES.items():
                cell.source = cell.source.replace(remote, f"../_static/{local}")
    return nb


def index(mode: str, chapters: list[str]) -> str:
    """The front page: the README's opening and chapter table (its links to the chapters'
    notebooks become links to their pages), how this edition was made, and the contents."""
    readme = (ROOT / "README.md").read_text()
    opening = readme.split("\n## Quickstart", 1)[0].replace("](book/_static/", "](_static/")
    section = readme.split("\n## Chapters", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    opening = f"{opening}\n## Chapters\n\n{table}\n"
    toc = "\n".join(f"chapters/{c}" for c in chapters)
    return (f"{opening}\n## This edition\n\nEvery chapter executed in {mode} mode on "
            f"{date.today()}, with `python book/build.py --mode {mode}`; the interactive "
            f"explorers show their static figure. Run the notebooks in Jupyter Lab, on Colab or "
            f"on Binder to use them.\n\n```{{toctree}}\n:maxdepth: 1\n:caption: Chapters\n\n"
            f"{toc}\n```\n")


def execute(mode: str, out: Path) -> None:
    """Execute every chapter in ``mode`` into ``out``; stop at the first that fails."""
    from gaputils import reproduce

    for chapter, path in reproduce.sources().items():
        nb, seconds, error = reproduce.execute(path, {"GAPUTILS_MODE": mode})
        nbformat.write(nb, out / f"{path.stem}.ipynb")
        if error is not None:
            raise SystemExit(f"chapter {chapter} failed after {seconds:.0f} s; no book is "
                             f"built:\n{str(error)[-3000:]}")
        print(f"chapter {chapter}: executed in {seconds:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", default="standard", choices=("smoke", "standard", "paper"))
    p.add_argument("--executed", type=Path, default=None,
                   help="a folder of executed chapter notebooks to render instead")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    args = p.parse_args(argv)
    src, html = args.out / "src", args.out / "html"
    shutil.rmtree(src, ignore_errors=True)
    (src / "chapters").mkdir(parents=True)
    shutil.copytree(ROOT / "book" / "_static", src / "_static")  # the images pages point to
    if args.executed:
        for nb in sorted(args.executed.glob("[0-9][0-9]_*.ipynb")):
            shutil.copy(nb, src / "chapters" / nb.name)
    else:
        execute(args.mode, src / "chapters")
    names = sorted(nb.stem for nb in (src / "chapters").glob("*.ipynb"))
    if not names:
        raise SystemExit(f"no executed chapters in {args.executed}")
    for name in names:
        path = src / "chapters" / f"{name}.ipynb"
        nbformat.write(static(nbformat.read(path, as_version=4)), path)
    (src / "index.md").write_text(index(args.mode, names))
    shutil.rmtree(html, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
           "-c", str(ROOT / "book"), str(src), str(html)]
    done = subprocess.run(cmd)
    if done.returncode:
        print("the HTML build failed: see Sphinx's messages above", file=sys.stderr)
        return done.returncode
    print(f"built {len(names)} chapters: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
