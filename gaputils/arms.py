"""The arms of chapters 05-07: each a way to train on a setting - a batch size and the
:class:`~gaputils.train.TrainConfig` fields (remedies among them) that make the remedy - built
by one function per chapter (:func:`keskar_arms`, :func:`hoffer_arms`, :func:`beyond_arms`).
:func:`gaputils.study.run` trains them; :mod:`gaputils.scores` scores them."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field

from . import remedies, testbed
from .remedies.base import key_of


@dataclass(frozen=True)
class Arm:
    """One way to train on the testbed: ``batch_size`` and TrainConfig ``options``; ``x`` is
    the value its group sweeps (lambda, SB epochs of a warm start), if any. ``name`` is the id
    that results are keyed by (ASCII, no spaces: "LB_LR_GBN"); ``label`` is what tables and
    figures show (default: the name). A remedy's SB control is named as its LB arm with "SB_"
    for "LB_" (:func:`gaputils.scores.controlled` pairs them)."""

    name: str
    group: str
    batch_size: int
    options: dict = field(default_factory=dict)
    x: float | None = None
    label: str = ""

    def __post_init__(self):
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"an arm's name is its id in results: no spaces ({self.name!r}); "
                             "put the text to show in label=")
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def described(self) -> dict[str, str]:
        """The options as text, each remedy by its cache-key fields - what a result records."""
        opts = dict(self.options)
        flat = key_of(opts.pop("remedies", ())) | opts
        return {k: str(tuple(tuple(e) for e in v) if k == "batch_schedule" else v)
                for k, v in flat.items()}


def keskar_arms(setting: testbed.Setting, lambdas=(0.0, 1.0, 5.0), inner_steps: int = 3,
                adv_eps: float = 0.03, pgd_steps: int = 3, warm_epochs=(2, 5, 10, 20),
                double_every: int = 8, controls: bool = False) -> list[Arm]:
    """The remedies of chapter 05 on ``setting``: augmentation (shifts of up to 2 pixels and
    flips) at LB and SB; conservative training at every lambda of ``lambdas`` with
    ``inner_steps`` steps per batch; FGSM and ``pgd_steps``-step PGD at ``adv_eps`` on half of
    each batch, and with ``controls`` the same two at SB (does a remedy help LB, or both?);
    warm starts of ``warm_epochs`` SB epochs; and two batch schedules - doubling
    from SB every ``double_every`` epochs, and Smith et al.'s batch growth in place of the
    cosine decay. Chapter 05."""
    if setting.schedule != "cosine":
        raise ValueError(f"keskar_arms grows the batch in place of a cosine decay; the setting's "
                         f"schedule is {setting.schedule!r}: build that arm with "
                         "gu.remedies.increase_instead_of_decay and your schedule's factor")
    sb, lb, epochs = setting.sb, setting.lb, int(setting.epochs)
    aug = {"remedies": (remedies.Augment(shift=2, flip=True),)}
    cosine = lambda e: 0.5 * (1 + math.cos(math.pi * e / epochs))
    arms = [Arm(f"{size}_augment", "augmentation", b, aug, label=f"{size} + augmentation")
            for size, b in (("LB", lb), ("SB", sb))]
    arms += [conservative(setting, lam, inner_steps) for lam in lambdas]
    arms += [Arm(f"{size}_{name}{s if s > 1 else ''}", "robust", b,
                 {"remedies": (remedies.Adversarial(adv_eps, s),)},
                 label=f"{size} + {name}{f'-{s}' if s > 1 else ''} ε={adv_eps:g}")
             for size, b in (("LB", lb), ("SB", sb))[:2 if controls else 1]
             for name, s in (("FGSM", 1), ("PGD", pgd_steps))]
    sched = lambda schedule: (remedies.BatchSchedule(schedule),)
    arms += [Arm(f"warm_start_{k:g}", "warm start", sb,
                 {"remedies": sched(remedies.warm_start(sb, lb, k, epochs))}, k,
                 label=f"warm start k={k:g}")
             for k in warm_epochs]
    arms += [Arm(f"doubling_{double_every}", "dynamic sampling", sb,
                 {"remedies": sched(remedies.geometric(sb, lb, double_every, epochs))},
                 label=f"doubling every {double_every}"),
             Arm("batch_for_decay", "dynamic sampling", sb,
                 {"remedies": sched(remedies.increase_instead_of_decay(sb, lb, epochs, cosine)),
                  "schedule": "constant"}, label="batch instead of decay")]
    return arms


def conservative(setting: testbed.Setting, lam: float, inner_steps: int = 3,
                 group: str = "conservative") -> Arm:
    """Conservative training at LB: ``inner_steps`` steps per batch with a proximal term of
    weight ``lam``, named "LB_conservative_<lam>". Chapter 05."""
    return Arm(f"LB_conservative_{lam:g}", group, setting.lb,
               {"remedies": (remedies.Conservative(lam, inner_steps),)}, lam,
               label=f"LB conservative λ={lam:g}")


BINDING_LAMBDA = 20.0  # lambda x lr = 2 at the testbed's peak rate (:func:`binding_proximal`)


def binding_proximal(setting: testbed.Setting, lam: float = BINDING_LAMBDA,
                     inner_steps: int = 3) -> Arm:
    """Conservative training at LB whose proximal term binds (group "binding proximal"): at
    ``lam`` x lr >= 1 one inner step's pull back to the batch's starting weights is as large as
    the displacement itself, where chapter 05's lambda = 1 and 5 (lam x lr 0.1, 0.5) barely
    differ from plain steps. Added to chapter 05's reference as its own family, declared before
    it was run. Chapter 05."""
    return conservative(setting, lam, inner_steps, group="binding proximal")


def hoffer_arms(setting: testbed.Setting, ghost: int | None = None, rule: str = "sqrt",
                ghost_sizes=(16, 64, 125, 250), warmup_epochs: float | None = None,
                names: tuple[str, ...] | None = None) -> list[Arm]:
    """The remedies of chapter 06 on ``setting``, all at LB: every non-empty subset of {learning
    rate scaled by ``rule`` ("LR"), Ghost BatchNorm over ghost batches of ``ghost`` (default
    SB's size; "GBN"), regime adaptation to SB's number of steps ("RA")}; Goyal et al.'s linear
    scaling with ``warmup_epochs`` of warm-up (default: an eighth of the epochs), without and
    with RA - the latter holds SB's noise temperature lr / B and SB's number of steps (group
    "temperature"); plain SB trained for as many epochs as LB + RA (group "control": what
    training longer does for SB); multiplicative gradient noise of SB's covariance without and
    with RA; Ghost BatchNorm at each of ``ghost_sizes`` (group "ghost size"), and at SB with
    the smallest of them, where smaller than SB (group "ghost size control": does it help LB,
    or both?). Every arm records ||w_t - w_0|| at every step. ``names`` keeps only the arms
    named. Chapter 06."""
    sb, lb = setting.sb, setting.lb
    ghost = ghost or sb
    warmup = setting.epochs / 8 if warmup_epochs is None else warmup_epochs
    base = setting.config(lb, 0)
    ra = lambda cfg: {k: getattr(remedies.adapt_regime(cfg, lb / sb), k)
                      for k in ("epochs", "milestones", "warmup_epochs")
                      if getattr(remedies.adapt_regime(cfg, lb / sb), k) != getattr(cfg, k)}
    parts = {"LR": {"lr": remedies.scale_lr(setting.lr, lb, sb, rule)},
             "GBN": {"remedies": (remedies.GhostBN(ghost),)}, "RA": ra(base)}
    track = {"distance_every": 1}
    arms = []
    for k in (1, 2, 3):
        for subset in itertools.combinations(parts, k):
            options = track | {key: v for p in subset for key, v in parts[p].items()}
            arms.append(Arm("LB_" + "_".join(subset), "ablation", lb, options,
                            label="LB + " + " + ".join(subset)))
    linear = {"lr": remedies.scale_lr(setting.lr, lb, sb, "linear"), "warmup_epochs": warmup}
    arms.append(Arm("LB_linear_warmup", "linear scaling", lb, track | linear,
                    label="LB + linear LR, warm-up"))
    arms.append(Arm("LB_linear_warmup_RA", "temperature", lb,
                    track | linear | ra(dataclasses.replace(base, **linear)),
                    label="LB + linear LR, warm-up + RA"))
    arms.append(Arm("SB_RA_epochs", "control", sb, track | {
        k: v for k, v in parts["RA"].items() if k != "warmup_epochs"},
        label="SB, LB + RA's epochs"))
    noise = {"remedies": (remedies.MultiplicativeNoise(sb),)}
    arms += [Arm("LB_noise" + name, "noise", lb, track | noise | ra_,
                 label="LB + noise" + name.replace("_", " + "))
             for name, ra_ in (("", {}), ("_RA", parts["RA"]))]
    gbn = lambda size, b, group, g: Arm(f"{size}_GBN{g}", group, b, track | {
        "remedies": (remedies.GhostBN(g),)}, g, label=f"{size} + GBN {g}")
    arms += [gbn("LB", lb, "ghost size", g) for g in ghost_sizes if g != ghost and g < lb]
    arms += [gbn("SB", sb, "ghost size control", g)  # the same remedy at SB
             for g in ghost_sizes[:1] if g < sb]
    if names is not None:
        unknown = set(names) - {a.name for a in arms}
        if unknown:
            raise ValueError(f"no arm named {sorted(unknown)}; the arms: {[a.name for a in arms]}")
        arms = [a for a in arms if a.name in names]
    return arms


# The arms of chapter 06 in Hoffer's regime (gu.testbed.hoffer): Hoffer et al.'s Table 1, RA
# alone, the three that tell steps, noise covariance and temperature apart, and SB trained as
# long as LB + RA (the control that tells "closes the gap" from "training longer helps both").
HOFFER_REGIME_ARMS = ("LB_LR", "LB_GBN", "LB_LR_GBN", "LB_LR_GBN_RA", "LB_RA", "LB_LR_RA",
                      "LB_noise_RA", "LB_linear_warmup_RA", "SB_RA_epochs")

# Chapter 06's second declared family: the regime-adapted arms, which claim to close the gap,
# each against plain SB (the first is every LB arm against plain LB).
HOFFER_CLOSERS = ("LB_RA", "LB_LR_RA", "LB_LR_GBN_RA", "LB_noise_RA", "LB_linear_warmup_RA")


def beyond_arms(setting: testbed.Setting, sizes=(64, 125, 250, 500, 1000), rho: float = 0.05,
                asam_rho: float = 0.5, warmup_epochs: float = 5.0) -> list[Arm]:
    """The arms of chapter 07 on ``setting``: SAM (radius ``rho``) and ASAM (``asam_rho``) at
    SB and at LB (group "sam"), and at every batch size of ``sizes`` above SB: the setting's
    learning rate unchanged ("plain"; plain LB is the study's own LB), scaled by the square
    root of B / SB ("sqrt") and linearly with ``warmup_epochs`` of warm-up ("linear"), each
    arm's ``x`` its batch size. Chapter 07."""
    sb, lb = setting.sb, setting.lb
    arms = [Arm(f"{name}_{kind}", "sam", b,
                {"remedies": (remedies.SAM(r, adaptive=kind == "ASAM"),)},
                label=f"{name} + {kind}")
            for name, b in (("SB", sb), ("LB", lb))
            for kind, r in (("SAM", rho), ("ASAM", asam_rho))]
    for b in sorted(s for s in sizes if s > sb):
        if b != lb:
            arms.append(Arm(f"B{b}", "plain", b, {}, b, label=f"B={b}"))
        arms.append(Arm(f"B{b}_sqrt", "sqrt", b,
                        {"lr": remedies.scale_lr(setting.lr, b, sb, "sqrt")}, b,
                        label=f"B={b}, √ lr"))
        arms.append(Arm(f"B{b}_linear", "linear", b,
                        {"lr": remedies.scale_lr(setting.lr, b, sb, "linear"),
                         "warmup_epochs": warmup_epochs}, b, label=f"B={b}, linear lr"))
    return arms


TWICE_EPOCHS = "LB_twice_epochs"  # SAM's compute-matched control (:func:`sam_controls`)


def sam_controls(setting: testbed.Setting, rhos=(0.02, 0.1)) -> list[Arm]:
    """Controls of SAM at LB (group "sam controls"): SAM at the other radii ``rhos`` (a small
    sweep around Foret et al.'s 0.05), and plain LB trained for twice the epochs - as many
    gradient computations as a SAM run, whose steps take two. Chapter 07."""
    lb = setting.lb
    return [*(Arm(f"LB_SAM_rho{r:g}", "sam controls", lb, {"remedies": (remedies.SAM(r),)},
                  r, label=f"LB + SAM ρ={r:g}") for r in rhos),
            Arm(TWICE_EPOCHS, "sam controls", lb, {"epochs": 2 * setting.epochs},
                label="LB, twice the epochs")]

