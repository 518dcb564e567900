"""Jupyter Lab as a reader meets it, in headless Chromium: after the README's set-up command a
chapter's py:percent source opens as a notebook, its cells run, chapter 01's explorer trains and
redraws when a control moves, and a save keeps the .py and the .ipynb paired. The chapters are
copied to a temporary folder first (Lab autosaves), and run in smoke mode."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import pytest
from browser import chromium

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "01_generalization_gap"
TOKEN = "book-test"
EDIT = "\n\nA line a reader added."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A Jupyter Lab server on the loopback address, in a fresh Jupyter configuration folder
    set up with the README's command; yields (its URL, the folder it serves)."""
    home = tmp_path / "served"
    shutil.copytree(ROOT / "chapters", home, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = os.environ | {"JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
                        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
                        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
                        "GAPUTILS_MODE": "smoke", "GAPUTILS_CACHE": str(tmp_path / "cache")}
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)  # every cell in the page, so the test can find the explorer's
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    bindir = Path(sys.executable).parent
    subprocess.run([bindir / "jupytext-config", "set-default-viewer", "python"], env=env,
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={home}",
         "--LabApp.expose_app_in_browser=True", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # at most a minute for the server to answer
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            pytest.fail("Jupyter Lab did not start:\n" + (tmp_path / "lab.log").read_text())
        yield url, home
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_chapter_opens_as_a_notebook_its_explorer_redraws_and_saves_stay_paired(lab):
    url, home = lab
    with chromium(1400, 1000) as page:
        page.set_default_timeout(120_000)
        page.goto(f"{url}/lab/tree/{CHAPTER}.py?token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell")  # a notebook, not a text editor
        assert page.query_selector(".jp-FileEditor") is None
        page.wait_for_function(  # every cell of the source, once Lab has read it
            "n => window.jupyterapp.shell.currentWidget.content.model.cells.length === n",
            arg=len(jupytext.read(home / f"{CHAPTER}.py").cells))
        page.evaluate("async () => { const w = window.jupyterapp.shell.currentWidget;"
                      " await w.context.ready; await w.sessionContext.ready; }")
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext"
                               ".session?.kernel?.status === 'idle'")  # a kernel, ready
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:
            train = page.wait_for_selector(".jupyter-widgets button:has-text('Train')",
                                           timeout=300_000)
        except Exception:
            errors = page.eval_on_selector_all(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                "els => els.map(e => e.innerText.slice(0, 2000))")
            pytest.fail(f"the explorer did not appear; the notebook's errors: {errors}")
        static = figure_sources(page)
        assert static, "the explorer drew no static figure"
        slider = page.query_selector(".widget-hslider .noUi-handle")  # the batch size's
        readout = lambda: page.inner_text(".widget-hslider .widget-readout >> nth=0")
        start = readout()
        slider.focus()
        page.keyboard.press("ArrowLeft")  # the batch size one step down
        assert readout() != start, "the batch-size control did not move"
        train.click()
        first = page.wait_for_selector(".widget-output img")
        redrawn = first.get_attribute("src")
        assert redrawn not in static, "pressing Train did not draw a new figure"
        slider.focus()
        page.keyboard.press("ArrowRight")  # and back up
        assert readout() == start
        train.click()
        page.wait_for_function(
            "old => { const i = document.querySelector('.widget-output img');"
            " return i && i.getAttribute('src') !== old; }", arg=redrawn)

        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=300_000)
        before = (home / f"{CHAPTER}.ipynb").stat().st_mtime
        page.evaluate("t => { const c = window.jupyterapp.shell.currentWidget.content.model"
                      ".cells.get(0).sharedModel; c.setSource(c.getSource() + t); }", arg=EDIT)
        page.keyboard.press("Control+s")
        for _ in range(60):
            if (home / f"{CHAPTER}.ipynb").stat().st_mtime > before:
                break
            time.sleep(0.5)
    py, ipynb = (jupytext.read(home / f"{CHAPTER}.{ext}") for ext in ("py", "ipynb"))
    assert [c.source for c in py.cells] == [c.source for c in ipynb.cells]
    assert py.cells[0].source.endswith(EDIT)  # the edit reached both files
    assert any(c.get("outputs") for c in ipynb.cells), "the saved .ipynb holds no outputs"


def figure_sources(page) -> list[str]:
    """The src of every figure in the notebook's output areas."""
    return page.eval_on_selector_all(".jp-OutputArea-output img",
                                     "els => els.map(e => e.getAttribute('src'))")
