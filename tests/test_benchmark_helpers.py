import pytest

from benchmarks.sharpness import _summary, replica


def pair(ascent_s, ascent_evals, lbfgsb_s, lbfgsb_evals, ours=1.0, theirs=1.0):
    return {"ascent": {"seconds": ascent_s, "value": ours, "evaluations": ascent_evals},
            "lbfgsb": {"seconds": lbfgsb_s, "value": theirs, "evaluations": lbfgsb_evals}}


def test_a_replica_of_lbfgsbs_path_costs_its_evaluations_at_the_ascents_price():
    # the ascent: 0.1 s an evaluation; L-BFGS-B's 12 evaluations less the shared one at y = 0
    # cost a replica 1.1 s, against SciPy's 2.2 s
    assert replica(pair(1.1, 11, 2.2, 12)) == pytest.approx(2.0)
    assert replica(pair(1.1, 11, 2.2, 23)) == pytest.approx(1.0)


def test_the_summary_row_counts_wins_and_spans_the_evaluations_and_bounds():
    found = {"a": pair(1.1, 11, 2.2, 12, ours=2.0, theirs=1.0),
             "b": pair(1.1, 11, 2.2, 23, ours=1.0, theirs=2.0)}
    r = _summary("test", found)
    assert r["ours_s"] == pytest.approx(2.2) and r["theirs_s"] == pytest.approx(4.4)
    assert "on 1 of 2" in r["agreement"] and "(lowest: b)" in r["agreement"]
    assert r["products"] == "11 / 12-23 evals each"
    assert r["note"].endswith("at most 1.00-2.00x")
