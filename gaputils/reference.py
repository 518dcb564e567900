"""Reference numbers: the papers' published values and the book's committed results
(``gaputils/results/*.json``), shown beside live results and labelled as such. Two kinds of
committed result: the multi-seed studies of ``data/reference/`` (chapters 01, 05-07), and each
chapter's reference run, its key numbers and curves recorded while ``python -m
gaputils.reproduce`` executed the whole chapter (``ch<NN>_<mode>.json``; every chapter shows its
own with :func:`compare`). The results ship inside the package, so a ``pip install`` (Colab)
has them too."""

from __future__ import annotations

import json
import math
import os
import platform
from datetime import date
from importlib import resources
from pathlib import Path

import torch

from . import plots, runtime, study


def stamp(note: str = "") -> dict:
    """Where and when a committed result is made: ``device`` (the GPU's name where CUDA runs,
    then machine and CPU cores, then ``note``, e.g. the threads per process), ``torch`` (version)
    and ``date``. The scripts in ``data/reference/`` and ``gaputils.reproduce`` add it to what
    they write. Chapter 01."""
    gpu = f"{torch.cuda.get_device_name()}, " if torch.cuda.is_available() else ""
    device = (f"{gpu}{platform.machine()}, {os.cpu_count()} CPU cores"
              + (f", {note}" if note else ""))
    return {"device": device, "torch": torch.__version__, "date": str(date.today())}


def load(name: str) -> dict:
    """The committed result ``gaputils/results/<name>.json``. Chapter 01."""
    path = resources.files("gaputils.results") / f"{name}.json"
    if not path.is_file():
        known = sorted(p.name[:-5] for p in resources.files("gaputils.results").iterdir()
                       if p.name.endswith(".json"))
        raise FileNotFoundError(f"no committed result {name!r}; there are: {', '.join(known)}")
    return json.loads(path.read_text())


def addition(added: dict, arms, info: dict) -> dict:
    """The record of adding ``arms`` of the result ``added`` to a committed one: their names,
    the seeds added and ``info`` (command, :func:`stamp`, seconds)."""
    return {"arms": list(arms),
            "seeds": sorted({s for n in arms for s in added["arms"][n]["seeds"]})} | info


def write_result(path, result: dict, info: dict, arms=None) -> dict:
    """Write a reference script's ``result`` (a :func:`gaputils.study.run` result) with
    ``info`` (its command, :func:`stamp`, seconds) to ``path``; with ``arms``, join those arms
    - new ones, or more seeds of committed ones - into the result already committed there
    (:func:`gaputils.study.extend`: SB's and LB's networks are checked to be the committed
    ones), keeping its other arms and recording the addition with its own ``info``. Used by the
    scripts in ``data/reference/``."""
    if arms:
        old = json.loads(path.read_text())
        record = addition(result, arms, info)
        result = study.extend(old, result, arms)
        result["additions"] = old.get("additions", []) + [record]
    else:
        result = result | info
    path.write_text(json.dumps(result, indent=1))
    return result


# --- each chapter's reference run ------------------------------------------------------------

RECORD_ENV = "GAPUTILS_RECORD"  # the folder where gaputils.reproduce collects what chapters record
MODES = ("paper", "standard")  # reference runs a chapter shows, the first present


def curve(x, y, xlabel: str, ylabel: str, log_x: bool = False, log_y: bool = False,
          points: int = 200) -> dict:
    """A curve for :func:`compare`: ``y`` against ``x`` (same length), with axis labels (units
    in them) and log-scaled axes where ``log_x``, ``log_y``; a longer curve keeps ``points``
    evenly spaced points, its first and last among them, so that a committed run stays small."""
    x, y = [float(v) for v in x], [float(v) for v in y]
    if len(x) != len(y) or not x:
        raise ValueError(f"a curve needs as many x as y values, at least one: {len(x)} x, "
                         f"{len(y)} y")
    if len(x) > points:
        keep = sorted({round(i * (len(x) - 1) / (points - 1)) for i in range(points)})
        x, y = [x[i] for i in keep], [y[i] for i in keep]
    return {"x": x, "y": y, "xlabel": xlabel, "ylabel": ylabel, "log_x": log_x, "log_y": log_y}


def record(chapter: str, numbers: dict[str, float], curves: dict[str, dict] | None = None
           ) -> Path | None:
    """Where ``gaputils.reproduce`` is executing the chapter (``$GAPUTILS_RECORD`` names a
    folder), add ``numbers`` and ``curves`` (made by :func:`curve`) to ``<folder>/ch<chapter>.json``
    and return its path; elsewhere do nothing and return None."""
    folder = os.environ.get(RECORD_ENV)
    if not folder:
        return None
    path = Path(folder) / f"ch{chapter}.json"
    got = json.loads(path.read_text()) if path.exists() else {"numbers": {}, "curves": {}}
    got["numbers"].update({k: float(v) for k, v in numbers.items()})
    got["curves"].update(curves or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(got, indent=1))
    return path


def run(chapter: str, mode: str) -> dict | None:
    """The committed reference run of ``chapter`` (``"01"``) in ``mode``; None where there is
    none."""
    path = resources.files("gaputils.results") / f"ch{chapter}_{mode}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def runs(chapter: str) -> list[dict]:
    """Every committed reference run of ``chapter``, paper mode first."""
    return [r for r in (run(chapter, m) for m in MODES) if r is not None]


