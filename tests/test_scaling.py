"""Steps to a target loss and the critical batch size: the early stop ends where it should, the
fit recovers a known curve, the best learning rate is the fastest one that always arrives."""

import copy
import math

import numpy as np
import pytest
import torch

import gaputils as gu
from gaputils import batches, cache, scaling, testbed, workers
from gaputils.train import TrainConfig, evaluate, fit
from tests.helpers import toy_dataset


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 3))


def test_stop_below_ends_at_the_first_evaluation_under_the_target():
    ds = toy_dataset()
    full = fit(_net(), ds, TrainConfig(batch_size=8, lr=0.05, epochs=10, eval_every=3),
               progress=False)
    target = float(np.median(full.train_loss))
    first = next(i for i, v in enumerate(full.train_loss) if v <= target)
    cut = fit(_net(), ds, TrainConfig(batch_size=8, lr=0.05, epochs=10, eval_every=3,
                                      stop_below=target), progress=False)
    assert cut.step == full.step[:first + 1] and cut.train_loss == full.train_loss[:first + 1]
    with pytest.raises(ValueError, match="stop_below"):
        TrainConfig(batch_size=8, epochs=1, stop_below=-1.0)
    assert "stop_below" not in TrainConfig(batch_size=8, epochs=1).as_dict()  # cache keys kept


def test_crossing_interpolates_in_log_loss_between_the_last_two_checks():
    # loss 1.0 at step 10, 0.25 at step 20: log-linear, so 0.5 is reached half-way
    assert scaling.crossing([0, 10, 20], [2.0, 1.0, 0.25], 0.5) == pytest.approx(15.0)
    assert scaling.crossing([0, 10, 20], [2.0, 1.0, 0.25], 1.0 - 1e-12) == pytest.approx(10.0)
    assert scaling.crossing([0, 10, 20], [2.0, 1.0, 0.25], 0.25) == pytest.approx(20.0)
    assert scaling.crossing([0], [0.2], 0.5) == 0.0  # nothing before: the step itself
    assert scaling.crossing([0, 4], [0.4, 0.3], 0.5) == 4.0  # already below before


def test_fresh_bn_stats_are_the_training_sets_and_leave_training_alone():
    from gaputils.remedies import FreshBNStats, recompute_bn_stats

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 6),
                              torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                              torch.nn.Linear(6, 3))
    ds = toy_dataset()
    x = ds.train[0]
    net.train()
    h = net[1](net[0](x)).detach()
    bn = net[2]
    for chunk in (7, len(x)):  # layer by layer in unequal chunks, or in one pass: the same
        bn.reset_running_stats()
        recompute_bn_stats(net, x, chunk=chunk)
        assert torch.allclose(bn.running_mean, h.mean(0), atol=1e-5)
        assert torch.allclose(bn.running_var, h.var(0, unbiased=True), rtol=1e-4)
    assert bn.momentum == 0.1 and net.training and bn.training and net[4].training
    deep = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 6), torch.nn.BatchNorm1d(6),
                               torch.nn.ReLU(), torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5))
    one, layered = copy.deepcopy(deep), copy.deepcopy(deep)
    recompute_bn_stats(one, x)
    recompute_bn_stats(layered, x, chunk=7)  # the second layer sees the first's new statistics
    deep.eval()
    for a, b in ((one[2], layered[2]), (one[5], layered[5])):
        assert torch.allclose(a.running_mean, b.running_mean, atol=1e-5)
        assert torch.allclose(a.running_var, b.running_var, rtol=1e-4)
    with torch.no_grad():  # and they are the statistics of the eval-mode network's inputs
        h2 = one[4](one[3](one[2].eval()(one[1](one[0](x)))))
    assert torch.allclose(one[5].running_mean, h2.mean(0), atol=1e-5)
    cfg = dict(batch_size=8, lr=0.05, epochs=3, eval_every=4, optimizer="sgd")
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    ha = fit(a, ds, TrainConfig(**cfg), progress=False)
    hb = fit(b, ds, TrainConfig(**cfg, remedies=(FreshBNStats(4),)), progress=False)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):  # the same training
        assert torch.equal(pa, pb)
    assert ha.step == hb.step and ha.train_loss != hb.train_loss  # other statistics in eval
    # the recompute pass is the evaluation's forward pass: its loss, handed to the run, is the
    # one a separate evaluation at those statistics gives, to the last bit
    again = []
    fit(copy.deepcopy(net), ds, TrainConfig(**cfg, remedies=(FreshBNStats(4),)), progress=False,
        callback=lambda m, h: again.append(evaluate(m, *ds.train)))
    assert [(a_, b_) for a_, b_ in zip(hb.train_loss[1:], hb.train_acc[1:], strict=True)] == again
    out = recompute_bn_stats(b, x)
    assert batches.score(out, ds.train[1]) == evaluate(b, *ds.train)
    assert recompute_bn_stats(b, x, chunk=7) is None  # layer by layer: no output to hand on
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(**cfg, remedies=(FreshBNStats(0),))


