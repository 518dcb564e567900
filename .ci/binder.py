"""What a Binder build of the book would do, as far as a machine without conda allows.

    python .ci/binder.py            # about 3 minutes; .ci/run runs it

Binder builds from environment.yml (conda-forge), apt.txt and postBuild. This script:
1. checks that apt.txt's Debian packages are installed here (Binder installs them);
2. makes a fresh virtual environment from environment.yml's package list - conda-forge's
   ``pytorch-cpu`` and ``torchvision`` are their PyPI names ``torch`` and ``torchvision`` - and
   installs its pip section (the book's package) into it;
3. runs postBuild with a fresh HOME and checks the Jupyter Lab settings it writes: chapters'
   .py sources open as notebooks, Markdown as a preview;
4. executes chapter 00 in standard mode in that environment (``gaputils.reproduce``) and checks
   that it recorded its numbers.
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

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch", "torchvision": "torchvision"}
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
        if name in ("python", "pip"):
            continue
        if name not in CONDA_TO_PYPI:
            raise SystemExit(f"environment.yml: no PyPI name known for conda package {name!r}; "
                             f"add it to CONDA_TO_PYPI in {Path(__file__).name}")
        pip_name = CONDA_TO_PYPI[name]
        conda.append(pip_name + spec[len(name):])
    return conda, pip


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
    step(f"environment.yml: {conda} from conda-forge, {pip} with pip")
    with tempfile.TemporaryDirectory(prefix="binder-") as tmp:
        tmp = Path(tmp)
        venv.create(tmp / "env", with_pip=True)
        py = tmp / "env" / "bin" / "python"
        env = os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        subprocess.run([py, "-m", "pip", "install", "-q", *conda], check=True, env=env)
        reqs = tmp / "requirements.txt"  # as conda hands the pip section to pip
        reqs.write_text("\n".join(pip) + "\n")
        subprocess.run([py, "-m", "pip", "install", "-q", "-r", reqs], check=True, env=env,
                       cwd=ROOT)
        step("a fresh environment from that list: installed")
        home = tmp / "home"
        home.mkdir()
        subprocess.run(["bash", ROOT / "postBuild"], check=True, env=env | {"HOME": str(home)})
        viewers = json.loads((home / SETTINGS).read_text())["defaultViewers"]
        if viewers != {"markdown": "Markdown Preview", "python": "Jupytext Notebook"}:
            raise SystemExit(f"postBuild wrote unexpected default viewers: {viewers}")
        step(f"postBuild: default viewers {viewers}")
        out = tmp / "out"
        run = subprocess.run([py, "-m", "gaputils.reproduce", "--mode", "standard", "--chapter",
                              "0", "--out", str(out)], env=env | {"HOME": str(home)},
                             capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"chapter 00 failed in the fresh environment:\n{run.stderr[-4000:]}")
        got = json.loads((out / "ch00_standard.json").read_text())
        step(f"chapter 00 in standard mode: {got['elapsed_seconds']:.0f} s, test accuracy "
             f"{got['numbers']['test accuracy %']:.2f}% (torch {got['torch']})")
    print("binder check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
