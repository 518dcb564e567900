"""Statistics over seeds, one convention for the whole book (chapter 01).

- A standard deviation over seeds is the sample standard deviation (``ddof=1``).
- Runs that share their initial weights (SB and LB of one seed, a remedy and plain LB of one
  seed) are compared by their *paired* differences: the mean difference, its standard error
  ``sd(d) / sqrt(n)`` and a Student-t interval on ``n - 1`` degrees of freedom.
- Runs that share nothing are compared with Welch's standard error and degrees of freedom.
- Many comparisons against one baseline form a *family*, declared before the run; each
  verdict ("helps", "hurts", "not told apart at N seeds") is drawn from Holm's correction over
  the family (:func:`family`), never from a threshold chosen after seeing the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of ``values``; the std of one value is nan."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("mean_std needs at least one value")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


def signed(x: float, digits: int = 2) -> str:
    """``x`` with its sign to ``digits`` decimals, the way the book prints differences. A value
    that would print as ``-0.00`` or ``+0.00`` gets up to two more decimals instead, so that an
    interval end just below zero still reads as below (``-0.002``); one smaller than that
    prints as ``0.00``."""
    for d in (digits, digits + 1, digits + 2):
        s = f"{x:+.{d}f}"
        if float(s) != 0:
            return s
    return f"{0:.{digits}f}"


def estimate_interval(estimate: float, lo: float, hi: float) -> str:
    """``estimate [lo, hi]``, each :func:`signed`: how tables and summaries print an interval."""
    return f"{signed(estimate)} [{signed(lo)}, {signed(hi)}]"


@dataclass(frozen=True)
class Difference:
    """A difference of means with its standard error and a t-interval.

    ``mean`` = mean(a) - mean(b); ``se`` its standard error; ``lo``/``hi`` the two-sided
    ``confidence`` interval; ``t`` = mean / se; ``df`` the degrees of freedom; ``n`` the number
    of pairs (paired) or (n_a, n_b); ``paired`` says which.
    """

    mean: float
    se: float
    lo: float
    hi: float
    t: float
    df: float
    n: int | tuple[int, int]
    paired: bool
    confidence: float = 0.95

    def scaled(self, factor: float) -> Difference:
        """The same difference in other units (e.g. ``factor=100`` for percentage points)."""
        lo, hi = sorted((self.lo * factor, self.hi * factor))
        return Difference(self.mean * factor, self.se * abs(factor), lo, hi, self.t, self.df,
                          self.n, self.paired, self.confidence)

    def brief(self) -> str:
        """``mean [lo, hi]`` (see :func:`estimate_interval`)."""
        return estimate_interval(self.mean, self.lo, self.hi)

    def __str__(self) -> str:
        what = f"{self.n} pairs" if self.paired else f"n = {self.n[0]} and {self.n[1]}"
        return (f"{signed(self.mean)} ± {self.se:.2f} (SE), {self.confidence:.0%} CI "
                f"[{signed(self.lo)}, {signed(self.hi)}], t = {self.t:.2f} on {self.df:.3g} df, "
                f"{what}")


def t_quantile(df: float, confidence: float = 0.95) -> float:
    """The two-sided critical value of Student's t on ``df`` degrees of freedom. Chapter 05."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return float(_st.t.ppf(0.5 + confidence / 2, df))


def _interval(mean: float, se: float, df: float, confidence: float) -> tuple[float, float]:
    q = t_quantile(df, confidence) if df > 0 else math.nan
    if not (se > 0 and df > 0):
        return (mean, mean) if se == 0 else (math.nan, math.nan)
    return mean - q * se, mean + q * se


def p_value(d: Difference) -> float:
    """The two-sided p-value of a :class:`Difference` (its t on its degrees of freedom)."""
    if math.isnan(d.t) or d.df <= 0:
        return math.nan
    return float(2 * _st.t.sf(abs(d.t), d.df)) if math.isfinite(d.t) else 0.0


