"""Check that every chapter's .py and .ipynb are paired, in sync, and the .ipynb carry no outputs,
and that no wrapped line of its prose reads as a list or a table row in Markdown.

Usage: python .ci/check_notebooks.py [chapters/]. Exit status 1 lists every problem found.
"""

import re
import sys
from pathlib import Path

import jupytext


def cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def stray_breaks(source: str) -> list[str]:
    """Lines of a Markdown cell that a wrap put in the wrong place: one that continues a
    paragraph but opens a list ("1)", "1." or a bullet right after running text), or one that
    continues a table row (GFM reads it as another row)."""
    out, prev, table = [], "", False
    for line in source.splitlines():
        table = (table or (prev.startswith("|") and re.match(r"\|\s*:?-{3}", line))) and bool(
            line.strip())  # a table runs from its delimiter row to the next blank line
        opens = re.match(r"(1[.)]|[-+*]) ", line)
        running = prev.strip() and not re.match(r"\s*(\d+[.)]|[-+*|>#]) ?|\s*$|\s", prev)
        if (opens and running and not prev.rstrip().endswith(":")) or (
                table and not line.startswith("|")):
            out.append(line)
        prev = line
    return out


HEADER = re.compile(r"^# %%(?P<title>.*?)(?P<kind>\s*\[markdown\])?(?P<meta>\s+tags=.*)?$")


def header_text(source: str) -> list[str]:
    """py:percent cell headers that carry text ("# %% A sentence [markdown]"): jupytext takes it
    for the cell's title, and the sentence is lost from the notebook's text."""
    out = []
    for line in source.splitlines():
        m = HEADER.match(line)
        if m and m.group("title").strip():
            out.append(line)
    return out


def problems(folder: Path) -> list[str]:
    found = []
    pys, nbs = sorted(folder.glob("*.py")), sorted(folder.glob("*.ipynb"))
    for py in pys:
        found += [f"{py}: text on a cell-header line is lost from the notebook; put it on the "
                  f"next line: {line!r}" for line in header_text(py.read_text())]
    for py in pys:
        if not py.with_suffix(".ipynb").exists():
            found.append(f"{py} has no paired .ipynb (run: jupytext --sync {py})")
    for path in nbs:
        py = path.with_suffix(".py")
        if not py.exists():
            found.append(f"{path} has no paired .py")
            continue
        nb = jupytext.read(path)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and (c.get("outputs") or c.get("execution_count") is not None)]
        if dirty:
            found.append(f"{path}: cells {dirty} carry outputs (strip them: jupytext --sync {py}"
                         " on a clean notebook, or jupyter nbconvert --clear-output)")
        for c in nb.cells:
            if c.cell_type == "markdown":
                found += [f"{py}: Markdown reads this wrapped line as a list or a table row; "
                          f"reflow it: {line!r}" for line in stray_breaks(c.source)]
        if cells(nb) != cells(jupytext.read(py)):
            found.append(f"{path} and {py} differ; edit the .py and run: jupytext --sync {py}")
    return found


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "chapters")
    found = problems(folder)
    for p in found:
        print(p)
    print(f"notebooks: {len(list(folder.glob('*.ipynb')))} checked, {len(found)} problems")
    sys.exit(1 if found else 0)