def test_bn_moments_in_blocks_are_the_double_sums_of_the_whole():
    """The moments summed block by block (here 3 examples of 2 x 5 x 5 at a time, so the last
    block is short) are the double-precision sums over the whole input, in either memory
    layout and for a (batch, features) input."""
    from gaputils.remedies.batchnorm_stats import _moments

    torch.manual_seed(0)
    x = torch.randn(10, 2, 5, 5) * 3 + 1
    for h in (x, x.to(memory_format=torch.channels_last), torch.randn(7, 4)):
        d = h.double()
        dims = [k for k in range(h.dim()) if k != 1]
        n, s, s2 = _moments(h, block=3 * h[0].numel())
        assert n == h.numel() // h.shape[1] and s.dtype == s2.dtype == torch.float64
        assert torch.allclose(s, d.sum(dims), rtol=1e-12, atol=1e-12)
        assert torch.allclose(s2, (d * d).sum(dims), rtol=1e-12)


def test_fresh_bn_stats_in_cache_sized_pieces_are_those_of_one_pass(monkeypatch):
    """An nn.Sequential runs in pieces between its BatchNorm layers (here of 16 examples): the
    statistics and the output are those of the hooked single pass that any other network
    takes, to float rounding."""
    from gaputils.remedies import recompute_bn_stats

    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                              torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 2 * 2, 3))
    x = toy_dataset(n=100, shape=(1, 6, 6)).train[0]
    pieces = []
    monkeypatch.setattr(batches, "eval_chunk", lambda model, x: pieces.append(16) or 16)
    staged = recompute_bn_stats(copy.deepcopy(seq), x)
    assert pieces == [16]  # the staged pass
    wrapped = torch.nn.Sequential(torch.nn.Sequential(*copy.deepcopy(seq)))  # BatchNorm not its own
    hooked = recompute_bn_stats(wrapped, x)
    assert pieces == [16]  # the hooked single pass asks no piece size
    assert staged.shape == (100, 3) and torch.allclose(staged, hooked, atol=1e-6)
    done = copy.deepcopy(seq)
    recompute_bn_stats(done, x)
    for a, b in zip([done[1], done[4]], [wrapped[0][1], wrapped[0][4]], strict=True):
        assert torch.allclose(a.running_mean, b.running_mean, atol=1e-6)
        assert torch.allclose(a.running_var, b.running_var, rtol=1e-5)
    assert not torch.allclose(done[4].running_var, seq[4].running_var)  # they were set


def test_fit_critical_recovers_mccandlish_curve():
    b = np.array([8, 16, 32, 64, 128, 256, 512, 1024])
    s = scaling.critical_curve(b, 40.0, 150.0)
    f = scaling.fit_critical(b, s)
    assert f["s_min"] == pytest.approx(40.0, rel=1e-6)
    assert f["b_crit"] == pytest.approx(150.0, rel=1e-6)
    assert f["e_min"] == pytest.approx(6000.0, rel=1e-6)
    # perfect scaling below B_crit: doubling a small batch about halves the steps
    assert s[0] / s[1] == pytest.approx(2, rel=0.06) and s[-2] / s[-1] < 1.2
    with pytest.raises(ValueError, match="three or more"):
        scaling.fit_critical([8, 16], [10, 5])
    with pytest.raises(ValueError, match="finite"):
        scaling.fit_critical([8, 16, 32], [10, math.nan, 5])


def test_best_steps_takes_the_fastest_rate_that_always_arrives():
    result = {"steps": {"8": {"0.1": [100, 120], "0.2": [60, math.nan], "0.05": [150, 160]},
                        "16": {"0.1": [math.nan, math.nan]}}}
    best = scaling.best_steps(result)
    assert best == {8: {"lr": 0.1, "steps": [100, 120]}}
    assert scaling.mean_steps(best)[8] == pytest.approx((100 * 120) ** 0.5)


