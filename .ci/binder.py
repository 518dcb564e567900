"""A bare install, and what a Binder build of the book would do, as far as a machine without
conda allows.

    python .ci/binder.py            # about 4 minutes; .ci/run runs it

1. A fresh virtual environment with only ``pip install .`` (no extras): ``python -m
   gaputils.reproduce --chapter 0 --mode smoke``, run outside the checkout, executes chapter 00.
2. Binder builds from environment.yml (conda-forge), apt.txt and postBuild. The script checks
   that apt.txt's Debian packages are installed here (Binder installs them) and that
   environment.yml names a Python version repo2docker reads (``python=X.Y``) and every
   dependency of pyproject.toml (postBuild installs the package without its dependencies, so
   that Binder can cache the environment across commits); installs environment.yml's list into
   the same environment - conda-forge's names mapped to PyPI's; runs postBuild with a fresh HOME
   and checks the Jupyter Lab settings it writes (chapters' .py sources open as notebooks,
   Markdown as a preview); and executes chapter 00 in standard mode there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch", "matplotlib-base": "matplotlib"}
SAME_NAME = {"torchvision", "numpy", "scipy", "ipywidgets", "tqdm", "cloudpickle", "jupytext",
             "nbclient", "ipykernel", "jupyterlab"}
SETTINGS = ".jupyter/lab/user-settings/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"


def packages(text: str) -> tuple[list[str], list[str]]:
    """environment.yml's conda dependencies as PyPI requirements (python and pip left out) and
    its pip section, read line by line (the file is a flat list)."""
    conda, pip, in_pip = [], [], False
    deps = text.split("\ndependencies:", 1)[-1]
    for line in deps.splitlines():
        item = re.match(r"^(\s*)- (.+?)\s*(#.*)?$", line)
        if not item:
            continue
        indent, spec = len(item.group(1)), item.group(2)
        if spec == "pip:":
            in_pip = True
            continue
        if in_pip and indent > 2:
            pip.append(spec)
            continue
        in_pip = False
        name = re.split(r"[<>=!~ ]", spec, maxsplit=1)[0]
        if name == "python" and not re.fullmatch(r"python=3\.\d+", spec):
            raise SystemExit(f"environment.yml: {spec!r} - repo2docker reads python=X.Y only")
        if name in ("python", "pip"):
            continue
        if name not in CONDA_TO_PYPI and name not in SAME_NAME:
            raise SystemExit(f"environment.yml: no PyPI name known for conda package {name!r}; "
                             f"add it to CONDA_TO_PYPI or SAME_NAME in {Path(__file__).name}")
        pip_name = CONDA_TO_PYPI.get(name, name)
        conda.append(pip_name + spec[len(name):])
    return conda, pip


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower() for r in requirements}


def step(msg: str) -> None:
    print(f"-- {msg}", flush=True)


def main() -> int:
    missing = [p for p in (ROOT / "apt.txt").read_text().split()
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode]
    if missing:
        raise SystemExit(f"apt.txt's {missing} are not installed here: apt-get install "
                         + " ".join(missing))
    step("apt.txt: installed")
    conda, pip = packages((ROOT / "environment.yml").read_text())
    need = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lacking = names(need) - names(conda)
    if lacking or pip:
        raise SystemExit(f"environment.yml must list every dependency of pyproject.toml "
                         f"(lacking {sorted(lacking)}) and no pip section ({pip}): postBuild "
                         "installs the package alone")
    step(f"environment.yml: python pinned, {len(conda)} packages from conda-forge, all of "
         "pyproject.toml's dependencies among them")
    with tempfile.TemporaryDirectory(prefix="binder-") as tmp:
        tmp = Path(tmp)
        venv.create(tmp / "env", with_pip=True)
        py = tmp / "env" / "bin" / "python"
        home = tmp / "home"
        home.mkdir()
        env = os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "HOME": str(home),
                            "PATH": f"{py.parent}:{os.environ['PATH']}"}
        env.pop("GAPUTILS_MODE", None)
        subprocess.run([py, "-m", "pip", "install", "-q", str(ROOT)], check=True, env=env,
                       cwd=tmp)
        out = tmp / "bare"
        run = subprocess.run([py, "-m", "gaputils.reproduce", "--mode", "smoke", "--chapter", "0",
                              "--chapters", str(ROOT / "chapters"), "--out", str(out)], env=env,
                             cwd=tmp, capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"chapter 00 failed after a bare pip install .:\n"
                             f"{run.stderr[-4000:]}")
        step("pip install . alone: python -m gaputils.reproduce --chapter 0 --mode smoke ran")
        subprocess.run([py, "-m", "pip", "install", "-q", *conda], check=True, env=env)
        subprocess.run(["bash", ROOT / "postBuild"], check=True, env=env, cwd=ROOT)
        step("environment.yml's packages and postBuild: installed")
        viewers = json.loads((home / SETTINGS).read_text())["defaultViewers"]
        if viewers != {"markdown": "Markdown Preview", "python": "Jupytext Notebook"}:
            raise SystemExit(f"postBuild wrote unexpected default viewers: {viewers}")
        step(f"postBuild: default viewers {viewers}")
        out = tmp / "out"
        run = subprocess.run([py, "-m", "gaputils.reproduce", "--mode", "standard", "--chapter",
                              "0", "--out", str(out)], env=env, capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"chapter 00 failed in the fresh environment:\n{run.stderr[-4000:]}")
        got = json.loads((out / "ch00_standard.json").read_text())
        step(f"chapter 00 in standard mode: {got['elapsed_seconds']:.0f} s, test accuracy "
             f"{got['numbers']['test accuracy %']:.2f}% (torch {got['torch']})")
    print("binder check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
