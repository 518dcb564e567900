"""The ten questions the reviewers of Keskar et al. and Hoffer et al. left open, with the book's
answers read from the committed reference runs of chapters 05-07 (chapter 07).

:func:`measured` pools the minimizers whose lambda_max and sharpness a study measured;
:func:`answers` turns the three references (and the chapter's live epsilon check) into one line
per question, every number in it computed here, none typed.
"""

from __future__ import annotations

import textwrap

import numpy as np

from . import scores, stats, study

QUESTIONS = {
    1: ("How sensitive is the sharpness metric to eps, batch size and learning rate?",
        "3; 7 (SAM and scaling)"),
    2: ("Is sharpness correlated with test accuracy across networks and batch sizes?",
        "3; 7 (the debate)"),
    3: ("How does eps-sharpness relate to the Hessian's eigenvalues?", "3, 4; 7 (the debate)"),
    4: ("Can warm starting close the gap on its own?", "5 (warm starts)"),
    5: ("Does dynamic sampling (growing batches) work?", "5 (dynamic sampling)"),
    6: ("Do the findings hold for transformer models?", "7 (a transformer)"),
    7: ("Is Ghost BN necessary, or does regime adaptation alone close the gap?",
        "6, both regimes"),
    8: ("What does multiplicative gradient noise do in practice?", "6"),
    9: ("What do learning curves look like against wall-clock time?", "6 (question 9)"),
    10: ("LB without regime adaptation in the same figure as LB with it?", "6 (question 10)"),
}


FITTED = 0.995  # training accuracy from which a network counts as a minimizer that fits


def measured(*results: dict) -> dict[str, np.ndarray]:
    """Every (arm, seed) of one or more :func:`gaputils.study.run` results with lambda_max and
    sharpness measured, pooled: arrays ``test_acc`` and ``train_acc`` (fractions),
    ``lambda_max``, ``sharpness`` (percent), ``batch_size``, ``seed`` and ``fitted`` (training
    accuracy at least :data:`FITTED`: only there do the measures describe a minimizer of the
    training loss), skipping diverged runs. The same network in two results - an arm of the
    same name and seed with the same accuracies (the references share their plain SB and LB
    networks) - counts once. Chapter 07."""
    rows, seen = [], set()
    for res, (name, a) in ((r, x) for r in results for x in r["arms"].items()):
        seeds = study.measured_seeds(res, name)
        for s, lam, sh in zip(seeds, a["lambda_max"], a["sharpness"], strict=True):
            i = a["seeds"].index(s)
            network = (name, s, a["test_acc"][i], a["train_acc"][i])
            if network in seen:
                continue
            seen.add(network)
            if np.isfinite(lam) and np.isfinite(sh):
                rows.append((a["test_acc"][i], a["train_acc"][i], lam, sh, a["batch_size"], s))
    cols = np.array(rows, dtype=float).T
    keys = ("test_acc", "train_acc", "lambda_max", "sharpness", "batch_size", "seed")
    out = dict(zip(keys, cols, strict=True))
    return out | {"fitted": out["train_acc"] >= FITTED}


def _gmean(results: dict, name: str, key: str) -> float:
    v = np.array(results["arms"][name][key], dtype=float)
    return float(np.exp(np.log(v[np.isfinite(v)]).mean()))


def _tau(c: dict) -> str:
    tau = stats.estimate_interval(c["tau"], c["tau_lo"], c["tau_hi"])
    return f"Kendall's tau {tau}, n = {c['n']}"


