import pytest
import torch
from helpers import toy_dataset

import gaputils as gu
from gaputils import cache, flatness, gaps, stability, stats


@pytest.fixture
def small():
    return gu.testbed.Setting("toy", "F1", n_train=64, n_test=None, sb=8, lb=32, epochs=2,
                              optimizer="adam", lr=1e-3, seeds=(0, 1),
                              model_kwargs=(("width", 16), ("depth", 2)))


def test_minimizers_share_the_start_and_come_from_the_cache(small, monkeypatch):
    ds = toy_dataset(n=64)
    runs = gu.runs.minimizers(ds, setting=small)
    assert [r.batch_size for r in runs["SB"]] == [8, 8]
    assert [r.batch_size for r in runs["LB"]] == [32, 32]
    assert [r.seed for r in runs["LB"]] == [0, 1]
    # SB and LB of one seed start from the same weights: identical records at step 0
    for sb, lb in zip(runs["SB"], runs["LB"], strict=True):
        assert sb.history.train_loss[0] == lb.history.train_loss[0]
    assert runs["SB"][0].history.train_loss[0] != runs["SB"][1].history.train_loss[0]

    def no_fit(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(cache, "fit", no_fit)
    again = gu.runs.minimizers(ds, setting=small)
    for a, b in zip(runs["LB"], again["LB"], strict=True):
        assert a.history == b.history
        for k, v in a.model.state_dict().items():
            assert torch.equal(v, b.model.state_dict()[k])


def test_config_follows_the_setting(small):
    cfg = small.config(16, seed=3, n_train=64)
    assert (cfg.batch_size, cfg.lr, cfg.optimizer, cfg.schedule, cfg.seed, cfg.epochs) == (
        16, small.lr, "adam", small.schedule, 3, small.epochs)
    assert cfg.eval_every == small.eval_epochs * 4
    steps = small.config(16, 0, steps=7)
    assert (steps.steps, steps.epochs) == (7, None)
    sgd = small.replace(optimizer="sgd", momentum=0.8, weight_decay=1e-3).config(16, 0)
    assert (sgd.optimizer, sgd.momentum, sgd.weight_decay) == ("sgd", 0.8, 1e-3)
    with pytest.raises(ValueError, match="sb < lb"):
        small.replace(lb=4)
    with pytest.raises(ValueError, match="exceeds the 64 training"):
        small.replace(lb=128)


def test_testbed_and_keskar_settings_per_mode():
    for m in gu.runtime.MODES:
        tb, k = gu.testbed.get(m), gu.testbed.keskar(m)
        assert tb.sb < tb.lb <= tb.train_size and len(tb.seeds) >= 2
        assert (k.model, k.optimizer, k.lr) == ("F1", "adam", 1e-3)
        assert gu.budget(m).testbed is tb
    assert gu.testbed.keskar("paper").lb == 6000  # 10% of 60,000 (Keskar et al.)
    assert gu.testbed.keskar("standard").lb == gu.testbed.keskar("standard").train_size // 10
    assert "SB 32" in gu.testbed.get("standard").describe()
    with pytest.raises(ValueError, match="unknown run mode"):
        gu.testbed.get("huge")



def test_hoffers_regime_augments_clips_at_5_and_keeps_lb_at_most_a_tenth():
    for m in gu.runtime.MODES:
        h, tb = gu.testbed.hoffer(m), gu.testbed.get(m)
        assert h.lb <= h.train_size // 10 and h.sb == tb.sb and h.model == tb.model
        assert h.train_size > tb.train_size and (h.optimizer, h.lr) == (tb.optimizer, tb.lr)
        for bs in (h.sb, h.lb):
            cfg = h.config(bs, 0)
            assert cfg.grad_clip == 5.0 and cfg.remedies == (gu.remedies.Augment(2, True),)
            assert cfg.distance_every == 1
        assert gu.budget(m).hoffer is h
    described = gu.testbed.hoffer("standard").describe()
    assert "augmented" in described and "clipped at 5" in described and "10% of" in described
    # the testbed's runs keep their configuration (and cache keys): no clipping, no remedies;
    # an arm's remedies join the setting's
    plain = gu.testbed.get("standard").config(500, 0).as_dict()
    assert plain["grad_clip"] is None and "augment_shift" not in plain
    both = gu.testbed.hoffer("standard").config(500, 0, remedies=(gu.remedies.GhostBN(32),))
    assert both.remedies == (gu.remedies.Augment(2, True), gu.remedies.GhostBN(32))

def fake_run(bs, seed, train_acc, test_acc):
    h = gu.train.History(epoch=[1.0], step=[10], train_loss=[0.1], train_acc=[train_acc],
                         test_loss=[0.2], test_acc=[test_acc], seconds=[2.0],
                         weight_distance=[1.0], lr=[1e-3])
    return gu.runs.Run(bs, seed, torch.nn.Identity(), h)


def test_summarize_and_difference():
    sb = [fake_run(8, 0, 1.0, 0.90), fake_run(8, 1, 1.0, 0.92)]
    lb = [fake_run(64, 0, 0.99, 0.86), fake_run(64, 1, 1.0, 0.87), fake_run(64, 2, 1.0, 0.88)]
    table = gaps.summarize(sb + lb)
    assert table[8]["test_acc"] == pytest.approx((0.91, 0.0141421356))
    assert table[64]["gap"][0] == pytest.approx(((0.99 - .86) + (1 - .87) + (1 - .88)) / 3)
    assert table[64]["n"] == 3
    with pytest.raises(ValueError, match="pairs runs by seed"):
        gaps.difference(sb, lb)
    lb = lb[:2]
    d = gaps.difference(sb, lb)  # paired: differences 0.04 and 0.05
    assert d.paired and d.n == 2
    assert d.mean == pytest.approx(0.045) and d.se == pytest.approx(0.005)
    text = gaps.gap_table({"Keskar F1": {"SB": sb, "LB": lb}})
    assert "91.00 ± 1.41" in text and "98.03 (MNIST)" in text and "+4.50 ± 0.50" in text
    sweep = gaps.sweep_table({"a": table, "b": {8: table[8]}})
    assert "99.67 / 87.00, 10" in sweep


def test_reference_selection_table():
    def rows(gaps, train=1.0, seconds=10.0):
        return [r for s, g in enumerate(gaps) for r in (
            {"seed": s, "batch_size": 32, "train_acc": 1.0, "val_acc": 0.87, "seconds": seconds},
            {"seed": s, "batch_size": 500, "train_acc": train, "val_acc": 0.87 - g,
             "seconds": seconds})]
    steady, noisy = rows([0.010, 0.011, 0.012]), rows([0.0, 0.03, 0.006])
    text = gu.selection.selection_table({"steady": steady, "noisy": noisy})
    assert "+1.10 ± 0.06" in text and "steady" in text.split("chosen")[0].splitlines()[-1]
    # the rule: largest lower end of the paired 95% interval among fitted, affordable ones
    assert gu.selection.chosen_setting({"steady": steady, "noisy": noisy}) == "steady"
    unfit, slow = rows([0.05] * 3, train=0.98), rows([0.05, 0.051, 0.052], seconds=40.0)
    assert gu.selection.chosen_setting({"a": unfit, "b": steady, "c": slow}) == "b"
    assert gu.selection.chosen_setting({"a": unfit}) is None
    marks = {line.split()[0]: line.split("  ")[-1] for line in gu.selection.selection_table(
        {"a": unfit, "b": steady, "c": slow}).splitlines()[2:]}
    assert marks == {"a": "out: fit", "b": "eligible <- chosen", "c": "out: time"}
    # c (out on time alone) has a higher lower end than b: the limit decided; a is out on fit
    rivals = gu.selection.time_only_rivals({"a": unfit, "b": steady, "c": slow})
    assert list(rivals) == ["c"] and rivals["c"]["over"] == pytest.approx(5 * 80.0 - 300.0)
    uneven = steady[:4] + [dict(r, seconds=100.0) for r in steady[4:]]  # one stretched pair
    row = gu.selection.selection_rows({"u": uneven})["u"]
    assert row["median_seconds"] == pytest.approx(5 * 20.0) and row["seconds"] > 5 * 70.0
    assert gu.selection.time_only_rivals({"b": steady, "n": noisy}) == {}


def test_test_sampling_se_on_known_predictions():
    x = torch.arange(4.0).reshape(4, 1, 1, 1)
    y = torch.zeros(4, dtype=torch.long)

    class Fixed(torch.nn.Module):  # predicts class 0 (correct) on the first k images
        def __init__(self, k):
            super().__init__()
            self.k = k

        def forward(self, x):
            right = (x.flatten() < self.k).float()
            return torch.stack([right, 1 - right], 1)

    ds = gu.data.Dataset("toy", (x, y), (x, y), 2, ("a", "b"), (0.0,), (1.0,), "memory")
    runs = lambda ks: [gu.runs.Run(8, s, Fixed(k), None) for s, k in enumerate(ks)]
    # seed 0: SB right on 4, LB on 2 -> z = (0,0,1,1); seed 1: 3 vs 3 -> 0; mean z = (0,0,.5,.5)
    se = gaps.test_sampling_se(runs([4, 3]), runs([2, 3]), ds)
    assert se == pytest.approx(torch.tensor([0, 0, 0.5, 0.5]).std().item() / 2)



def test_explorer_shows_defaults_then_reruns(monkeypatch):
    import ipywidgets as w
    import matplotlib.pyplot as plt

    calls = []

    def run(a, b):
        calls.append((a, b))
        fig, ax = plt.subplots()
        ax.plot([a, b])
        return fig

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    box = gu.widgets.explorer(run, {"a": w.IntSlider(value=1), "b": w.FloatSlider(value=2.0)})
    assert calls == [(1, 2.0)] and isinstance(shown[0], plt.Figure)
    # the controls' view, and for a static copy a line naming them instead of the box's repr
    assert shown[1]["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
    assert "controls: a, b" in shown[1]["text/plain"]
    box.children[1].children[0].value = 5
    box.run_button.click()
    assert calls[-1] == (5, 2.0) and not box.run_button.disabled


def test_spectrum_explorer_defaults_to_the_chapters_broadening(monkeypatch):
    import matplotlib.pyplot as plt
    import numpy as np

    from gaputils.hessian import Density

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    d = Density(np.zeros(3), np.zeros(3), [np.array([-1.0, 0.0, 99.0])],
                [np.array([0.2, 0.7, 0.1])], 3)
    box = gu.widgets.spectrum_explorer({"SB": d}, {"SB": np.array([99.0, 3.0, 1.0])})
    percent = box.children[1].children[1]
    assert percent.value == pytest.approx(1.0)  # 1% of the range of the nodes
    assert isinstance(shown[0], plt.Figure)
    low, high = shown[0].axes[0].get_ylim()
    assert high / low == pytest.approx(3e8)
    # two spectra of very different widths: each in its own panel by default, each broadened
    # by 1% of its own range (the narrow one is not hidden under the wide one's Gaussian)
    narrow = Density(np.zeros(3), np.zeros(3), [np.array([-0.01, 0.0, 0.99])],
                     [np.array([0.2, 0.7, 0.1])], 3)
    shown.clear()
    gu.widgets.spectrum_explorer({"SB": narrow, "LB": d}, {"SB": np.ones(3), "LB": np.ones(3)})
    density_axes = shown[0].axes[:2]
    assert len(shown[0].axes) == 3 and [a.get_legend_handles_labels()[1] for a in
                                        density_axes] == [["SB"], ["LB"]]
    assert [a.get_xlim()[1] for a in density_axes] == pytest.approx([0.99 + 0.05, 99.0 + 5.0],
                                                                    rel=0.1)


def test_rank_correlation_and_full_batch_gd():
    c = stats.rank_correlation([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert c["n"] == 6 and 0 < c["tau"] < 1 and c["tau_lo"] <= c["tau"] <= c["tau_hi"]
    perfect = stats.rank_correlation(range(8), range(8))
    assert perfect["tau"] == pytest.approx(1.0) and perfect["rho"] == pytest.approx(1.0)
    assert "tau +1.00" in stats.format_correlation(perfect)
    ds = toy_dataset(n=64)
    h, lams = stability.full_batch_gd(ds, lr=0.1, steps=6, n=32, every=3,
                                      model_kwargs={"width": 8, "depth": 1})
    assert h.step == [0, 3, 6] and len(lams) == 3 and all(x > 0 for x in lams)
    e = stability.edge_of_stability(h, lams, lr=0.1)
    assert e["first"] == pytest.approx(lams[0] * 0.05) and e["steps"] == 6
    assert e["threshold"] == pytest.approx(20.0)


def test_edge_of_stability_summary():
    class H:
        step = [0, 10, 20, 30, 40]
    e = stability.edge_of_stability(H, [5.0, 9.0, 10.0, 11.0, 9.6], lr=0.2)  # 2/lr = 10
    assert e["first"] == pytest.approx(0.5) and e["reached_step"] == 20
    assert e["median"] == pytest.approx(1.0) and e["lo"] == pytest.approx(0.96)
    assert e["hi"] == pytest.approx(1.1) and e["last"] == pytest.approx(0.96)
    never = stability.edge_of_stability(H, [1.0] * 5, lr=0.2)
    assert never["reached_step"] is None and never["median"] == pytest.approx(0.1)
    assert stability.side(e) == "on both sides of" and stability.side(never) == "below"
    assert stability.side(stability.edge_of_stability(H, [5, 10, 11, 12, 13], lr=0.2)) == "above"
    with pytest.raises(ValueError, match="recorded steps"):
        stability.edge_of_stability(H, [1.0] * 4, lr=0.2)


def test_ratio_interval_and_tables():
    r, lo, hi = stats.ratio_interval([2.0, 4.0, 8.0], [1.0, 2.0, 4.0])
    assert r == pytest.approx(2.0) and lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    r, lo, hi = stats.ratio_interval([2.0, 8.0], [1.0, 2.0])  # ratios 2 and 4
    assert r == pytest.approx(8 ** 0.5) and lo < r < hi
    import numpy as np
    table = {("full space", 1e-3): {"SB": np.array([1.0, 2.0]), "LB": np.array([3.0, 8.0])}}
    text = flatness.format_sharpness_table(table)
    assert "1.50 ± 0.71" in text and "5.50 ± 3.54" in text and "3.46 [" in text


def test_sharpness_table_holds_each_networks_own_sharpness():
    from helpers import trained

    nets = {name: [gu.runs.Run(bs, s, trained(seed=s, bs=bs)[0], None) for s in (0, 1)]
            for name, bs in (("SB", 4), ("LB", 48))}
    data_ = trained()[1].train
    table = flatness.sharpness_table(nets, data_, eps_values=(1e-3, 1e-2), subspace_dim=5)
    assert list(table) == [("full space", 1e-3), ("full space", 1e-2),
                           ("subspace p=5", 1e-3), ("subspace p=5", 1e-2)]
    for (space, eps), row in table.items():
        p = None if space == "full space" else 5
        for g, runs in nets.items():
            mine = [gu.sharpness.keskar(r.model, data_, eps=eps, subspace_dim=p, seed=r.seed).value
                    for r in runs]
            assert row[g] == pytest.approx(mine, rel=1e-4), (space, eps, g)


def test_reference_results_ship_with_the_package():
    sel = gu.reference.load("ch01_selection")
    assert sel["results"] and gu.selection.chosen_setting(sel["results"]) in sel["candidates"]
    with pytest.raises(FileNotFoundError, match="ch01_selection"):
        gu.reference.load("no_such_result")


def test_curvature_table_pairs_groups_and_scales():
    import numpy as np
    from helpers import trained

    nets = {name: [gu.runs.Run(bs, s, trained(seed=s, bs=bs)[0], None) for s in (0, 1, 2)]
            for name, bs in (("SB", 4), ("LB", 48))}
    data_ = trained()[1].train
    raw = flatness.curvature_table(nets, data_, probes=6)
    scaled = flatness.curvature_table(nets, data_, probes=6, scale="weights")
    for t in (raw, scaled):
        assert set(t) == {"lambda_max", "trace"} and len(t["trace"]["se"]["LB"]) == 3
        r, lo, hi = t["lambda_max"]["ratio"]
        assert lo <= r <= hi
    assert raw["lambda_max"]["SB"][0] != scaled["lambda_max"]["SB"][0]
    for g in ("SB", "LB"):  # each cell is its own network's
        for i, r in enumerate(nets[g]):
            top = gu.hessian.top_eigenvalues(r.model, data_, k=1, scale="weights").values[0]
            assert scaled["lambda_max"][g][i] == pytest.approx(top, rel=1e-4)
            trace = gu.hessian.trace(r.model, data_, num_probes=6)
            assert (raw["trace"][g][i], raw["trace"]["se"][g][i]) == pytest.approx(trace,
                                                                                     rel=1e-4)
    text = flatness.format_curvature_table(raw)
    assert "lambda_max" in text and "trace" in text and "3 pairs" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    exact = all(np.all(se == 0) for se in raw["trace"]["se"].values())
    assert ("(trace exact)" in text) == exact and ("trace SE/seed std" in text) != exact
    for g in ("SB", "LB"):  # an estimated trace: its standard error beside the seeds' spread
        raw["trace"]["se"][g] = raw["trace"][g].std(ddof=1) * np.array([0.5, 0.5, 0.5])
    text = flatness.format_curvature_table(raw)
    assert "trace SE/seed std" in text and "0.50 / 0.50" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    norms = flatness.layer_norms(nets)
    first = nets["LB"][2].model
    names = [n for n, p in first.named_parameters() if p.dim() > 1]
    assert list(norms["LB"]) == names and norms["LB"][names[0]].shape == (3,)
    assert norms["LB"][names[0]][2] == pytest.approx(
        float(dict(first.named_parameters())[names[0]].norm()))


def test_equal_time_reads_sb_between_its_records_when_lb_finishes():
    def h(seconds, test_acc):
        n = len(seconds)
        return gu.train.History(epoch=list(range(n)), step=list(range(n)), train_loss=[0.1] * n,
                                train_acc=[1.0] * n, test_loss=[0.2] * n, test_acc=test_acc,
                                seconds=seconds, weight_distance=[0.0] * n, lr=[1e-3] * n)
    sb = [h([0.0, 10.0, 20.0], [0.1, 0.8, 0.9]), h([0.0, 10.0, 20.0], [0.1, 0.6, 0.7]),
          h([0.0, 40.0, 80.0], [0.1, 0.5, 0.9])]  # the last one stretched by another process
    lb = [h([0.0, 5.0], [0.1, 0.85]), h([0.0, 15.0], [0.1, 0.75]), h([0.0, 6.0], [0.1, 0.8])]
    t, sb_then, lb_end = gaps.equal_time(sb, lb)
    # SB at LB's finish: 0.1 + 0.7 * 5/10 = 0.45, 0.6 + 0.1 * 5/10 = 0.65, 0.1 + 0.4 * 6/40 = 0.16
    assert (t, lb_end) == (6.0, 0.8) and sb_then == pytest.approx(0.45)
    with pytest.raises(ValueError, match="one to one"):
        gaps.equal_time(sb, lb[:2])


def test_runs_from_the_cache_get_a_note_and_no_bar(capsys):
    ds = toy_dataset(n=64, shape=(1, 6, 6))
    setting = gu.testbed.Setting("toy", "F1", n_train=64, n_test=48, sb=8, lb=32, epochs=1,
                                 optimizer="sgd", lr=0.05, model_kwargs=(("width", 8),))
    assert gu.runs.missing(ds, [8, 32], (0,), setting=setting) == 2
    first = gu.runs.train_runs(ds, [8, 32], (0,), setting=setting, progress=True)
    capsys.readouterr()
    assert gu.runs.missing(ds, [8, 32], (0,), setting=setting) == 0
    again = gu.runs.train_runs(ds, [8, 32], (0,), setting=setting, progress=True)
    out = capsys.readouterr()
    assert "F1: 2 of 2 runs loaded from the cache" in out.out and "runs to train" not in out.err
    assert [r.history for r in again] == [r.history for r in first]


def test_step_seconds_times_each_kind_and_evaluates_one_batch_of_the_test_set(small, monkeypatch):
    """A positive time per kind, from fits whose records see a test set of one batch (they are
    not timed); the caller's dataset keeps its test set."""
    ds = toy_dataset(n=64)
    seen = []
    real = gu.train.evaluate
    monkeypatch.setattr(gu.train, "evaluate", lambda m, x, y, **k: seen.append(len(y))
                        or real(m, x, y, **k))
    t = gu.runs.step_seconds(ds, 8, 3, {"plain": {}, "clipped": {"grad_clip": 1.0}},
                             setting=small, repeats=2)
    assert set(t) == {"plain", "clipped"} and all(v > 0 for v in t.values())
    assert len(ds.test[1]) == 48 and set(seen) == {64, 8}  # the training set, one test batch
