import math

import numpy as np
import pytest
from scipy import stats as st

from gaputils import stats


def test_mean_std_uses_ddof_1():
    assert stats.mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    m, s = stats.mean_std([5.0])
    assert m == 5.0 and math.isnan(s)
    with pytest.raises(ValueError, match="at least one"):
        stats.mean_std([])


def test_paired_difference_on_known_numbers():
    # differences 1, 2, 3: mean 2, sd 1, se 1/sqrt(3), t_{0.975, 2} = 4.302653
    d = stats.paired([11.0, 12.0, 13.0], [10.0, 10.0, 10.0])
    assert d.paired and d.n == 3 and d.df == 2
    assert d.mean == pytest.approx(2.0)
    assert d.se == pytest.approx(1 / math.sqrt(3))
    assert d.t == pytest.approx(2 * math.sqrt(3))
    assert (d.lo, d.hi) == pytest.approx((2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)))
    assert d.t == pytest.approx(st.ttest_rel([11, 12, 13], [10, 10, 10]).statistic)
    # pairing removes what the seeds share: the same numbers unpaired are far noisier
    a, b = [0.90, 0.92, 0.91], [0.88, 0.90, 0.87]
    p, w = stats.paired(a, b), stats.welch(a, b)
    assert p.mean == pytest.approx(w.mean) == pytest.approx(0.08 / 3)
    assert p.se == pytest.approx(0.02 / math.sqrt(3) / math.sqrt(3))  # sd(d) = 0.02/sqrt(3)
    assert p.t == pytest.approx(4.0)


def test_paired_interval_level_and_units():
    d = stats.paired([3.0, 1.0, 2.0, 4.0], [0.0, 0.0, 0.0, 0.0], confidence=0.9)
    q = 2.353363  # t_{0.95, 3}
    se = math.sqrt(5 / 3) / 2
    assert (d.lo, d.hi) == pytest.approx((2.5 - q * se, 2.5 + q * se))
    pts = d.scaled(100)
    assert (pts.mean, pts.se, pts.lo, pts.hi) == pytest.approx((250, 100 * se, 100 * d.lo,
                                                                 100 * d.hi))
    assert "t = 3.87" in str(d) and "4 pairs" in str(d)


def test_welch_on_known_numbers():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0]
    d = stats.welch(a, b)
    va, vb = (5 / 3) / 4, 4 / 3
    assert d.mean == pytest.approx(-1.5)
    assert d.se == pytest.approx(math.sqrt(va + vb))
    assert d.df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 2))
    ref = st.ttest_ind(a, b, equal_var=False)
    assert d.t == pytest.approx(ref.statistic)
    assert not d.paired and d.n == (4, 3)


