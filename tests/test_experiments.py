import dataclasses

import pytest
import torch
from helpers import toy_dataset

import gaputils as gu
from gaputils import cache, experiments


@pytest.fixture
def small_budget():
    return dataclasses.replace(gu.budget("smoke"), sb=8, lb_fraction=0.5, epochs=2, seeds=(0, 1))


def test_minimizers_share_the_start_and_come_from_the_cache(small_budget, monkeypatch):
    ds = toy_dataset(n=64)
    runs = experiments.minimizers(ds, b=small_budget)
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
    again = experiments.minimizers(ds, b=small_budget)
    for a, b in zip(runs["LB"], again["LB"], strict=True):
        assert a.history == b.history
        for k, v in a.model.state_dict().items():
            assert torch.equal(v, b.model.state_dict()[k])


def test_config_follows_the_budget(small_budget):
    cfg = experiments.config(16, seed=3, b=small_budget, n_train=64)
    assert (cfg.batch_size, cfg.lr, cfg.schedule, cfg.seed, cfg.epochs) == (
        16, small_budget.lr, small_budget.schedule, 3, small_budget.epochs)
    assert cfg.eval_every == small_budget.eval_epochs * 4
    assert experiments.config(16, 0, small_budget, steps=7).steps == 7


def fake_run(bs, seed, train_acc, test_acc):
    h = gu.train.History(epoch=[1.0], step=[10], train_loss=[0.1], train_acc=[train_acc],
                         test_loss=[0.2], test_acc=[test_acc], seconds=[2.0],
                         weight_distance=[1.0], lr=[1e-3])
    return experiments.Run(bs, seed, torch.nn.Identity(), h)


def test_summarize_and_difference():
    sb = [fake_run(8, 0, 1.0, 0.90), fake_run(8, 1, 1.0, 0.92)]
    lb = [fake_run(64, 0, 0.99, 0.86), fake_run(64, 1, 1.0, 0.87), fake_run(64, 2, 1.0, 0.88)]
    table = experiments.summarize(sb + lb)
    assert table[8]["test_acc"] == pytest.approx((0.91, 0.0141421356))
    assert table[64]["gap"][0] == pytest.approx(((0.99 - .86) + (1 - .87) + (1 - .88)) / 3)
    assert table[64]["n"] == 3
    d, se = experiments.difference(sb, lb)
    assert d == pytest.approx(0.91 - 0.87)
    assert se == pytest.approx((0.0002 / 2 + 0.0001 / 3) ** 0.5)
    text = experiments.gap_table({"F1": {"SB": sb, "LB": lb}})
    assert "91.00 ± 1.41" in text and "98.03 (MNIST)" in text and "+4.00" in text
    sweep = experiments.sweep_table({"a": table, "b": {8: table[8]}})
    assert "99.67 / 87.00, 10" in sweep


def test_reference_selection_table():
    rows = [{"seed": s, "batch_size": b, "train_acc": t, "val_acc": v} for s, b, t, v in
            [(0, 256, 1.0, 0.87), (0, 1000, 0.995, 0.86), (1, 256, 1.0, 0.88),
             (1, 1000, 1.0, 0.86)]]
    text = gu.reference.selection_table({"cosine": rows})
    assert "99.50%" in text and "+1.50 ± 0.71" in text and "chosen" in text
    unfit = [dict(r, train_acc=0.9) if r["batch_size"] == 256 else r for r in rows]
    other = [dict(r, val_acc=r["val_acc"] - 0.1 * (r["batch_size"] == 256)) for r in rows]
    assert gu.reference.chosen_setting({"a": unfit, "b": rows, "c": other}) == "b"
    assert gu.reference.chosen_setting({"a": unfit}) is None


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
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    box = gu.widgets.explorer(run, {"a": w.IntSlider(value=1), "b": w.FloatSlider(value=2.0)})
    assert calls == [(1, 2.0)] and isinstance(shown[0], plt.Figure)
    box.children[1].children[0].value = 5
    box.run_button.click()
    assert calls[-1] == (5, 2.0) and not box.run_button.disabled


def test_rank_correlation_and_full_batch_gd():
    c = experiments.rank_correlation([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert c["n"] == 6 and 0 < c["tau"] < 1 and c["tau_lo"] <= c["tau"] <= c["tau_hi"]
    perfect = experiments.rank_correlation(range(8), range(8))
    assert perfect["tau"] == pytest.approx(1.0) and perfect["rho"] == pytest.approx(1.0)
    assert "tau +1.00" in experiments.format_correlation(perfect)
    ds = toy_dataset(n=64)
    h, lams = experiments.full_batch_gd(ds, lr=0.1, steps=6, n=32, every=3,
                                        model_kwargs={"width": 8, "depth": 1})
    assert h.step == [0, 3, 6] and len(lams) == 2 and all(x > 0 for x in lams)
