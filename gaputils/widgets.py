"""Interactive explorers with a static fallback (chapter 01).

``explorer(run, controls)`` shows the figure for the controls' default values as an ordinary
output - visible in every notebook viewer, on GitHub and in executed copies - and below it the
controls and a button; pressing the button calls ``run(**values)`` and shows its figure in place.
Where ipywidgets is missing or no kernel runs, only the static figure is shown.

Works with ipywidgets 7.7 (what Colab ships and imports at start) and 8, through their public
API only. On Colab, ipywidgets 8 renders only through Colab's custom widget manager, which
:func:`explorer` switches on when it finds that combination.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import hessian, plots
from . import landscape as ls
from .train import fit


def explorer(run: Callable[..., plt.Figure], controls: dict, *, title: str = "",
             button: str = "Train") -> object | None:
    """Display ``run(**defaults)`` statically, then widgets that re-run it. Chapter 01.

    ``controls`` maps each keyword of ``run`` to an ipywidgets control (its ``value`` is the
    default). Returns the widget box (``None`` without ipywidgets); ``box.run_button.click()``
    re-runs from code, as the tests do.
    """
    from IPython.display import display

    defaults = {k: c.value for k, c in controls.items()}
    fig = run(**defaults)
    display(fig)
    plt.close(fig)
    try:
        import ipywidgets as w
    except ImportError:
        return None
    _colab_widget_manager(w.__version__)
    out = w.Output()
    go = w.Button(description=button, button_style="primary")
    status = w.HTML(f"<b>{title}</b> the figure above uses the defaults; change them and press "
                    f"<i>{button}</i>." if title else "")

    def on_click(_):
        values = {k: c.value for k, c in controls.items()}
        go.disabled = True
        out.clear_output(wait=True)
        try:
            with out:
                new = run(**values)
                display(new)
                plt.close(new)
        finally:
            go.disabled = False

    go.on_click(on_click)
    box = w.VBox([status, w.HBox(list(controls.values()) + [go]), out])
    box.run_button, box.output = go, out
    # a live frontend draws the widget view; a static copy shows this line, not the box's repr
    display(view_bundle(box, f"[controls: {', '.join(controls)} - they re-run the figure above "
                             "in a live Jupyter kernel]"), raw=True)
    return box


def view_bundle(widget, text: str) -> dict:
    """The display data of ``widget``'s view (the widget-view MIME type that ipywidgets 7 and 8
    both emit, version 2.0) with ``text`` as its plain-text fallback for static copies."""
    view = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    return {"application/vnd.jupyter.widget-view+json": view, "text/plain": text}


def _colab_widget_manager(version: str) -> bool:
    """On Colab with ipywidgets >= 8, switch on Colab's custom widget manager (the only way
    Colab renders them); ipywidgets 7 renders natively there. True if it was switched on."""
    if "google.colab" not in sys.modules or int(version.split(".")[0]) < 8:
        return False
    from google.colab import output

    output.enable_custom_widget_manager()
    return True


def batch_size_explorer(ds, setting, batch_sizes, epochs: float):
    """Pick a batch size and a learning rate, train the network of ``setting`` (a
    ``gu.testbed.Setting``: network, optimizer, schedule) for ``epochs`` on ``ds`` from a fixed
    start (seed 0) and see the learning curves. Chapter 01."""
    import ipywidgets as w

    def run(batch_size: int, lr: float):
        torch.manual_seed(0)
        net = setting.build(ds)
        spe = max(1, len(ds.train[1]) // batch_size)
        cfg = setting.config(batch_size, 0, n_train=len(ds.train[1]), lr=lr, epochs=epochs,
                             eval_every=max(1, spe // 4))
        return plots.learning_curves({f"batch {batch_size}, lr {lr:.0e}": fit(net, ds, cfg)})

    sizes = [b for b in batch_sizes if b <= len(ds.train[1])]
    center = math.log10(setting.lr)
    controls = {
        "batch_size": w.SelectionSlider(options=sizes, value=sizes[len(sizes) // 2],
                                        description="batch size"),
        "lr": w.FloatLogSlider(value=setting.lr, base=10, min=center - 1.5, max=center + 1,
                               step=0.25, description=f"{setting.optimizer} lr",
                               readout_format=".1e"),
    }
    return explorer(run, controls, title=f"{setting.model}, {epochs} epochs:")


def landscape_explorer(models: dict, data, span: float = 1.0, n: int = 21):
    """Pick a minimizer, a direction seed, a span and a resolution; see the filter-normalized
    1-D slice and, with "2-D" ticked, the plane. Chapter 02."""
    import ipywidgets as w

    def run(name: str, seed: int, span: float, n: int, two_d: bool):
        net = models[name]
        d1 = ls.random_direction(net, seed=seed)
        if two_d:
            d2 = ls.random_direction(net, seed=seed + 10_000)
            plane = ls.plane(net, d1, d2, data, span, n)
            return plots.planes({f"{name}, direction seed {seed}": plane})
        fig, ax = plt.subplots(figsize=(6, 4))
        res = ls.line(net, d1, data, span, n)
        ax.plot(res["t"], res["loss"], marker=".")
        ax.set(xlabel="step along the direction (t, in units of each filter's norm)",
               ylabel="training loss (nats)",
               title=f"{name}, direction seed {seed}", yscale="log",
               ylim=(max(np.min(res["loss"]) / 2, 1e-4), None))
        return fig

    controls = {
        "name": w.Dropdown(options=list(models), description="minimizer"),
        "seed": w.IntText(value=0, description="direction seed"),
        "span": w.FloatSlider(value=span, min=0.1, max=2.0, step=0.1, description="span"),
        "n": w.IntSlider(value=n, min=5, max=41, step=2, description="points"),
        "two_d": w.Checkbox(value=False, description="2-D"),
    }
    return explorer(run, controls, title="Loss landscape:", button="Draw")


def spectrum_explorer(densities: dict, eigenvalues: dict, colors=None):
    """Re-draw precomputed spectra: how many top eigenvalues to show, the Gaussian broadening of
    the density as a percentage of each spectrum's range (1%, the chapter's, by default), and
    whether each density gets its own panel (the default: with one shared broadening, a narrow
    spectrum hides under a single Gaussian of a wide one). No new Hessian products. Chapter 04.
    ``colors``: one per label, as the chapter's figures use."""
    import ipywidgets as w

    palette = {k: colors[i] if colors else f"C{i}" for i, k in enumerate(densities)}

    def run(k: int, percent: float, separate: bool):
        groups = [[n] for n in densities] if separate else [list(densities)]
        fig, axes = plt.subplots(1, len(groups) + 1, figsize=(5 * (len(groups) + 1), 4))
        for ax, group in zip(axes[:-1], groups, strict=True):
            part = {n: densities[n] for n in group}
            width = percent * hessian.default_broadening(part.values())  # the default is 1%
            plots.density_axis(ax, hessian.broadened(part, width), palette)
        plots.eigenvalue_bars({k_: v[:k] for k_, v in eigenvalues.items()}, ax=axes[-1],
                              colors=[palette.get(n, f"C{i}") for i, n in enumerate(eigenvalues)])
        fig.tight_layout()
        return fig

    largest = min(len(v) for v in eigenvalues.values())
    controls = {"k": w.IntSlider(value=largest, min=1, max=largest, description="eigenvalues"),
                "percent": w.FloatLogSlider(value=1.0, base=10, min=-2, max=1,
                                            description="broadening, % of range",
                                            style={"description_width": "initial"}),
                "separate": w.Checkbox(value=True, description="one panel per spectrum")}
    return explorer(run, controls, title="Hessian spectrum:", button="Draw")
