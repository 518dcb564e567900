"""Sphinx configuration of the book's HTML edition (MyST-NB, the Sphinx Book Theme).

``python book/build.py`` stages the executed chapters next to an index page and runs Sphinx
with this configuration; see that script, and README, "The HTML edition".
"""

import re
from pathlib import Path
from shutil import copytree, ignore_patterns

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

project = "The generalization gap of large-batch training"
author = "The generalization-gap book contributors"
extensions = ["myst_nb"]
nb_execution_mode = "off"  # build.py hands over notebooks it has executed
nb_merge_streams = True  # one block per cell's printed output, as in Jupyter
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]
html_theme = "sphinx_book_theme"
html_title = project
# The repository link and the launch buttons (Colab, Binder) come from the one setting that
# says where the book is published: pyproject.toml's [project.urls] Repository and
# [tool.book] branch (the Colab and Binder badges and the Colab install cells follow it too).
_meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
REPOSITORY = _meta["project"]["urls"]["Repository"].rstrip("/")
BRANCH = _meta.get("tool", {}).get("book", {}).get("branch", "main")
assert re.fullmatch(r"https://github\.com/[^/]+/[^/]+", REPOSITORY), REPOSITORY
html_theme_options = {
    "show_toc_level": 2, "use_download_button": True,
    "repository_url": REPOSITORY, "repository_branch": BRANCH, "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com",
                       "binderhub_url": "https://mybinder.org",
                       "notebook_interface": "jupyterlab"},
}
html_static_path = ["_static"]
html_css_files = ["book.css"]

# Formulas render without a network: MathJax 2 from the jupyter-server-mathjax package (the copy
# classic Jupyter serves), copied beside the pages, in place of Sphinx's default CDN MathJax.
try:
    import jupyter_server_mathjax
except ImportError:  # a build without the ``book`` extra keeps the CDN
    MATHJAX = None
else:
    MATHJAX = Path(jupyter_server_mathjax.__file__).parent / "static"
    mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
    mathjax2_config = {"HTML-CSS": {"availableFonts": [], "imageFont": None,
                                    "preferredFont": None, "webFont": "STIX-Web"},
                       "tex2jax": {"processClass": "math|output_area"},  # MyST-NB's classes
                       "messageStyle": "none"}


def copy_mathjax(app, error):
    if MATHJAX is not None and error is None and app.builder.format == "html":
        copytree(MATHJAX, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True,
                 ignore=ignore_patterns("localization"))


def setup(app):
    app.connect("build-finished", copy_mathjax)