def test_steps_to_target_and_noise_along_on_a_toy_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path))
    ds = toy_dataset(n=96, n_test=16)
    setting = testbed.Setting("toy", "F1", n_train=96, n_test=16, sb=8, lb=32, epochs=5,
                              optimizer="sgd", lr=0.1, model_kwargs=(("width", 16),
                                                                    ("depth", 1)))
    res = scaling.steps_to_target(ds, [8, 32], [0, 1], target=0.6, lr=0.1, max_epochs=20,
                                  setting=setting)
    assert set(res["steps"]) == {8, 32} and all(len(v) == 2 for v in res["steps"][8].values())
    best = scaling.best_steps(res)
    assert set(best) == {8, 32} and all(all(s > 0 for s in r["steps"]) for r in best.values())
    for b, row in res["steps"].items():  # the tuned rate beats both of its neighbours
        score = {lr: np.exp(np.mean(np.log(v))) if np.all(np.isfinite(v)) else np.inf
                 for lr, v in row.items()}  # a rate that did not always arrive: infinitely slow
        lr = best[b]["lr"]
        assert lr * 2 in row and lr / 2 in row
        assert score[lr] <= min(score[lr * 2], score[lr / 2])
    again = scaling.steps_to_target(ds, [8, 32], [0, 1], target=0.6, lr=0.1, max_epochs=20,
                                    setting=setting)
    assert again == res  # cached and deterministic
    one, calls, real = {}, {}, scaling.train_grids
    pairs = lambda grids: [(g[0][0], g[2]["lr"]) for g in grids]

    def to_start(ds_, grids):  # runs of the grids neither in the cache nor training ahead
        keys = [cache.run_key(net, ds_, cfg, setting.model)[0] for g in grids
                for *_, net, cfg, _ in gu.runs._planned(ds_, g[0], g[1], setting, g[2])]
        return sum(not cache.has(k) and k not in workers._background for k in keys)

    for n in ("2", "1"):  # in workers with runs ahead, or one after another: the same
        monkeypatch.setenv("GAPUTILS_WORKERS", n)
        monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path / n))
        calls[n] = []
        monkeypatch.setattr(scaling, "train_grids", lambda ds_, grids, calls=calls[n], **k: (
            calls.append((pairs(grids), pairs(k["ahead"]), to_start(ds_, grids)))
            or real(ds_, grids, **k)))
        one[n] = scaling.steps_to_target(ds, [8, 32], [0], target=0.6, lr=0.1, max_epochs=20,
                                         setting=setting)
    assert one["2"] == one["1"] and len(one["1"]["steps"][8]) > 3  # B = 8 searched on
    # each round of B = 8 offers B = 32 at the highest of its first three rates, then at each
    # further rate it tries; the last batch size offers nothing
    (trio, first, _), *lone = [c for c in calls["2"] if c[0][0][0] == 8]
    assert len(trio) == 3 and first == [(32, max(r for _, r in trio))]
    assert lone and all(a == [(32, r) for _, r in c] for c, a, _ in lone)
    assert all(a == [] for c, a, _ in calls["2"] if c[0][0] == 32)
    # B = 32's first three rates: with workers, some had trained (or were training) ahead
    first32 = {n: next(c for c in calls[n] if c[0][0][0] == 32) for n in calls}
    assert first32["1"][2] == 3 > first32["2"][2]
    torch.manual_seed(0)
    net = setting.build(ds)
    rows = scaling.noise_along(net, ds, setting.config(8, 0, lr=0.1, epochs=10),
                               losses=[1.0, 0.6], n=90, groups=3)
    assert [r["loss"] for r in rows] == [1.0, 0.6][:len(rows)] and rows
    assert all(r["train_loss"] <= r["loss"] and r["b_simple"] > 0 for r in rows)
    assert all(r["population"] == 96 for r in rows)  # measured on 90 of the 96
    levels = scaling.by_level({"0": rows, "1": rows[:1]})
    assert levels[rows[0]["loss"]] == [rows[0]["b_simple"]] * 2


def test_critical_batch_measures_the_noise_scale_in_a_worker_as_here(tmp_path, monkeypatch):
    ds = toy_dataset(n=96, n_test=16)
    setting = testbed.Setting("toy", "F1", n_train=96, n_test=16, sb=8, lb=32, epochs=5,
                              optimizer="sgd", lr=0.1, model_kwargs=(("width", 16),
                                                                    ("depth", 1)))
    out, submitted, real = {}, [], workers.submit
    monkeypatch.setattr(workers, "submit", lambda *a: submitted.append(a[1]) or real(*a))
    for n in ("2", "1"):  # beside the search of B = 32 in a worker, or here after it
        monkeypatch.setenv("GAPUTILS_WORKERS", n)
        monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path / n))
        out[n] = scaling.critical_batch(ds, [8, 32], [0], 0.6, noise_seeds=[0, 1],
                                        levels=[1.0, 0.6], setting=setting, max_epochs=20, n=90)
    assert submitted == [scaling.noise_runs] * 2 and out["2"] == out["1"]
    assert set(out["1"]["noise"]) == {"0", "1"} and out["1"]["noise"]["0"]


def test_critical_batch_figure_has_the_fit_and_the_noise_scale():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gaputils import plots

    sizes = [8, 32, 128, 512]
    best = {b: {"lr": 0.1, "steps": list(scaling.critical_curve(b, 20, 100) * np.array([0.9, 1.1]))}
            for b in sizes}
    fit = scaling.fit_critical(sizes, [np.exp(np.mean(np.log(r["steps"])))
                                       for r in best.values()])
    assert fit["b_crit"] == pytest.approx(100, rel=1e-6)  # the geometric mean is the curve
    noise = {"0": [{"loss": 1.0, "train_loss": 0.9, "b_simple": 20.0, "se": 3.0},
                   {"loss": 0.3, "train_loss": 0.28, "b_simple": 90.0, "se": 20.0}]}
    fig = plots.critical_batch(best, fit, noise, 0.3)
    left, right = fig.axes
    assert left.get_xscale() == "log" and "steps" in left.get_ylabel()
    assert "B_simple" in right.get_ylabel() and len(right.containers) == 1
    plt.close(fig)