def label(ref: dict) -> str:
    """"reference run on <device> (<mode> mode, <date>, <elapsed time>)" for a reference run."""
    seconds = ref["elapsed_seconds"]
    took = f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.0f} min"
    return f"reference run on {ref['device']} ({ref['mode']} mode, {ref['date']}, {took})"


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == int(v) and abs(v) < 1e6:
        return f"{int(v)}"
    return f"{v:.4g}" if math.isfinite(v) else str(v)


LOW, HIGH = "95% CI low", "95% CI high"  # a number's interval: the two keys right after it


def intervals(numbers: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """The numbers that carry a 95% interval - a key followed by keys ending in "95% CI low"
    and "95% CI high", in that order - as ``{key: (estimate, lo, hi)}``."""
    keys, out = list(numbers), {}
    for a, b, c in zip(keys, keys[1:], keys[2:], strict=False):
        if b.strip().endswith(LOW) and c.strip().endswith(HIGH):
            out[a] = (float(numbers[a]), float(numbers[b]), float(numbers[c]))
    return out


def agreement(numbers: dict[str, float], reference: dict[str, float]) -> str:
    """Whether a run agrees with a reference run of the same mode, statistically, and what a
    reader should conclude. Estimates with 95% intervals agree when their difference is within
    the two half-widths combined (sqrt(h1^2 + h2^2)); whole numbers (counts) must be equal; every
    other number depends on trained networks, whose floating-point sums differ between
    machines, thread counts and library versions, so it is shown, not tested."""
    common = [k for k in numbers if k in reference]
    if not common:
        return "same mode as the reference, but no number in common"
    if all(float(numbers[k]) == float(reference[k]) for k in common):
        return (f"same mode as the reference: all {len(common)} numbers are identical - the same "
                f"seeds on the same machine and\nlibrary versions, or results read from the cache "
                f"that made the reference, reproduce it bit for bit")
    mine, theirs = intervals(numbers), intervals(reference)
    both = [k for k in mine if k in theirs]
    apart = [k for k in both if abs(mine[k][0] - theirs[k][0]) > math.hypot(
        (mine[k][2] - mine[k][1]) / 2, (theirs[k][2] - theirs[k][1]) / 2)]
    bounds = {k2 for k in both for k2 in common if k2 != k and k2.strip().endswith((LOW, HIGH))}
    counts = [k for k in common if k not in both and k not in bounds
              and float(numbers[k]).is_integer() and float(reference[k]).is_integer()]
    miscount = [k for k in counts if float(numbers[k]) != float(reference[k])]
    rest = len(common) - len(both) - len(bounds) - len(counts)
    lines = [f"same mode as the reference: {len(both) - len(apart)} of {len(both)} estimates "
             f"with intervals agree within their combined 95% uncertainty"
             + (f" (not: {', '.join(k.strip() for k in apart)})" if apart else "")
             + f"; {len(counts) - len(miscount)} of {len(counts)} counts are equal"
             + (f" (not: {', '.join(k.strip() for k in miscount)})" if miscount else "")
             + f"; {rest} other numbers of trained networks are shown, not tested"]
    if miscount:
        lines.append("what to conclude: the run differs from the reference in what it counts - "
                     "a different budget or code; compare the settings")
    elif apart:
        lines.append(f"what to conclude: {len(apart)} estimate(s) differ by more than their "
                     "uncertainty; at 95% about one comparison in twenty does by chance - look "
                     "closer if more do")
    elif both:
        lines.append("what to conclude: this run reproduces the reference within seed noise; "
                     "the networks themselves differ bit for bit between machines")
    else:
        lines.append("what to conclude: nothing here carries an interval to test; small "
                     "differences are the arithmetic of another machine, not a failure")
    return "\n".join(lines)


def compare(chapter: str, numbers: dict[str, float], curves: dict[str, dict] | None = None,
            show: bool = True) -> None:
    """A chapter's key numbers and curves beside its committed reference runs (:func:`runs`):
    records them (:func:`record`) when ``gaputils.reproduce`` runs the chapter, prints a table
    of this run against each reference run (a column each, paper mode first), labelled with its
    device, mode and date, says how closely this run agrees with the reference of its own mode
    (or that there is none),
    and draws each curve of all runs (when ``show``). Where the chapter has no reference run
    yet, the table's reference column is empty and a line says how to make one."""
    record(chapter, numbers, curves)
    refs, mode = runs(chapter), runtime.mode()
    if not refs:
        print(f"no reference run of chapter {chapter} is committed yet; "
              f"python -m gaputils.reproduce --mode paper --chapter {int(chapter)} makes one")
    for ref in refs:
        print(label(ref) + f"\n  made by: {ref['command']}")
    cols = [(f"reference ({r['mode']})", r["numbers"]) for r in refs] or [("reference", {})]
    width = max(len(k) for k in numbers) + 2
    head = f"{'':<{width}}{f'this run ({mode})':>20}" + "".join(f"{c:>22}" for c, _ in cols)
    lines = [head, "-" * len(head)]
    for k, v in numbers.items():
        lines.append(f"{k:<{width}}{_fmt(float(v)):>20}"
                     + "".join(f"{_fmt(got.get(k)):>22}" for _, got in cols))
    print("\n".join(lines))
    same = [r for r in refs if r["mode"] == mode]
    print(agreement(numbers, same[0]["numbers"]) if same else
          f"no reference run in {mode} mode is committed, so this run's agreement is not checked")
    if show and curves:
        from IPython.display import display

        fig = plots.reference_curves(curves, {f"reference ({r['mode']}, {r['device']})":
                                              r["curves"] for r in refs})
        display(fig)
        plots.plt.close(fig)
