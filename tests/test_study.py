"""gaputils.study: remedies trained against plain SB and LB, scored with paired statistics."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import toy_dataset  # noqa: E402
from test_plots import labelled  # noqa: E402

import gaputils as gu  # noqa: E402
from gaputils import plots, remedies, scores, stats, study, testbed  # noqa: E402
from gaputils.train import TrainConfig, evaluate  # noqa: E402

SETTING = testbed.Setting("toy", "F1", n_train=96, n_test=48, sb=8, lb=32, epochs=2,
                          optimizer="sgd", lr=0.05, seeds=(0, 1),
                          model_kwargs=(("width", 8), ("depth", 2)))


def fake_results():
    rng = np.random.default_rng(0)
    lb = 0.80 + 0.005 * rng.standard_normal(8)
    arms = {"SB": lb + 0.02 + 0.003 * rng.standard_normal(8), "LB": lb,
            "half": lb + 0.01 + 0.003 * rng.standard_normal(8), "none": lb + 0.0}
    arms["sb+"] = arms["SB"] + 0.01
    out = {"seeds": list(range(8)), "measure_seeds": [0, 1, 2, 3], "arms": {}}
    for i, (name, acc) in enumerate(arms.items()):
        out["arms"][name] = {"seeds": list(range(8)),
            "group": "plain" if name in ("SB", "LB") else "augmentation", "x": i,
            "batch_size": 8 if name in ("SB", "sb+") else 32,
            "test_acc": list(acc), "train_acc": [1.0] * 8, "step": [100 * (i + 1)] * 8,
            "seconds": [1.0] * 8, "lambda_max": list(10.0 / (i + 1) * np.exp(
                0.1 * rng.standard_normal(4))), "sharpness": [5.0, 6.0, 5.5, 5.2]}
    return out


def test_summarize_scores_each_arm_by_paired_gain_and_fieller_fraction():
    res = fake_results()
    rows = scores.summarize(res)
    a = res["arms"]
    acc = lambda k: np.array(a[k]["test_acc"])
    g = stats.paired(acc("half"), acc("LB")).scaled(100)
    assert rows["half"]["gain"].mean == pytest.approx(g.mean)
    assert rows["half"]["gain"].lo == pytest.approx(g.lo)
    f = stats.fieller(acc("half") - acc("LB"), acc("SB") - acc("LB"))
    assert rows["half"]["fraction"] == f and f.bounded and f.lo < f.estimate < f.hi
    assert "fraction" not in rows["SB"] and "gain" not in rows["LB"]
    ratio = np.exp(np.mean(np.log(a["half"]["lambda_max"]) - np.log(a["LB"]["lambda_max"])))
    assert rows["half"]["lambda_max_ratio"][0] == pytest.approx(ratio)
    assert rows["half"]["lambda_max_vs_top"] == pytest.approx(
        rows["half"]["lambda_max"] / rows["SB"]["lambda_max"])
    assert rows["none"]["gain"].mean == 0 and rows["none"]["fraction"].estimate == 0
    table = scores.format_summary(rows)
    assert all(name in table for name in a) and "sharpness / LB" in table
    assert "λmax" not in scores.format_summary(rows, curvature=False)
    rows["a long remedy's name, 28 ch"] = rows.pop("half")
    for text in (scores.format_summary(rows), scores.findings(rows)):
        assert max(len(line) for line in text.splitlines()) <= 100
    text = scores.findings(rows)
    assert "none" in text and "not a verdict" in text.split("none")[1]  # LB itself, exactly
    assert not text.startswith("SB")
    assert ("sb+ against plain SB: +1.00 [+1.00, +1.00] pts - not a verdict (the 8 paired "
            "differences are identical, so the interval has no width)" in " ".join(text.split()))


def test_summarize_pairs_an_arm_with_other_seeds_by_seed():
    res = fake_results()
    full = scores.summarize(res)["half"]
    more = res["arms"]["half"]  # two more seeds, listed first; LB and SB keep seeds 0-7
    more |= {"seeds": [9, 8, *more["seeds"]], "test_acc": [0.5, 0.9, *more["test_acc"]],
             "lambda_max": [1.0, 2.0, *more["lambda_max"]],
             "sharpness": [1.0, 2.0, *more["sharpness"]]}
    res["measure_seeds"] = [0, 1, 2, 3, 8, 9]
    row = scores.summarize(res)["half"]
    assert row["n"] == 10 and row["gain"].mean == pytest.approx(full["gain"].mean)
    assert row["fraction"] == full["fraction"]
    assert row["lambda_max_ratio"] == pytest.approx(full["lambda_max_ratio"])
    fewer = res["arms"]["none"]
    fewer |= {k: fewer[k][2:] for k in ("seeds", "test_acc", "train_acc", "step", "seconds",
                                        "lambda_max", "sharpness")}
    acc = lambda k: 100 * np.array(res["arms"][k]["test_acc"][-6:])
    gain = scores.summarize(res)["none"]["gain"]
    assert gain.mean == pytest.approx(stats.paired(acc("none"), acc("LB")).mean) and gain.se == 0


def test_key_numbers_are_mean_accuracy_and_fraction_per_row_less_the_skipped():
    rows = scores.summarize(fake_results())
    keys = scores.key_numbers(rows, "r: ", skip=("SB", "LB"))
    assert keys["r: half: test accuracy %"] == pytest.approx(rows["half"]["acc"][0])
    assert keys["r: half: fraction of the gap"] == rows["half"]["fraction"].estimate
    assert not any(k.startswith(("r: SB:", "r: LB:")) for k in keys)
    assert "SB: test accuracy %" in scores.key_numbers(rows)
    g = rows["half"]["gain"]  # the gain with its interval, which gu.reference.agreement tests
    got = gu.reference.intervals(keys)["r: half: gain over LB, pts"]
    assert got == pytest.approx((g.mean, g.lo, g.hi))


def test_verdicts_follow_the_intervals():
    sure = stats.Difference(1.0, 0.1, 0.8, 1.2, 10, 9, 10, True)
    unsure = stats.Difference(0.2, 0.3, -0.4, 0.8, 0.7, 9, 10, True)
    most = stats.Ratio(0.8, 0.6, 1.0, True, 10)
    unknown = stats.Ratio(0.5, -np.inf, np.inf, False, 10)
    flat = (0.2, 0.1, 0.4)
    assert scores.verdict({"gain": sure, "fraction": most, "lambda_max_ratio": flat,
                           "lambda_max_vs_top": 3.0, "n_measured": 3}) == (
        "raises LB's test accuracy, closing more than half of the gap; a flatter minimizer "
        "than LB's (λmax x0.2 [0.1, 0.4] of LB's, x3 of SB's)")
    assert scores.verdict({"gain": unsure, "fraction": unknown}) == (
        "cannot be told from plain LB in test accuracy")
    assert "unknown part" in scores.verdict({"gain": sure, "fraction": unknown})
    two = {"gain": sure, "fraction": most, "lambda_max_ratio": flat, "n_measured": 2}
    assert "λmax" not in scores.verdict(two)  # no curvature verdict on one degree of freedom
    pair = stats.Difference(1.0, 0.1, -0.3, 2.3, 10, 1, 2, True)  # two seeds: no verdict at all
    assert scores.verdict({"gain": pair, "fraction": most}) == (
        "+1.00 pts over LB: an estimate, not a verdict (2 seeds, an interval on one degree of "
        "freedom)")
    flat_gain = stats.Difference(0.28, 0.0, 0.28, 0.28, np.inf, 3, 4, True)  # identical pairs
    assert "no width" in scores.verdict({"gain": flat_gain, "fraction": most})


def test_keskar_arms_are_valid_configs_with_distinct_names():
    arms = gu.arms.keskar_arms(testbed.get("standard"))
    assert len({a.name for a in arms}) == len(arms) == 13
    for a in arms:
        cfg = testbed.get("standard").config(a.batch_size, 0, n_train=2000, **a.options)
        assert isinstance(cfg, TrainConfig)
    warm = [a for a in arms if a.group == "warm start"]
    assert [a.x for a in warm] == [2, 5, 10, 20]
    with pytest.raises(ValueError, match="cosine"):
        gu.arms.keskar_arms(testbed.get("standard").replace(schedule="step"))


def test_run_trains_each_arm_from_the_plain_runs_start_and_figures_draw():
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    arms = gu.arms.keskar_arms(SETTING, lambdas=(1.0,), warm_epochs=(1,), double_every=1)
    res = study.run(arms, (0, 1), (0, 1), setting=SETTING, ds=ds, n_curvature=48)
    assert set(res["arms"]) == {"SB", "LB"} | {a.name for a in arms}
    for a in res["arms"].values():
        assert len(a["test_acc"]) == 2 and len(a["lambda_max"]) == 2
    assert res["arms"]["warm_start_1"]["step"] == [12 + 3] * 2  # one SB and one LB epoch
    again = study.run(arms, (0, 1), (0, 1), setting=SETTING, ds=ds, n_curvature=48)
    assert again["arms"] == res["arms"]  # loaded from the cache, measured the same
    rows = scores.summarize(res)
    labelled(plots.remedy_summary({"a": rows, "b": rows}))
    labelled(plots.warm_starts({"a": [(1, rows["warm_start_1"]), (2, rows["SB"])]}, 2))
    labelled(plots.accuracy_and_steps(rows, ["SB", "LB", "doubling_1"]))
    colors = plots.arm_colors(list(rows))
    assert len(set(colors.values())) == len(colors)
    by_group = plots.arm_colors(list(rows), {n: r["group"] for n, r in rows.items()})
    assert by_group.keys() == colors.keys() and len(set(by_group.values())) == len(by_group)
    marks = plots.arm_markers(["a1", "a2", "a3", "w1", "w2"],
                              {"a1": "robust", "a2": "robust", "a3": "robust",
                               "w1": "warm start", "w2": "warm start"})
    assert marks["a1"] == plots.GROUP_MARKERS["robust"] and marks["w1"] == "v"  # group's first
    assert len({marks[n] for n in ("a1", "a2", "a3")}) == 3 and marks["w1"] != marks["w2"]
    fig = plots.remedy_summary({"a": rows})  # every marker drawn above every bar
    from matplotlib.collections import LineCollection, PathCollection
    parts = fig.axes[0].collections
    tops = [c.get_zorder() for c in parts if isinstance(c, PathCollection)]
    bars = [c.get_zorder() for c in parts if isinstance(c, LineCollection)]
    assert tops and bars and min(tops) > max(bars)
    plt.close(fig)
    live = {"a": [(2, rows["SB"]), (1, rows["warm_start_1"])], "b": [(1, rows["LB"])]}
    fig = plots.warm_starts(live, 2, focus="b")  # points out of order; "b" sets the range
    assert list(fig.axes[0].lines[0].get_xdata()) == sorted(fig.axes[0].lines[0].get_xdata())
    cfgs = {a.name: SETTING.config(a.batch_size, 0, n_train=96, **a.options) for a in arms}
    labelled(plots.batch_schedules({k: remedies.profile(c, 96) for k, c in cfgs.items()}))
    fig = plots.image_rows({"x": ds.train[0][:4], "d": ds.train[0][:4]}, (0.0,), (1.0,), n=4,
                           signed=["d"])
    assert [ax.get_ylabel() for ax in fig.axes[::4]] == ["x", "d"]
    assert fig.axes[4].images[0].get_cmap().name == "RdBu_r"
    plt.close(fig)


def test_hoffer_arms_cover_every_subset_and_adapt_the_regime():
    setting = testbed.get("standard")
    arms = {a.name: a for a in gu.arms.hoffer_arms(setting)}
    ablation = [a for a in arms.values() if a.group == "ablation"]
    assert len(ablation) == 7 and len(set(arms)) == len(arms)
    ra = setting.config(setting.lb, 0, n_train=2000, **arms["LB_LR_GBN_RA"].options)
    sb = setting.config(setting.sb, 0, n_train=2000)
    assert abs(ra.total_steps(2000) - sb.total_steps(2000)) <= 0.01 * sb.total_steps(2000)
    assert ra.lr == pytest.approx(setting.lr * (setting.lb / setting.sb) ** 0.5)
    assert ra.remedies == (remedies.GhostBN(setting.sb),) and ra.distance_every == 1
    assert [a.x for a in arms.values() if a.group == "ghost size"] == [16, 64, 125, 250]
    assert arms["LB_noise"].options["remedies"] == (remedies.MultiplicativeNoise(setting.sb),)
    # the temperature arm: SB's lr / B (linear scaling, warm-up an eighth of the run) and SB's
    # number of steps
    hot = setting.config(setting.lb, 0, **arms["LB_linear_warmup_RA"].options)
    assert hot.lr / setting.lb == pytest.approx(setting.lr / setting.sb)
    assert hot.total_steps(2000) == ra.total_steps(2000)
    assert hot.warmup_epochs == pytest.approx(hot.epochs / 8)
    assert arms["LB_linear_warmup"].options["warmup_epochs"] == 5.0  # its key of old
    control = setting.config(setting.sb, 0, **arms["SB_RA_epochs"].options)
    assert control.epochs == ra.epochs and control.batch_size == setting.sb  # SB, trained as long
    picked = gu.arms.hoffer_arms(setting, names=gu.arms.HOFFER_REGIME_ARMS)
    assert [a.name for a in picked] == [n for n in arms if n in gu.arms.HOFFER_REGIME_ARMS]
    with pytest.raises(ValueError, match="no arm named"):
        gu.arms.hoffer_arms(setting, names=("LB_magic",))


def test_run_keeps_curves_and_evaluations_and_merges_seed_splits():
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    setting = SETTING.replace(model="C1", model_kwargs=(("channels", (2, 3)), ("hidden", (6,)),
                                                         ("dropout", 0.0)))
    arms = [a for a in gu.arms.hoffer_arms(setting, ghost_sizes=(4,))
            if a.name in ("LB_GBN_RA", "LB_noise", "LB_GBN4")]
    parts = [study.run(arms, (s,), (), setting=setting, ds=ds, evals=4, curve_seeds=(0,))
             for s in (1, 0)]
    both = study.run(arms, (0, 1), (), setting=setting, ds=ds, evals=4, curve_seeds=(0,))
    merged = study.merge(*parts)
    assert merged["seeds"] == [0, 1] and merged["arms"].keys() == both["arms"].keys()
    for name, arm in both["arms"].items():
        for key in ("test_acc", "step", "seeds", "curves"):
            assert merged["arms"][name][key] == arm[key], (name, key)
    ra = both["arms"]["LB_GBN_RA"]
    assert ra["step"] == [12 * 2] * 2  # as many steps as SB: 96 // 8 per epoch, 2 epochs
    curve = ra["curves"]["0"]
    assert curve["step"] == [0, 6, 12, 18, 24] and curve["distance_step"][0] == 1
    (h,) = study.histories(both, "LB_GBN_RA")
    assert h.test_acc == curve["test_acc"]
    with pytest.raises(ValueError, match="share seeds"):
        study.merge(parts[0], parts[0])
    noise = [a for a in arms if a.name == "LB_noise"]  # more seeds of one arm, added later
    more = study.run(noise, (2,), (), setting=setting, ds=ds, evals=4)
    grown = study.merge(merged, more)
    assert grown["seeds"] == [0, 1, 2] and grown["arms"].keys() == merged["arms"].keys()
    assert grown["arms"]["LB_noise"]["seeds"] == grown["arms"]["SB"]["seeds"] == [0, 1, 2]
    assert grown["arms"]["LB_GBN4"] == merged["arms"]["LB_GBN4"]
    assert grown["arms"]["LB_noise"]["test_acc"][2] == more["arms"]["LB_noise"]["test_acc"][0]
    with pytest.raises(ValueError, match="'LB' differs"):
        study.merge(merged, more | {"arms": more["arms"] | {"LB": merged["arms"]["SB"]}})
    rows = scores.summarize(merged)
    labelled(plots.forest(rows, ["SB", "LB", "LB_noise"], "t"))
    labelled(plots.regimes({n: study.histories(both, n) for n in ("SB", "LB_GBN_RA")}))
    labelled(plots.gain_sweep([(4, rows["LB_GBN4"]), (32, rows["LB"])], "g", "t",
                              rows["SB"]))
    fit = {"a": 0.0, "b": 1.0, "r2": 1.0, "first": 1, "last": 12}
    labelled(plots.weight_distances({"LB": (curve["distance_step"], curve["distance"])},
                                    {"LB": fit}))


def test_committed_studies_key_each_arm_by_the_id_its_function_gives():
    """Results are keyed by arm ids, not by what tables show: every arm of the committed
    references is the arm of that name that gaputils.arms builds today (label, group, batch size
    and recorded options), so a label can change without touching a result."""
    tb, hof = testbed.get("standard"), testbed.hoffer("standard")
    built = {a.name: a for a in [*gu.arms.keskar_arms(tb, controls=True),
                                 gu.arms.binding_proximal(tb), *gu.arms.hoffer_arms(tb),
                                 *gu.arms.beyond_arms(tb, (64, 125, 250, 500, 1000)),
                                 *gu.arms.sam_controls(tb)]}
    hoffer = {a.name: a for a in gu.arms.hoffer_arms(hof)}
    load = gu.reference.load
    for res, arms in ((load("ch05_remedies"), built), (load("ch06_train_longer"), built),
                      (load("ch06_hoffer_regime"), hoffer), (load("ch07_beyond")["study"], built)):
        for name, a in res["arms"].items():
            assert " " not in name, name
            if name in ("SB", "LB"):
                assert a["label"] == name and a["group"] == "plain"
                continue
            arm = arms[name]
            assert (a["label"], a["group"], a["batch_size"]) == (arm.label, arm.group,
                                                                 arm.batch_size), name
            described = arm.described()
            assert all(described[k] == v for k, v in a["options"].items() if k in described)
    with pytest.raises(ValueError, match="no spaces"):
        gu.arms.Arm("LB + mine", "yours", 500)
    assert gu.arms.Arm("LB_mine", "yours", 500).label == "LB_mine"


def test_beyond_arms_scale_the_learning_rate_by_each_rule():
    setting = testbed.get("standard")
    arms = {a.name: a for a in gu.arms.beyond_arms(setting, (64, 500, 1000))}
    assert arms["LB_ASAM"].options == {"remedies": (remedies.SAM(0.5, adaptive=True),)}
    assert arms["SB_SAM"].batch_size == setting.sb and "B500" not in arms  # plain LB is LB
    assert arms["B64_sqrt"].options["lr"] == pytest.approx(setting.lr * 2 ** 0.5)
    linear = arms["B1000_linear"].options
    assert linear["lr"] == pytest.approx(setting.lr * 1000 / 32) and linear["warmup_epochs"] == 5


def test_rule_sweep_and_the_largest_batch_that_keeps_sb_accuracy():
    sb = [0.80, 0.81, 0.79, 0.80]
    seeds = [0, 1, 2, 3]
    res = {"arms": {"SB": {"group": "plain", "batch_size": 32, "test_acc": sb},
                    "LB": {"group": "plain", "batch_size": 500,
                           "test_acc": [a - 0.02 for a in sb]},
                    "B64": {"group": "plain", "batch_size": 64, "test_acc": sb,
                             "diverged": [False] * 4},
                    "B64_sqrt": {"group": "sqrt", "batch_size": 64,
                                   "test_acc": [0.81, 0.81, 0.80, 0.80]},
                    "SB_SAM": {"group": "sam", "batch_size": 32, "test_acc": sb}}}
    for arm in res["arms"].values():
        arm["seeds"] = seeds
    sb_more = res["arms"]["SB"] | {"seeds": [*seeds, 4, 5], "test_acc": [*sb, 0.1, 0.9]}
    more = {"arms": res["arms"] | {"SB": sb_more}}  # SB's extra seeds pair with nothing
    assert scores.rule_sweep(more) == scores.rule_sweep(res)
    sweep = scores.rule_sweep(res)
    assert list(sweep) == ["plain", "sqrt"]
    (b, mean, lo, hi, bad), (b2, mean2, *_) = sweep["plain"]
    assert (b, mean, bad) == (64, 0.0, 0) and b2 == 500 and mean2 == pytest.approx(-2.0)
    assert scores.largest_kept(sweep["plain"]) == 64
    assert scores.largest_kept(sweep["sqrt"]) == 64
    one = [(64, -0.3, math.nan, math.nan, 0), (128, -0.8, math.nan, math.nan, 0)]
    assert scores.largest_kept(one) == 64 and scores.largest_kept(one[1:]) is None


def test_curvature_measured_in_the_workers_is_what_this_process_measures(monkeypatch):
    """Every network's lambda_max and sharpness go to the workers at once (one thread each);
    without workers they are measured here, on this process's threads: the same values but
    for the order of the sums."""
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    arms = gu.arms.keskar_arms(SETTING, lambdas=(1.0,), warm_epochs=(1,), double_every=1)[:2]
    got = {}
    for n in ("2", "1"):
        monkeypatch.setenv(gu.workers.ENV, n)
        got[n] = study.run(arms, (0, 1), (0, 1), setting=SETTING, ds=ds, n_curvature=48)
    for name, arm in got["2"]["arms"].items():
        for key in ("lambda_max", "sharpness"):
            assert len(arm[key]) == 2
            assert arm[key] == pytest.approx(got["1"]["arms"][name][key], rel=1e-4), (name, key)
    setting, _, grids = study._grids(arms, (0, 1), SETTING, ds, 1)  # each network by itself
    data_ = ds.train[0][:48], ds.train[1][:48]
    names = ["SB", "LB", *(a.name for a in arms)]
    for name, runs in zip(names, gu.runs.train_grids(ds, grids, setting=setting), strict=True):
        mine = [study._measure(r.model, data_, r.seed) for r in runs]
        assert got["1"]["arms"][name]["lambda_max"] == [m[0] for m in mine], name
        assert got["1"]["arms"][name]["sharpness"] == [m[1] for m in mine], name


def test_a_diverged_arm_counts_with_the_network_it_left_and_is_not_measured():
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    setting = SETTING.replace(model="C1", model_kwargs=(("channels", (2, 3)), ("hidden", (6,)),
                                                         ("dropout", 0.0)))
    arm = gu.arms.Arm("LB_lr1e12", "plain", setting.lb, {"lr": 1e12}, label="LB, lr 1e12")
    with pytest.warns(RuntimeWarning, match="loss became"):
        res = study.run([arm], (0,), (0,), setting=setting, ds=ds, n_curvature=32)
    a = res["arms"]["LB_lr1e12"]
    assert a["diverged"] == [True] and math.isnan(a["lambda_max"][0])
    assert res["arms"]["LB"]["diverged"] == [False] and math.isfinite(
        res["arms"]["LB"]["lambda_max"][0])
    (run,) = gu.runs.train_runs(ds, [setting.lb], (0,), setting=setting, lr=1e12, eval_every=max(
        1, round(setting.epochs * (96 // setting.lb))))
    assert a["test_acc"][0] == evaluate(run.model, *ds.test)[1]
    assert scores.summarize(res)["LB_lr1e12"]["diverged"] == 1


def test_hoffer_families_are_the_declared_ones():
    """Chapter 06's families: every arm at LB's batch size against LB, the regime-adapted arms
    against SB; each a Holm family of its own (the adjusted p-values count its members)."""
    rng = np.random.default_rng(0)
    arm = lambda b, shift: {"batch_size": b, "seeds": [0, 1, 2, 3],
                            "test_acc": list(0.8 + shift + 0.001 * rng.standard_normal(4))}
    names = ["LB_LR", *gu.arms.HOFFER_CLOSERS]
    res = {"arms": {"SB": arm(32, 0.02), "LB": arm(500, 0.0), "SB_RA_epochs":
                    arm(32, 0.03)} | {n: arm(500, 0.01) for n in names}}
    vs_lb, vs_sb = scores.hoffer_families(res)
    assert list(vs_lb) == names and list(vs_sb) == list(gu.arms.HOFFER_CLOSERS)
    assert all(v.verdict == "helps" for v in vs_lb.values())
    assert all(v.verdict == "below SB" for v in vs_sb.values())
    raw = scores.verdicts(res, ["LB_LR"])["LB_LR"]  # a family of one: no correction
    assert vs_lb["LB_LR"].p_holm >= raw.p_holm == raw.p


def test_keskar_families_leave_out_the_sb_controls():
    """Chapter 05's families: every arm but SB, LB and the SB controls against LB; the
    schedules that start at SB against SB."""
    arm = lambda b, group, shift: {"batch_size": b, "group": group, "seeds": [0, 1, 2],
                                   "test_acc": [0.8 + shift, 0.81 + shift, 0.79 + 1.1 * shift]}
    res = {"arms": {"SB": arm(32, "plain", 0.02), "LB": arm(500, "plain", 0.0),
                    "LB_X": arm(500, "x", 0.01), "SB_X": arm(32, "x", 0.03),
                    "warm_start_2": arm(32, "warm start", 0.015)}}
    vs_lb, vs_sb = scores.keskar_families(res)
    assert list(vs_lb) == ["LB_X", "warm_start_2"] and list(vs_sb) == ["warm_start_2"]
    assert scores.keskar_families(res | {"arms": res["arms"] | {  # a later family of its own
        "LB_conservative_20": arm(500, "binding proximal", 0.0)}})[0].keys() == vs_lb.keys()
    assert vs_lb["LB_X"].raw.mean == pytest.approx(scores.paired(res, "LB_X", "LB").mean)
    line = scores.sorted_verdicts(vs_lb)
    assert line.count(":") == len({v.verdict for v in vs_lb.values()})
    assert all(name in line for name in vs_lb)  # no labels recorded: the names are shown


def test_binding_family_pairs_the_binding_term_with_plain_steps_and_lb():
    """Chapter 05's fifth family: the binding proximal term against the lambda = 0 arm (the
    smallest conservative lambda) and against LB, Holm over those two alone."""
    noise = np.array([0.0, 0.002, -0.001, 0.001, -0.002])
    arm = lambda b, group, acc, x=None: {"batch_size": b, "group": group, "x": x,
                                         "seeds": list(range(5)), "test_acc": list(acc + noise)}
    res = {"arms": {"SB": arm(32, "plain", 0.86), "LB": arm(500, "plain", 0.84),
                    "LB_conservative_0": arm(500, "conservative", 0.85, 0.0),
                    "LB_conservative_5": arm(500, "conservative", 0.85, 5.0),
                    "LB_conservative_20": arm(500, "binding proximal", 0.83, 20.0)}}
    res["arms"]["LB_conservative_20"]["label"] = "LB conservative λ=20"
    fam = scores.binding_family(res)
    assert list(fam) == ["LB_conservative_20 - LB_conservative_0", "LB_conservative_20 - LB"]
    assert [v.name for v in fam.values()] == ["LB conservative λ=20 - LB_conservative_0",
                                              "LB conservative λ=20 - LB"]  # shown by label
    assert fam["LB_conservative_20 - LB_conservative_0"].raw.mean == pytest.approx(-2.0)
    assert fam["LB_conservative_20 - LB"].raw.mean == pytest.approx(-1.0)
    assert {v.verdict for v in fam.values()} == {"lower"}
    arm_ = gu.arms.binding_proximal(gu.testbed.get("standard"))
    assert arm_.group == "binding proximal" and arm_.x * gu.testbed.get("standard").lr >= 1


def test_controls_tell_closing_the_gap_from_raising_both():
    """Two remedies with SB controls, built so that one narrows the gap (helps LB only) and the
    other raises SB and LB alike; the exact paired differences and the readings follow."""
    noise = np.array([0.0, 0.001, -0.001, 0.0005, -0.0005, 0.0002])
    arm = lambda b, acc, k=1: {"batch_size": b, "seeds": list(range(6)),
                               "test_acc": list(acc + np.roll(noise, k) * (1 + acc))}
    res = {"arms": {"SB": arm(32, 0.85), "LB": arm(500, 0.84),
                    "LB_closer": arm(500, 0.85), "SB_closer": arm(32, 0.85, 3),
                    "LB_lifter": arm(500, 0.85), "SB_lifter": arm(32, 0.86),
                    "LB_alone": arm(500, 0.845)}}
    res["arms"]["LB_closer"]["label"] = "LB + closer"
    assert scores.controlled(res) == {"closer": ("LB_closer", "SB_closer"),
                                      "lifter": ("LB_lifter", "SB_lifter")}
    fam = scores.controls(res)
    assert list(fam) == ["closer: gain at SB", "closer: change of the gap",
                         "lifter: gain at SB", "lifter: change of the gap"]
    assert fam["closer: change of the gap"].raw.mean == pytest.approx(-1.0, abs=0.05)
    assert fam["lifter: gain at SB"].raw.mean == pytest.approx(1.0, abs=0.05)
    assert fam["closer: gain at SB"].name == "closer: gain at SB"  # the label less "LB + "
    assert fam["lifter: gain at SB"].name == "lifter: gain at SB"  # no label: the remedy
    shown = (scores.remedy_label(res, "closer"), scores.remedy_label(res, "lifter"))
    assert shown == ("closer", "lifter")
    assert scores.paired(res, "LB_closer", "LB").mean == pytest.approx(1.0, abs=0.05)
    gains = scores.verdicts(res, ["LB_closer", "LB_lifter", "LB_alone"])
    assert gains["LB_closer"].name == "LB + closer" and gains["LB_alone"].name == "LB_alone"
    assert scores.control_reading(fam, gains) == {"closer": "closes the gap",
                                                  "lifter": "raises both"}
    with pytest.raises(KeyError, match="both LB and SB"):
        scores.controls({"arms": {"SB": res["arms"]["SB"], "LB": res["arms"]["LB"]}})


def test_sam_families_are_the_declared_ones():
    """Chapter 07's families on its committed reference: the SAM arms and their controls at LB
    against LB, the SB controls, and SAM/ASAM against SB and against LB for twice the epochs."""
    study_ = gu.reference.load("ch07_beyond")["study"]
    vs_lb, sb_controls, vs_top = scores.sam_families(study_)
    assert set(vs_lb) == {"LB_SAM", "LB_ASAM", "LB_SAM_rho0.02", "LB_SAM_rho0.1",
                          gu.arms.TWICE_EPOCHS}
    assert set(sb_controls) == {f"{r}: {what}" for r in ("SAM", "ASAM")
                                for what in ("gain at SB", "change of the gap")}
    assert list(vs_top) == [f"{n} - {o}" for n in ("LB_SAM", "LB_ASAM")
                            for o in ("SB", gu.arms.TWICE_EPOCHS)]
    d = scores.paired(study_, "LB_SAM", "SB")
    assert vs_top["LB_SAM - SB"].raw.mean == pytest.approx(d.mean)
    assert vs_top["LB_SAM - SB"].name == "LB + SAM - SB"  # shown by the arms' labels


def test_same_networks_compares_the_seeds_both_results_hold():
    arm = lambda seeds, accs: {"arms": {"SB": {"seeds": seeds, "test_acc": accs}}}
    live, ref = arm([0, 1], [0.81, 0.79]), arm([1, 0, 2], [0.79, 0.8100001, 0.8])
    assert study.same_networks(live, ref, "SB") == {0: False, 1: True}
    assert study.same_networks(ref, live, "SB") == {1: True, 0: False}


def test_networks_line_says_whether_the_shared_seeds_are_the_references_networks():
    arm = lambda seeds, accs: {"seeds": seeds, "test_acc": accs}
    ref = {"arms": {"SB": arm([0, 1], [0.8, 0.7]), "LB": arm([0, 1], [0.6, 0.5])}}
    same = {"arms": {"SB": arm([0], [0.8]), "LB": arm([0], [0.6])}}
    other = {"arms": {"SB": arm([0], [0.8]), "LB": arm([0], [0.61])}}
    apart = {"arms": {"SB": arm([5], [0.8])}}
    assert study.networks_line(same, ref, ["SB", "LB"]).endswith(
        "seeds [0] of SB, LB: the reference's networks (equal test accuracies)")
    assert study.networks_line(other, ref, ["SB", "LB"]).endswith(
        "other networks than the reference's")
    assert study.networks_line(apart, ref, ["SB", "LB"]).endswith("no seed in common with the "
                                                                   "reference")