def holm(pvalues: Iterable[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: sorted ascending, the i-th (0-based) of m is
    multiplied by m - i, made non-decreasing, capped at 1, and returned in the input order.
    Reject where the adjusted p-value is below alpha: the family-wise error rate is then at
    most alpha whatever the dependence between the tests. Chapter 05."""
    p = np.asarray(list(pvalues), dtype=float)
    if p.size == 0 or np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"holm() needs p-values in [0, 1], got {p.tolist()}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]).clip(max=1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


@dataclass(frozen=True)
class Verdict:
    """One comparison of a family (:func:`family`): the raw paired difference (95%), its
    p-value, Holm's adjusted p-value, the interval at the level Holm's step gives this
    comparison (``corrected``; it excludes zero where its raw p-value passes that step), and the
    verdict in words, drawn from the adjusted p-value; ``name`` is what tables show."""

    name: str
    raw: Difference
    p: float
    p_holm: float
    corrected: Difference
    verdict: str
    family_size: int

    def line(self) -> str:
        """``mean [raw 95%] [Holm], p raw -> adjusted (of m): verdict``."""
        c = self.corrected
        return (f"{self.raw.brief()} Holm [{signed(c.lo)}, {signed(c.hi)}], p {self.p:.3f} -> "
                f"{self.p_holm:.3f} (of {self.family_size}): {self.verdict}")


def family(differences: dict[str, Difference], alpha: float = 0.05,
           words: tuple[str, str] = ("helps", "hurts"),
           labels: dict[str, str] | None = None) -> dict[str, Verdict]:
    """Holm's correction over a family of paired comparisons against one baseline, declared
    before the run (the keys: every comparison a verdict may be drawn from). A comparison whose
    adjusted p-value is below ``alpha`` is ``words[0]`` if its mean is above zero, ``words[1]``
    if below; otherwise "not told apart at N seeds". Each verdict's ``name`` is its label in
    ``labels``, or its key. Chapter 05."""
    if not differences:
        raise ValueError("a family needs at least one comparison")
    names = list(differences)
    p = np.array([p_value(differences[k]) for k in names])
    if np.any(np.isnan(p)):
        bad = [k for k, v in zip(names, p, strict=True) if np.isnan(v)]
        raise ValueError(f"no p-value for {bad}: each comparison needs two or more seeds")
    adjusted = holm(p)
    rank = np.empty(len(p), dtype=int)
    rank[np.argsort(p, kind="stable")] = np.arange(len(p))
    out = {}
    for i, k in enumerate(names):
        d = differences[k]
        level = 1 - alpha / (len(p) - rank[i])
        lo, hi = _interval(d.mean, d.se, d.df, level)
        corrected = Difference(d.mean, d.se, lo, hi, d.t, d.df, d.n, d.paired, level)
        n = d.n if isinstance(d.n, int) else min(d.n)
        said = (words[0] if d.mean > 0 else words[1]) if adjusted[i] < alpha else (
            f"not told apart at {n} seeds")
        out[k] = Verdict((labels or {}).get(k, k), d, float(p[i]), float(adjusted[i]),
                         corrected, said, len(p))
    return out


def t_interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student's t-interval for the mean of ``values`` (one sample, sd with ddof=1).
    Chapter 07."""
    v = np.asarray(list(values), dtype=float)
    return _interval(float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1
                     else math.nan, len(v) - 1, confidence)


def paired(a: Iterable[float], b: Iterable[float], confidence: float = 0.95) -> Difference:
    """Paired difference a - b: ``a[i]`` and ``b[i]`` come from the same seed (same initial
    weights). Needs at least two pairs. Chapter 01."""
    a, b = np.asarray(list(a), float), np.asarray(list(b), float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired() needs two equally long sequences, got {a.shape} and "
                         f"{b.shape}; pair runs by seed first")
    if len(a) < 2:
        raise ValueError("paired() needs at least two pairs for a standard error; train more "
                         "seeds")
    d = a - b
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))
    lo, hi = _interval(mean, se, len(d) - 1, confidence)
    t = mean / se if se > 0 else math.copysign(math.inf, mean) if mean else math.nan
    return Difference(mean, se, lo, hi, t, len(d) - 1, len(d), True, confidence)


