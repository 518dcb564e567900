"""Where the book is published is one setting: ``[project.urls] Repository`` (and
``[tool.book] branch``) in pyproject.toml. This script derives every Colab and Binder badge and
every chapter's Colab install cell from it - pinned to the tag of the package version
(``v`` + ``gaputils/_version.py``), the edition the notebook was written for - and checks or
rewrites them.

Usage: python .ci/links.py [--check] [ROOT]. Without --check it rewrites README.md and
chapters/*.py (then run: jupytext --sync chapters/*.py); with --check it lists every link that
disagrees with the setting, or a chapter without its badges, and exits 1 if there is one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

COLAB = re.compile(r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/[^/\s]+"
                   r"/chapters/(\w+)\.ipynb")
BINDER = re.compile(r"https://mybinder\.org/v2/gh/[^/\s]+/[^/\s]+/[^?\s]+\?labpath=chapters%2F"
                    r"(\w+)\.ipynb")
INSTALL = re.compile(r'repo, tag = "git\+https://github\.com/[^"]+", "v[^"]+"')


def version(root: Path) -> str:
    """The package version, from gaputils/_version.py."""
    text = (root / "gaputils" / "_version.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def setting(root: Path) -> tuple[str, str]:
    """(owner/name, branch) from pyproject.toml."""
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    url = meta["project"]["urls"]["Repository"].rstrip("/")
    found = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)", url)
    if not found:
        raise SystemExit(f"[project.urls] Repository must be https://github.com/OWNER/NAME, "
                         f"got {url!r}")
    return found.group(1), meta.get("tool", {}).get("book", {}).get("branch", "main")


def expected(repo: str, branch: str, tag: str = "") -> dict:
    return {"colab": lambda s: (f"https://colab.research.google.com/github/{repo}/blob/{branch}"
                                f"/chapters/{s}.ipynb"),
            "binder": lambda s: (f"https://mybinder.org/v2/gh/{repo}/{branch}?labpath="
                                 f"chapters%2F{s}.ipynb"),
            "install": f'repo, tag = "git+https://github.com/{repo}", "v{tag}"'}


def rewrite(text: str, repo: str, branch: str, tag: str) -> str:
    want = expected(repo, branch, tag)
    text = COLAB.sub(lambda m: want["colab"](m.group(1)), text)
    text = BINDER.sub(lambda m: want["binder"](m.group(1)), text)
    return INSTALL.sub(want["install"], text)


def problems(root: Path) -> list[str]:
    repo, branch = setting(root)
    tag = version(root)
    want = expected(repo, branch, tag)
    found = []
    chapters = sorted((root / "chapters").glob("[0-9][0-9]_*.py"))
    for path in [root / "README.md", *chapters]:
        text = path.read_text()
        if rewrite(text, repo, branch, tag) != text:
            found.append(f"{path.relative_to(root)}: links disagree with {repo}@{branch} v{tag} "
                         "(run: python .ci/links.py && jupytext --sync chapters/*.py)")
    readme = (root / "README.md").read_text()
    for path in chapters:
        text, stem = path.read_text(), path.stem
        for where, body in ((path.name, text), ("README.md", readme)):
            for kind in ("colab", "binder"):
                if want[kind](stem) not in body:
                    found.append(f"{where}: no {kind} link to chapters/{stem}.ipynb")
        if want["install"] not in text:
            found.append(f"{path.name}: no Colab install cell with {want['install']}")
    return found


def main(argv: list[str]) -> int:
    check = "--check" in argv
    root = Path(next((a for a in argv if not a.startswith("--")), "."))
    if not check:
        repo, branch = setting(root)
        tag = version(root)
        for path in [root / "README.md", *sorted((root / "chapters").glob("[0-9][0-9]_*.py"))]:
            text = path.read_text()
            if rewrite(text, repo, branch, tag) != text:
                path.write_text(rewrite(text, repo, branch, tag))
                print(f"rewrote {path}")
    found = problems(root)
    for p in found:
        print(p)
    print(f"links: {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
