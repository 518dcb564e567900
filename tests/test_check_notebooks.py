""".ci/check_notebooks.py: a prose line wrapped where Markdown starts a list or a table row."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "check_notebooks", Path(__file__).resolve().parent.parent / ".ci" / "check_notebooks.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def test_a_wrap_that_opens_a_list_or_a_table_row_is_found():
    assert check.stray_breaks("the box eps (|x| +\n1) is absolute") == ["1) is absolute"]
    assert check.stray_breaks("| a | b |\n| --- | --- |\n| x | y\n  z |") == ["  z |"]
    assert check.stray_breaks("a sentence that goes\n- on") == ["- on"]


def test_lists_tables_and_pipes_in_text_are_left_alone():
    fine = ("Two things:\n1. one\n2. two\n\nA list:\n- a\n- b\n\n| a | b |\n| --- | --- |\n"
            "| x | y |\n\nsteps: |B_L| / |B_S| times\nfewer of them\n0) is not a list here")
    assert check.stray_breaks(fine) == []


def test_text_on_a_cell_header_line_is_found():
    text = ("# %% A sentence jupytext would take for a title [markdown]\n# rest\n"
            "# %% [markdown]\n# %%\nx = 1\n# %% tags=[\"remove-cell\"]\n")
    assert check.header_text(text) == ["# %% A sentence jupytext would take for a title "
                                       "[markdown]"]
