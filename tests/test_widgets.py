"""The explorers under the widget libraries readers meet: ipywidgets 8 (Lab, Binder) and
ipywidgets 7.7.1, which Colab ships and imports before a notebook's first cell (issue 36).

The 7.7.1 test installs that release (no dependencies; it needs ipython_genutils beside it) into
a folder of its own, puts it first on the path of a fresh interpreter with a stub of
``google.colab``, builds an explorer, presses its button and checks what was shown.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gaputils as gu

COLAB_IPYWIDGETS = "7.7.1"
SCRIPT = textwrap.dedent("""
    import json, sys, types
    sys.path.insert(0, sys.argv[1]) if sys.argv[1] else None
    colab, output = types.ModuleType("google.colab"), types.ModuleType("google.colab.output")
    enabled = []
    output.enable_custom_widget_manager = lambda: enabled.append(True)
    colab.output = output
    sys.modules.update({"google": types.ModuleType("google"), "google.colab": colab,
                        "google.colab.output": output})
    import IPython.display
    import ipywidgets as w
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = []
    IPython.display.display = lambda obj, **kw: shown.append(obj)
    import gaputils as gu

    def run(a):
        fig, ax = plt.subplots()
        ax.plot([0, a])
        return fig

    box = gu.widgets.explorer(run, {"a": w.IntSlider(value=1)}, title="t:")
    box.children[1].children[0].value = 4
    box.run_button.click()
    figs = [o.axes[0].lines[0].get_ydata()[-1] for o in shown if isinstance(o, plt.Figure)]
    views = [o for o in shown if isinstance(o, dict)]
    print(json.dumps({"version": w.__version__, "figures": [float(f) for f in figs],
                      "view": views[0], "model_id": box.model_id, "enabled": len(enabled),
                      "disabled": box.run_button.disabled}))
""")


@pytest.fixture(scope="session")
def colab_ipywidgets() -> Path:
    """ipywidgets 7.7.1 and ipython_genutils in a folder of their own (kept between runs)."""
    target = Path.home() / ".cache" / "gaputils-tests" / f"ipywidgets-{COLAB_IPYWIDGETS}"
    if not (target / "ipywidgets" / "__init__.py").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        str(target), f"ipywidgets=={COLAB_IPYWIDGETS}", "ipython_genutils"],
                       check=True)
    return target


def run_explorer(path: str) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    done = subprocess.run([sys.executable, "-c", SCRIPT, path], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_explorer_runs_under_colabs_ipywidgets_7(colab_ipywidgets):
    got = run_explorer(str(colab_ipywidgets))
    assert got["version"] == COLAB_IPYWIDGETS
    assert got["figures"] == [1.0, 4.0]  # the defaults' figure, then the button's
    assert got["view"]["application/vnd.jupyter.widget-view+json"]["model_id"] == got["model_id"]
    assert "controls: a" in got["view"]["text/plain"] and not got["disabled"]
    assert got["enabled"] == 0  # Colab renders ipywidgets 7 natively


def test_explorer_on_colab_with_ipywidgets_8_enables_the_custom_manager():
    got = run_explorer("")
    assert int(got["version"].split(".")[0]) >= 8
    assert got["figures"] == [1.0, 4.0] and got["enabled"] == 1


def test_the_dependency_floor_is_what_colab_ships():
    import tomllib

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    floor = next(d for d in deps["project"]["dependencies"] if d.startswith("ipywidgets"))
    from packaging.version import Version

    assert Version(floor.split(">=")[1].split(",")[0]) <= Version(COLAB_IPYWIDGETS), floor


def test_view_bundle_uses_the_public_model_id():
    import ipywidgets as w

    box = w.VBox([])
    bundle = gu.widgets.view_bundle(box, "static text")
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
    assert bundle["text/plain"] == "static text"