def test_bad_input_says_what_to_do():
    with pytest.raises(ValueError, match="pair runs by seed"):
        stats.paired([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="more seeds"):
        stats.paired([1.0], [0.0])
    with pytest.raises(ValueError, match="confidence"):
        stats.paired([1, 2], [0, 0], confidence=95)


def test_fieller_interval_ends_are_where_the_paired_t_test_turns():
    rng = np.random.default_rng(0)
    den = 1.0 + 0.3 * rng.standard_normal(12)
    num = 0.6 * den + 0.2 * rng.standard_normal(12)
    r = stats.fieller(num, den)
    assert r.bounded and r.lo < r.estimate < r.hi
    assert r.estimate == pytest.approx(num.mean() / den.mean())
    q = st.t.ppf(0.975, 11)
    for end in (r.lo, r.hi):
        d = num - end * den
        assert abs(d.mean() / (d.std(ddof=1) / np.sqrt(12))) == pytest.approx(q, rel=1e-9)


def test_fieller_is_unbounded_when_the_denominator_may_be_zero():
    den = np.array([1.0, -0.8, 0.5, -0.6, 0.2])
    r = stats.fieller(den * 0.5 + 0.01, den)
    assert not r.bounded and r.lo == -np.inf and "unbounded" in str(r)
    with pytest.raises(ValueError, match="two pairs"):
        stats.fieller([1.0], [2.0])


def test_jackknife_of_the_mean_is_the_standard_error():
    x = np.array([1.0, 4.0, 2.0, 8.0, 5.0])
    se = stats.jackknife(x, np.mean)
    assert se == pytest.approx(x.std(ddof=1) / np.sqrt(len(x)))
    with pytest.raises(ValueError, match="two rows"):
        stats.jackknife(x[:1], np.mean)


def test_t_interval_is_the_mean_plus_minus_t_times_the_standard_error():
    v = [3.0, 5.0, 4.0, 8.0]
    lo, hi = stats.t_interval(v)
    se = np.std(v, ddof=1) / 2
    assert lo == pytest.approx(5.0 - 3.182446305284263 * se)
    assert hi == pytest.approx(5.0 + 3.182446305284263 * se)
    assert all(math.isnan(x) for x in stats.t_interval([1.0]))


def test_signed_numbers_never_print_minus_zero():
    # near zero: more decimals keep the sign readable (an interval end just below zero)
    assert stats.signed(0.004) == "+0.004" and stats.signed(-0.0018) == "-0.002"
    assert stats.signed(-0.00004) == "0.00" and stats.signed(-0.00004, 3) == "-0.00004"
    assert stats.signed(-0.0) == "0.00" and stats.signed(0.0, 1) == "0.0"
    assert stats.signed(-0.04, 1) == "-0.04" and stats.signed(-0.004, 1) == "-0.004"
    assert stats.signed(0.006) == "+0.01" and stats.signed(-0.006) == "-0.01"
    assert stats.signed(-1.234, 1) == "-1.2" and stats.signed(float("nan")) == "+nan"
    d = stats.paired([1.0, 1.01, 0.99], [1.0, 1.0, 1.0])  # mean 0, interval about +-0.025
    assert d.brief() == "0.00 [-0.02, +0.02]" and "-0.00" not in str(d)
    assert stats.estimate_interval(-0.001, -0.5, 0.3) == "-0.001 [-0.50, +0.30]"
    r = stats.fieller([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert r.brief() == f"+0.50 [{stats.signed(r.lo)}, {stats.signed(r.hi)}]"
    den = np.array([1.0, -0.8, 0.5, -0.6, 0.2])
    assert stats.fieller(den * 0.5 + 0.01, den).brief().endswith(" [unbounded]")


def test_holm_matches_a_hand_computation_and_statsmodels():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> max-accumulated
    np.testing.assert_allclose(stats.holm(p), [0.03, 0.06, 0.06, 0.02])
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.uniform(0, 0.2, rng.integers(1, 15))
        np.testing.assert_allclose(stats.holm(q), multipletests(q, method="holm")[1])
    with pytest.raises(ValueError, match="p-values"):
        stats.holm([0.1, 1.5])


def test_a_family_draws_each_verdict_from_holms_correction():
    z = np.linspace(-1, 1, 10)
    z = (z - z.mean()) / z.std(ddof=1)  # exactly mean 0, sd 1: t = mean * sqrt(10) / sd
    base = np.sin(np.arange(10.0))  # the paired baseline cancels out
    arms = {"big": base + 2 + 0.3 * z, "small": base + 0.26 + 0.35 * z,
            "worse": base - 1.5 + 0.3 * z, "none": base + 0.01 + 0.3 * z}
    diffs = {k: stats.paired(v, base) for k, v in arms.items()}
    fam = stats.family(diffs)
    raw = {k: stats.p_value(d) for k, d in diffs.items()}
    assert raw["small"] < 0.05 < 3 * raw["small"]  # significant alone, not in a family of 4
    assert fam["small"].verdict == "not told apart at 10 seeds"
    assert fam["big"].verdict == "helps" and fam["worse"].verdict == "hurts"
    assert fam["none"].verdict == "not told apart at 10 seeds"
    adj = dict(zip(diffs, stats.holm(list(raw.values())), strict=True))
    for k, v in fam.items():
        assert v.p_holm == pytest.approx(adj[k]) and v.p == pytest.approx(raw[k])
        assert (v.p_holm < 0.05) == (v.verdict in ("helps", "hurts"))
        assert v.corrected.lo <= v.raw.lo and v.corrected.hi >= v.raw.hi  # never narrower
    assert fam["small"].corrected.lo < 0 < fam["small"].raw.lo  # the correction widens it
    from scipy import stats as st  # a p-value is scipy's paired t-test's

    assert raw["small"] == pytest.approx(st.ttest_rel(arms["small"], base).pvalue)
    assert "Holm" in fam["big"].line() and "helps" in fam["big"].line()