def answers(ch05: dict, ch06: dict[str, dict], ch07: dict,
            eps_ratio: dict[str, float]) -> dict[int, str]:
    """One answer per question, from the references of chapters 05, 06 (one per setting:
    ``{"testbed": ..., "Hoffer's regime": ...}``) and 07 (``ch07`` with keys ``study`` and
    ``vit``) and ``eps_ratio``, Keskar sharpness at eps 1e-3 over eps 5e-4 per label (the
    chapter's live check). Accuracy differences in points, 95% intervals; chapter 06's verdicts
    from its Holm-corrected families. Chapter 07."""
    r5, r6 = scores.summarize(ch05), scores.summarize(ch06["testbed"])
    fam = {k: scores.hoffer_families(res) for k, res in ch06.items()}
    s7, vit = ch07["study"], scores.summarize(ch07["vit"])
    pts = measured(ch05, s7)
    pts = {k: v[pts["fitted"]] for k, v in pts.items()}  # minimizers: the networks that fit
    plain = [n for n, a in s7["arms"].items() if n in ("SB", "LB") or a["group"] == "plain"]
    by_size = sorted((s7["arms"][n]["batch_size"], _gmean(s7, n, "sharpness")) for n in plain)
    at_lb = [_gmean(s7, n, "sharpness") for n, a in s7["arms"].items()
             if a["batch_size"] == s7["arms"]["LB"]["batch_size"] and a["group"] in scores.RULES]
    spread = lambda v: max(v) / min(v)
    sizes = f"{by_size[0][0]}-{by_size[-1][0]}"
    eps = ", ".join(f"{k} x{v:.1f}" for k, v in eps_ratio.items())
    drops = [study.peak(h) for h in study.histories(ch06["testbed"], "LB_RA")]
    corr = lambda a, b: stats.rank_correlation(a, b, groups=pts["seed"])
    acc_sharp = corr(np.log(pts["sharpness"]), pts["test_acc"])
    acc_lam = corr(np.log(pts["lambda_max"]), pts["test_acc"])
    lam_sharp = corr(np.log(pts["lambda_max"]), np.log(pts["sharpness"]))
    train = lambda n: 100 * np.mean(ch05["arms"][n]["train_acc"])
    share = lambda n: f"{r5[n]['steps'] / r5['SB']['steps']:.0%} of SB's steps"
    warm = "; ".join(f"k={r['x']:g}: {r['fraction'].brief()} ({share(n)}, training acc. "
                     f"{train(n):.1f}%)" for n, r in r5.items() if r["group"] == "warm start")
    dyn = "; ".join(f"{r['label']}: {r['fraction'].brief()} ({share(n)})"
                    for n, r in r5.items() if r["group"] == "dynamic sampling")
    f1 = scores.summarize(ch07["f1"])["SB"]["gain"] if "f1" in ch07 else None
    f1_word = f1 and ("LB better" if f1.hi < 0 else "LB worse" if f1.lo > 0 else "not told apart")
    grid = [h.step[1] - h.step[0] for h in study.histories(ch06["testbed"], "LB_RA")]
    secs, steps = lambda n: r6[n]["seconds"], lambda n: r6[n]["steps"]
    said = lambda k, which, n: (f"{fam[k][which][n].raw.brief()}, "
                                f"{fam[k][which][n].verdict}")
    control = "SB_RA_epochs"  # SB trained as long as LB + RA, where the run has it
    longer = lambda k: ("" if control not in ch06[k]["arms"] else " (against SB trained as long "
                        + scores.paired(ch06[k], "LB_LR_GBN_RA", control).brief() + ")")
    per = lambda text: "; ".join(f"{k}: {text(k)}" for k in ch06)
    c1_gap = scores.summarize(s7)["SB"]["gain"]
    return {
        1: f"halving ε divides it by {eps} (one live seed; a factor above 4, a quadratic "
           f"bowl's, measures an ascent that stops short as much as curvature); over batch "
           f"sizes {sizes} it spans x{spread([v for _, v in by_size]):.1f}; at B = LB the "
           f"learning-rate rules move it x{spread(at_lb):.1f} (geometric means over seeds)",
        2: f"test accuracy against log sharpness: {_tau(acc_sharp)}; against log λmax: "
           f"{_tau(acc_lam)} (C1 networks of chapters 5 and 7 that fit the training set; they "
           f"share seeds, so the intervals resample whole seeds)",
        3: f"log sharpness against log λmax: {_tau(lam_sharp)} (the same networks as Q2)",
        4: f"fraction of the gap closed - {warm}",
        5: f"fraction of the gap closed - {dyn}; the reference's seconds are too rough to "
           f"compare (chapter 5 times the schedules live)",
        6: f"tiny ViT gap SB - LB {vit['SB']['gain'].brief()} pts "
           f"(C1 over its {c1_gap.n} seeds: {c1_gap.brief()}); "
           f"λmax LB / SB x{1 / vit['SB']['lambda_max_ratio'][0]:.0f}"
           + ("" if f1 is None else f"; Keskar's F1 under the ViT's protocol: SB - LB "
              f"{f1.brief()} pts ({f1_word})"),
        7: per(lambda k: f"against LB, RA alone {said(k, 0, 'LB_RA')}, GBN alone "
                         f"{said(k, 0, 'LB_GBN')}; all three against SB "
                         f"{said(k, 1, 'LB_LR_GBN_RA')}" + longer(k))
        + " (pts, raw 95% intervals; verdicts after Holm's correction)",
        8: per(lambda k: ("against LB in LB's steps " + said(k, 0, "LB_noise") + "; "
                          if "LB_noise" in fam[k][0] else "")
               + f"with RA against SB {said(k, 1, 'LB_noise_RA')}")
        + " (pts, raw 95% intervals; verdicts after Holm's correction)",
        9: f"in optimizer steps LB + RA takes x{steps('LB_RA') / steps('SB'):.2f} of SB's, "
           f"plain LB x{steps('LB') / steps('SB'):.2f}; in the reference's seconds (a 2-core "
           f"CPU shared by two processes: rough) LB x{secs('LB') / secs('SB'):.2f}, LB + RA "
           f"x{secs('LB_RA') / secs('SB'):.1f} of SB's; chapter 6 sets live seconds beside "
           f"them where it trains an arm",
        10: per(lambda k: f"(LB + RA) - LB {said(k, 0, 'LB_RA')}") + f"; on the testbed LB + "
            f"RA's best evaluation (steps {', '.join(str(d['step']) for d in drops)}, evaluated "
            f"every {min(grid)} steps) is {np.mean([d['drop'] for d in drops]):.2f} pts above "
            f"its end (mean of {len(drops)} seeds)",
    }


def table(lines: dict[int, str], width: int = 100) -> str:
    """The questions and their answers as a text table, one block per question."""
    out = []
    for q, text in lines.items():
        question, where = QUESTIONS[q]
        out += textwrap.wrap(f"Q{q}. {question}  [chapter {where}]", width,
                             subsequent_indent="    ")
        out += textwrap.wrap(text, width, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(out)
