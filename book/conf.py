"""Sphinx configuration of the book's HTML edition (MyST-NB, the Sphinx Book Theme).

``python book/build.py`` stages the executed chapters next to an index page and runs Sphinx
with this configuration; see that script, and README, "The HTML edition".
"""

project = "The generalization gap of large-batch training"
author = "the book's authors"
extensions = ["myst_nb"]
nb_execution_mode = "off"  # build.py hands over notebooks it has executed
nb_merge_streams = True  # one block per cell's printed output, as in Jupyter
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]
html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {"show_toc_level": 2, "use_download_button": True}
html_static_path = ["_static"]
html_css_files = ["book.css"]
