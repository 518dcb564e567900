"""The reviewers' questions: measured minimizers are paired with the right seeds, and every
answer is computed from the committed references."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import gaputils as gu  # noqa: E402
from gaputils import questions  # noqa: E402


def test_measured_pairs_each_value_with_its_seed_and_skips_diverged_runs():
    res = {"measure_seeds": [1, 2],
           "arms": {"SB": {"seeds": [0, 1, 2], "test_acc": [0.7, 0.8, 0.9], "batch_size": 32,
                           "train_acc": [1.0, 1.0, 0.999],
                           "lambda_max": [10.0, 20.0], "sharpness": [1.0, 2.0]},
                    "X": {"seeds": [2, 1, 0], "test_acc": [0.5, 0.6, 0.4], "batch_size": 64,
                          "train_acc": [0.9, 0.8, 0.7],
                          "lambda_max": [5.0, float("nan")], "sharpness": [3.0, float("nan")]}}}
    pts = questions.measured(res)
    # the measured values follow the order of the arm's own seeds: X has seed 2, then seed 1
    assert pts["test_acc"].tolist() == [0.8, 0.9, 0.5]
    assert pts["lambda_max"].tolist() == [10.0, 20.0, 5.0]
    assert pts["batch_size"].tolist() == [32, 32, 64] and pts["seed"].tolist() == [1, 2, 2]
    assert pts["fitted"].tolist() == [True, True, False]  # training accuracy >= 99.5%
    other = {"measure_seeds": [1, 2], "arms": {"SB": res["arms"]["SB"] | {
        "test_acc": [0.7, 0.85, 0.9]}, "X": res["arms"]["X"]}}  # SB seed 1 another network
    both = questions.measured(res, other)  # pooled; the same network counts once
    assert both["test_acc"].tolist() == [*pts["test_acc"].tolist(), 0.85]
    fig = gu.plots.measure_scatter(pts)
    # B = 32's fitted networks and the crosses of those that do not fit; B = 64 has none that fit
    labels = [c.get_label() for c in fig.axes[0].collections]
    assert labels == ["B = 32", "does not fit the\ntraining set"]
    plt.close(fig)


def test_every_question_gets_an_answer_from_the_references():
    ch06 = {"testbed": gu.reference.load("ch06_train_longer"),
            "Hoffer's regime": gu.reference.load("ch06_hoffer_regime")}
    lines = questions.answers(gu.reference.load("ch05_remedies"), ch06,
                              gu.reference.load("ch07_beyond"), eps_ratio={"SB": 2.0, "LB": 1.5})
    assert sorted(lines) == list(range(1, 11))
    assert "SB x2.0, LB x1.5" in lines[1]
    v = gu.scores.verdicts(ch06["testbed"], ["LB_GBN"])["LB_GBN"]
    assert f"GBN alone {v.raw.brief()}, " in lines[7]
    assert "Hoffer's regime: against LB, RA alone" in lines[7]
    assert "against SB trained as long" in lines[7]
    text = questions.table(lines)
    assert text.count("\nQ") == 9 and all(len(t) <= 100 for t in text.splitlines())
    assert np.isfinite(float(lines[9].split("x")[1].split(" ")[0]))
