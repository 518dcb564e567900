"""Every standard figure draws, and every data axis carries a label."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from helpers import toy_dataset, trained  # noqa: E402

import gaputils as gu  # noqa: E402
from gaputils import gaps, hessian, landscape, plots  # noqa: E402
from gaputils.train import History  # noqa: E402


def history(shift=0.0):
    return History(epoch=[0, 1, 2], step=[0, 5, 10], train_loss=[2.0, 1.0, 0.5],
                   train_acc=[0.1, 0.6, 0.9 + shift], test_loss=[2.0, 1.2, 0.8],
                   test_acc=[0.1, 0.55, 0.8 + shift], seconds=[0.0, 1.0, 2.0],
                   weight_distance=[0.0, 1.0, 1.5], lr=[1e-3] * 3)


def labelled(fig):
    data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert data_axes
    for ax in data_axes:  # a twin axis shares its x label with its sibling
        siblings = ax.get_shared_x_axes().get_siblings(ax)
        assert any(a.get_xlabel() for a in siblings) and ax.get_ylabel(), ax
    plt.close(fig)


def test_training_figures():
    groups = {"SB": [history(), history(0.01)], "LB": [history(-0.02)]}
    labelled(plots.learning_curves(groups))
    labelled(plots.learning_curves(groups, x="seconds"))
    labelled(plots.epochs_and_seconds(groups))
    runs = [gu.runs.Run(b, s, torch.nn.Identity(), history(0.01 * s))
            for b in (8, 64) for s in (0, 1)]
    table = gaps.summarize(runs)
    labelled(plots.batch_sweep({"fixed epochs": table, "fixed steps": table}))
    sb, lb = [r for r in runs if r.batch_size == 8], [r for r in runs if r.batch_size == 64]
    d = gaps.difference(sb, lb).scaled(100)
    labelled(plots.paired_runs({"toy": (sb, lb), "again": (sb, lb)}, {"toy": d, "again": d}))
    with pytest.raises(ValueError, match="pairs runs by seed"):
        gaps.difference(sb, lb[:1])
    fig, ax = plt.subplots()
    plots.scatter_groups(ax, {"a": ([1, 2], [3, 4])}, "x (unit)", "y (unit)")
    labelled(fig)


def test_landscape_and_spectrum_figures():
    net, ds = trained()
    other, _ = trained(1)
    res = landscape.interpolate(net, other, ds.train, ds.test, alphas=np.linspace(-1, 2, 4))
    labelled(plots.interpolation(res, landscape.interpolate(net, other, ds.train,
                                                            alphas=res["alpha"],
                                                            bn="interpolate")))
    d = landscape.random_direction(net)
    fig, ax = plt.subplots()
    line = landscape.line(net, d, ds.train, n=3)
    plots.slices(ax, {"SB": [line], "LB": [line]}, style=("-", "--"))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SB", "LB"]
    assert ax.get_legend().get_title().get_text() == "1 direction"
    labelled(fig)
    with pytest.raises(ValueError, match="one per label"):
        plots.slices(ax, {"SB": [line], "LB": [line]}, style=("-",))
    labelled(plots.planes({"SB": landscape.plane(net, d, d * 0.5, ds.train, n=3)}))
    dens = {"SB": hessian.density(net, ds.train, num_runs=2, lanczos_steps=5)}
    labelled(plots.spectra(hessian.broadened(dens)))
    labelled(plots.spectra(hessian.broadened(dens | {"LB": dens["SB"]}, separate=True),
                           separate=True))
    ax = plots.eigenvalue_bars({"SB": np.array([3.0, 2.0, 1.0])})
    labelled(ax.figure)


def test_image_grid_titles():
    ds = toy_dataset()
    fig = plots.image_grid(*ds.train, ds.classes, ds.mean, ds.std, n=4, cols=2)
    assert [ax.get_title() for ax in fig.axes[:4]] == [ds.classes[int(c)] for c in
                                                         ds.train[1][:4]]
    plt.close(fig)


def test_reference_curves_draw_both_runs_where_the_reference_has_the_curve():
    from gaputils import reference

    a = reference.curve([1, 2, 3], [1.0, 2.0, 3.0], "step", "loss (nats)")
    b = reference.curve([10, 100], [0.5, 0.4], "batch size (log scale)", "gap (pts, log scale)",
                        log_x=True, log_y=True)
    wide = reference.curve([10, 100, 1000], [0.5, 0.4, 0.3], "batch size (log scale)", "gap")
    fig = plots.reference_curves({"a": a, "b": b}, {"reference (paper)": {"a": a, "b": wide},
                                                    "reference (standard)": {"a": a}})
    assert [len(ax.lines) for ax in fig.axes] == [3, 2]  # the standard run has no curve b
    assert [line.get_label() for line in fig.axes[1].lines] == ["this run", "reference (paper)"]
    assert [line.get_label() for line in fig.axes[0].lines] == [  # a's curve is this run's
        "this run", "reference (paper), identical to this run",
        "reference (standard), identical to this run"]
    assert fig.axes[1].get_xscale() == "log" and fig.axes[1].get_yscale() == "log"
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert ticks == ["10", "100", "1000"]  # every run's batch sizes, read off exactly
    labelled(fig)
    plt.close(fig)


def test_plain_log_labels_plain_numbers_and_only_the_minor_ticks_at_2_and_5():
    fig, ax = plt.subplots()
    ax.plot([1.5, 300], [1, 2])
    ax.set_xlim(1.5, 300)
    ax.set_xscale("log")
    plots.plain_log(ax.xaxis)
    fig.canvas.draw()
    major = {t.get_text() for t in ax.xaxis.get_ticklabels()}
    minor = [t.get_text() for t in ax.xaxis.get_ticklabels(minor=True) if t.get_text()]
    assert {"10", "100"} <= major and not any("10^" in t or "times" in t for t in major)
    assert {"2", "5", "20", "50", "200"} <= set(minor) <= {"2", "5", "20", "50", "200", "500"}
    plots.plain_log(ax.xaxis, minor=False)
    fig.canvas.draw()
    assert not any(t.get_text() for t in ax.xaxis.get_ticklabels(minor=True))
    plt.close(fig)


def test_plain_log_labels_the_minor_ticks_of_2_and_5_below_1_too():
    fig, ax = plt.subplots()
    ax.set(yscale="log", ylim=(0.03, 3))
    plots.plain_log(ax.yaxis)
    fig.canvas.draw()
    shown = lambda ticks: {t.get_text() for t in ticks if 0.03 <= t.get_position()[1] <= 3}
    assert shown(ax.yaxis.get_majorticklabels()) == {"0.1", "1"}
    assert shown(ax.yaxis.get_minorticklabels()) - {""} == {"0.05", "0.2", "0.5", "2"}
    plt.close(fig)