def welch(a: Iterable[float], b: Iterable[float], confidence: float = 0.95) -> Difference:
    """Difference of means a - b of independent samples: Welch's standard error
    sqrt(s_a^2/n_a + s_b^2/n_b) and Welch-Satterthwaite degrees of freedom. Chapter 01."""
    a, b = np.asarray(list(a), float), np.asarray(list(b), float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("welch() needs at least two values on each side")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    mean, se = float(a.mean() - b.mean()), float(math.sqrt(va + vb))
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else math.inf
    lo, hi = _interval(mean, se, df, confidence)
    t = mean / se if se > 0 else math.nan
    return Difference(mean, se, lo, hi, t, float(df), (len(a), len(b)), False, confidence)


@dataclass(frozen=True)
class Ratio:
    """A ratio of two paired mean differences with Fieller's interval.

    ``estimate`` = mean(num) / mean(den); ``lo``/``hi`` the ``confidence`` interval, infinite
    (``bounded`` False) when the denominator is not clearly away from zero - the data then
    cannot bound the ratio, however precise the numerator; ``n`` pairs.
    """

    estimate: float
    lo: float
    hi: float
    bounded: bool
    n: int
    confidence: float = 0.95

    def brief(self) -> str:
        """``estimate [lo, hi]``, or ``estimate [unbounded]``: the form tables print."""
        if not self.bounded:
            return f"{signed(self.estimate)} [unbounded]"
        return estimate_interval(self.estimate, self.lo, self.hi)

    def __str__(self) -> str:
        ci = f"[{signed(self.lo)}, {signed(self.hi)}]" if self.bounded else "unbounded"
        return f"{signed(self.estimate)}, {self.confidence:.0%} CI {ci}, {self.n} pairs"


def fieller(num: Iterable[float], den: Iterable[float], confidence: float = 0.95) -> Ratio:
    """mean(num) / mean(den) for values paired by position (one seed each), with Fieller's
    interval: every r for which the paired t-test of ``num - r * den`` does not reject mean
    zero. Used for the fraction of the SB-LB gap a remedy closes: ``num`` = remedy - LB and
    ``den`` = SB - LB per seed. Chapter 05."""
    a, b = np.asarray(list(num), float), np.asarray(list(den), float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError("fieller() needs two equally long sequences of at least two pairs")
    n = len(a)
    q = t_quantile(n - 1, confidence) ** 2
    cov = np.cov(a, b, ddof=1) / n  # covariance of the two means
    ma, mb = a.mean(), b.mean()
    est = float(ma / mb) if mb else math.nan
    # (ma - r mb)^2 <= q (v_aa - 2 r v_ab + r^2 v_bb)  <=>  A r^2 - 2 B r + C <= 0
    qa, qb, qc = mb**2 - q * cov[1, 1], ma * mb - q * cov[0, 1], ma**2 - q * cov[0, 0]
    disc = qb**2 - qa * qc
    if qa <= 0 or disc < 0:
        return Ratio(est, -math.inf, math.inf, False, n, confidence)
    root = math.sqrt(disc)
    return Ratio(est, float((qb - root) / qa), float((qb + root) / qa), True, n, confidence)


def jackknife(values, estimate) -> float:
    """Delete-one jackknife standard error of ``estimate(rows)`` over the rows of ``values``
    (repeats, or groups of examples): sqrt((k - 1) / k * sum (est_-i - mean)^2). Chapter 07."""
    values = np.asarray(values)
    k = len(values)
    if k < 2:
        raise ValueError("the jackknife needs at least two rows")
    loo = np.array([estimate(np.delete(values, i, axis=0)) for i in range(k)])
    return float(np.sqrt((k - 1) / k * ((loo - loo.mean()) ** 2).sum()))


def rank_correlation(x: Iterable[float], y: Iterable[float], n_boot: int = 2000,
                     seed: int = 0, groups: Iterable | None = None) -> dict[str, float]:
    """Kendall's tau and Spearman's rho between ``x`` and ``y``, their two-sided p-values, and
    95% percentile-bootstrap intervals (resampling the pairs ``n_boot`` times). With ``groups``
    (a label per pair, e.g. the seed that pairs share), the bootstrap resamples whole groups:
    pairs that share a seed are not independent, and resampling them one by one makes the
    interval too narrow; the p-values still treat the pairs as independent. Chapter 03."""
    x, y = np.asarray(list(x), float), np.asarray(list(y), float)
    tau, p_tau = _st.kendalltau(x, y)
    rho, p_rho = _st.spearmanr(x, y)
    rng = np.random.default_rng(seed)
    boots = {"tau": [], "rho": []}
    labels = None if groups is None else np.asarray(list(groups))
    members = None if labels is None else [np.flatnonzero(labels == g)
                                           for g in np.unique(labels)]
    for _ in range(n_boot):
        if members is None:
            i = rng.integers(0, len(x), len(x))
        else:
            i = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        if np.ptp(x[i]) == 0 or np.ptp(y[i]) == 0:
            continue
        boots["tau"].append(_st.kendalltau(x[i], y[i])[0])
        boots["rho"].append(_st.spearmanr(x[i], y[i])[0])
    ci = {k: np.nanpercentile(v, [2.5, 97.5]) if v else (np.nan, np.nan)
          for k, v in boots.items()}
    return {"n": len(x), "tau": float(tau), "p_tau": float(p_tau), "tau_lo": float(ci["tau"][0]),
            "tau_hi": float(ci["tau"][1]), "rho": float(rho), "p_rho": float(p_rho),
            "rho_lo": float(ci["rho"][0]), "rho_hi": float(ci["rho"][1]),
            "groups": 0 if members is None else len(members)}


def format_correlation(c: dict) -> str:
    """One line for a :func:`rank_correlation` result."""
    ci = lambda k: estimate_interval(c[k], c[k + "_lo"], c[k + "_hi"])
    by = f", bootstrap over {c['groups']} seeds" if c.get("groups") else ""
    return (f"tau {ci('tau')} (p {c['p_tau']:.3f}), rho {ci('rho')} (p {c['p_rho']:.3f}), "
            f"n = {c['n']}{by}")


def ratio_interval(a, b, confidence: float = 0.95) -> tuple[float, float, float]:
    """Geometric-mean ratio a / b of positive values paired by position, and its t-interval:
    the paired difference of log values, exponentiated. Chapter 03."""
    d = paired(np.log(np.asarray(a, float)), np.log(np.asarray(b, float)), confidence)
    return float(np.exp(d.mean)), float(np.exp(d.lo)), float(np.exp(d.hi))
