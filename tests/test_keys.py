"""Every run keeps its cache key across the change that made remedies objects: the keys and
configurations in data/keys_before_plugins.json were computed by the code in which remedies were
TrainConfig flags; here the same runs are built with today's API - through the same functions
the chapters call - and must hash to the same keys, so that no cached run and no committed
reference has to be trained again."""

import json
from pathlib import Path

import pytest
import torch
from helpers import toy_dataset

import gaputils as gu
from gaputils import cache, remedies, testbed
from gaputils.train import TrainConfig

BEFORE = json.loads((Path(__file__).parent / "data" / "keys_before_plugins.json").read_text())
R = remedies


def standard_configs() -> dict[str, TrainConfig]:
    tb = testbed.get("standard")
    arms = {a.label: a for a in gu.arms.keskar_arms(tb) + gu.arms.hoffer_arms(tb)
            + gu.arms.beyond_arms(tb)}  # the file names them by what were then their names
    cfg = lambda name: tb.config(arms[name].batch_size, 0, n_train=2000, **arms[name].options)
    out = {name: cfg(name) for name in BEFORE["configs"] if name in arms}
    h = testbed.hoffer("standard")
    return out | {
        "plain LB": tb.config(500, 0), "plain SB": tb.config(32, 3),
        "walk": tb.config(500, 0, distance_every=1, eval_every=10**9),
        "stop below": tb.config(125, 1, lr=0.05, schedule="constant", epochs=30,
                                stop_below=0.3, eval_every=4),
        "Hoffer SB": h.config(32, 0),
        "Hoffer LB + GBN": h.config(500, 0, remedies=(R.GhostBN(32),), distance_every=1)}


def test_the_chapters_runs_keep_their_configuration_keys(monkeypatch):
    monkeypatch.setenv("GAPUTILS_MODE", "standard")
    got = standard_configs()
    assert set(got) == set(BEFORE["configs"])
    for name, cfg in got.items():
        assert json.loads(json.dumps(cfg.as_dict())) == BEFORE["configs"][name], name


TOY = {"plain": {}, "sam": {"remedies": (R.SAM(0.05),)},
       "ghost": {"remedies": (R.GhostBN(4),)},
       "warm": {"batch_size": 8, "epochs": 4,
                "remedies": (R.BatchSchedule(R.warm_start(8, 16, 2, 4)),)},
       "noise": {"remedies": (R.MultiplicativeNoise(4),)},
       "augment": {"remedies": (R.Augment(1, True),)},
       "adversarial": {"remedies": (R.Adversarial(0.03, 3, 0.25),)},
       "proximal": {"remedies": (R.Conservative(1.0, 3),)}}


@pytest.mark.parametrize("name", list(TOY))
def test_a_plain_sam_ghost_warm_start_and_noise_run_keep_their_cache_keys(name, monkeypatch):
    monkeypatch.setenv("GAPUTILS_MODE", BEFORE["mode"])
    torch.manual_seed(0)
    net = gu.models.build("F1", (1, 4, 4), 3, width=8, depth=1)
    cfg = TrainConfig(**({"batch_size": 16, "lr": 0.01, "epochs": 2} | TOY[name]))
    assert cache.run_key(net, toy_dataset(), cfg)[0] == BEFORE["toy"][name]["key"]


def test_a_run_checked_with_fresh_batchnorm_statistics_keeps_its_cache_key(monkeypatch):
    """Chapter 07's critical-batch runs (FreshBNStats) keep their keys across the change that
    summed BatchNorm's moments block by block (the key below was computed by the code before
    it, commit 2712eca): a reader's cached runs stay valid."""
    monkeypatch.setenv("GAPUTILS_MODE", "standard")
    torch.manual_seed(0)
    net = gu.models.build("F1", (1, 4, 4), 3, width=8, depth=1)
    cfg = TrainConfig(batch_size=16, lr=0.01, epochs=2, schedule="constant", stop_below=0.3,
                      eval_every=4, remedies=(R.FreshBNStats(4),))
    assert cache.run_key(net, toy_dataset(), cfg)[0] == "b7b338c25ed05b5e77479eb61764618f"
