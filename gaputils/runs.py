"""The book's recurring experiment: one network trained with several batch sizes and seeds
from the same starting point, cached, so later chapters reuse the minimizers (chapter 01).

``minimizers()`` returns the small-batch (SB) and large-batch (LB) runs of the testbed (or of
any :class:`gu.testbed.Setting`); ``train_runs`` trains any grid of batch sizes and seeds;
``testbed_minimizers()`` adds the fixed data that chapters 02-04 measure them on. How the runs
compare is :mod:`gaputils.gaps`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn
from tqdm.auto import tqdm

from . import cache, data, testbed, workers
from .budget import Budget
from .budget import budget as current_budget
from .runtime import mode
from .train import History, fit


@dataclass
class Run:
    """One trained network: its batch size, seed, trained weights and history."""

    batch_size: int
    seed: int
    model: nn.Module
    history: History

    @property
    def final(self) -> dict:
        return self.history.final()


def dataset(setting: testbed.Setting | None = None) -> data.Dataset:
    """The data of ``setting`` (default: the testbed) on ``gu.device()`` - the same examples in
    every chapter."""
    return (setting or testbed.get()).load()


def curvature_data(ds: data.Dataset, b: Budget | None = None,
                   split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``b.n_curvature`` examples of a split: the fixed data on which chapters 02-04
    evaluate landscapes, sharpness and Hessians."""
    b = b or current_budget()
    x, y = ds.train if split == "train" else ds.test
    return x[:b.n_curvature], y[:b.n_curvature]


def _planned(ds, batch_sizes, seeds, setting, overrides) -> list[tuple]:
    """(batch size, seed, fresh network, config, in the cache?) for every run of a grid."""
    todo = []
    for bs, seed in [(bs, s) for s in seeds for bs in batch_sizes]:
        torch.manual_seed(seed)
        net = setting.build(ds)
        cfg = setting.config(bs, seed, n_train=len(ds.train[1]), **overrides)
        todo.append((bs, seed, net, cfg, cache.has(cache.run_key(net, ds, cfg, setting.model)[0])))
    return todo


def _setting(setting, overrides) -> testbed.Setting:
    setting = setting or testbed.get()
    if "model_kwargs" in overrides:
        setting = setting.replace(model_kwargs=tuple(overrides.pop("model_kwargs").items()))
    return setting


def missing(ds: data.Dataset, batch_sizes: Iterable[int], seeds: Iterable[int], *,
            setting: testbed.Setting | None = None, **overrides) -> int:
    """How many runs of :func:`train_runs` with these arguments are not in the cache yet."""
    setting = _setting(setting, dict(overrides))
    return sum(not hit for *_, hit in _planned(ds, batch_sizes, seeds, setting, overrides))


def train_runs(ds: data.Dataset, batch_sizes: Iterable[int], seeds: Iterable[int], *,
               setting: testbed.Setting | None = None, progress: bool | None = None,
               **overrides) -> list[Run]:
    """Train the network of ``setting`` (default: the testbed) for every (batch size, seed),
    cached; runs with the same seed start from the same weights. ``overrides`` replace fields
    of the training configuration (``epochs``, ``steps``, ``lr``, ...; see
    :meth:`Setting.config`), and ``model_kwargs=...`` the network's options. Runs already in the
    cache are loaded with a one-line note; a progress bar counts only those that train. On a CPU
    they train on one thread each, side by side on the cores (:mod:`gaputils.workers`)."""
    return train_grids(ds, [(batch_sizes, seeds, overrides)], setting=setting,
                       progress=progress)[0]


Grid = tuple[Iterable[int], Iterable[int], dict]


def _plans(ds, grids: Sequence[Grid], base: testbed.Setting) -> list[list[tuple]]:
    plans = []
    for batch_sizes, seeds, overrides in grids:
        overrides = dict(overrides)
        plans.append(_planned(ds, batch_sizes, seeds, _setting(base, overrides), overrides))
    return plans


def _uncached(ds, grids: Sequence[Grid], base: testbed.Setting) -> list[tuple]:
    """(network, config) of every run of ``grids`` not in the cache, for the background; the
    caller's random state left as it was."""
    with torch.random.fork_rng(devices=[]):
        return [(net, cfg) for plan in _plans(ds, grids, base)
                for _, _, net, cfg, hit in plan if not hit]


def train_grids(ds: data.Dataset, grids: Sequence[Grid], *,
                setting: testbed.Setting | None = None, progress: bool | None = None,
                ahead: Sequence[Grid] = ()) -> list[list[Run]]:
    """:func:`train_runs` of several grids at once, each ``(batch_sizes, seeds, overrides)``:
    the runs missing from all of them train together, so that a CPU's cores share them. One list
    of runs per grid. ``ahead``: grids that may be asked for next; where workers train, their
    runs fill the workers these runs would leave idle, in the background
    (:func:`gaputils.workers.fit_or_load`)."""
    base = setting or testbed.get()
    plans = _plans(ds, grids, base)
    later = _uncached(ds, ahead, base) if ahead and workers.side_by_side(ds) else []
    todo = [p for plan in plans for p in plan]
    show = mode() != "smoke" if progress is None else progress
    loaded = sum(hit for *_, hit in todo)
    if show and loaded:
        print(f"{base.model}: {loaded} of {len(todo)} runs loaded from the cache")
    bar = tqdm(total=len(todo) - loaded, desc=f"{base.model} runs to train", unit="run",
               disable=not show or loaded == len(todo))
    jobs = [(net, cfg) for _, _, net, cfg, _ in todo]
    histories = iter(workers.fit_or_load(ds, jobs, tag=base.model, bar=bar, ahead=later))
    bar.close()
    return [[Run(bs, seed, net, next(histories)) for bs, seed, net, _, _ in plan]
            for plan in plans]


def start_grids(ds: data.Dataset, grids: Sequence[Grid], *,
                setting: testbed.Setting | None = None) -> int:
    """Start the runs of ``grids`` (as in :func:`train_grids`) that are not in the cache, in the
    background, the longest first, and return at once, where workers train side by side
    (:func:`gaputils.workers.start`; elsewhere nothing starts): a later :func:`train_grids`
    waits for them. How many started. The caller's random state is left as it was."""
    base = setting or testbed.get()
    if not workers.side_by_side(ds):
        return 0
    return workers.start(ds, _uncached(ds, grids, base), tag=base.model)


def minimizers(ds: data.Dataset | None = None, *,
               setting: testbed.Setting | None = None) -> dict[str, list[Run]]:
    """The SB and LB runs of ``setting`` (default: the testbed of the run mode), every seed in
    ``setting.seeds``, trained once and then loaded from the cache. Chapter 01."""
    setting = setting or testbed.get()
    ds = ds if ds is not None else setting.load()
    sb, lb = train_grids(ds, plain_grids(setting), setting=setting)
    return {"SB": sb, "LB": lb}


def plain_grids(setting: testbed.Setting) -> list[tuple]:
    """The two grids of :func:`minimizers` for :func:`train_grids`: plain SB and plain LB,
    every seed of ``setting``."""
    return [([setting.sb], setting.seeds, {}), ([setting.lb], setting.seeds, {})]


def step_seconds(ds: data.Dataset, batch_size: int, steps: int, kinds: dict[str, dict],
                 setting: testbed.Setting | None = None, repeats: int = 3) -> dict[str, float]:
    """Seconds per optimizer step, for each kind of training in ``kinds`` (name -> TrainConfig
    options), of ``steps`` steps at ``batch_size`` from seed 0's weights: the fastest of
    ``repeats`` timings, the kinds taken in turn within each repetition so that other work on
    the machine slows them alike. Evaluation excluded (the records a run takes at its start and
    end see a test set cut to one batch: they are not timed, and no one reads them); not
    cached. Chapter 07."""
    setting = setting or testbed.get()
    ds = replace(ds, test=(ds.test[0][:batch_size], ds.test[1][:batch_size]))
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(repeats):
        for k, options in kinds.items():
            torch.manual_seed(0)
            cfg = setting.config(batch_size, 0, steps=steps, eval_every=10**6, **options)
            times[k].append(fit(setting.build(ds), ds, cfg, progress=False).seconds[-1] / steps)
    return {k: min(v) for k, v in times.items()}


def initial_model(ds: data.Dataset, seed: int, setting: testbed.Setting | None = None
                  ) -> nn.Module:
    """The untrained network that every run of ``seed`` starts from. Chapter 04."""
    torch.manual_seed(seed)
    return (setting or testbed.get()).build(ds)


@dataclass
class Minimizers:
    """The testbed's SB and LB minimizers (every seed) and the fixed data chapters 02-04 measure
    them on: the first ``budget.n_curvature`` training and test examples."""

    ds: data.Dataset
    runs: dict[str, list[Run]]
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]

    @property
    def sb(self) -> nn.Module:
        """The SB network of the first seed."""
        return self.runs["SB"][0].model

    @property
    def lb(self) -> nn.Module:
        """The LB network of the first seed."""
        return self.runs["LB"][0].model

    def __str__(self) -> str:
        return (f"{len(self.runs['SB'])} SB and {len(self.runs['LB'])} LB minimizers of the "
                f"testbed; measured on {len(self.train[1]):,} training examples")


def testbed_minimizers(b: Budget | None = None) -> Minimizers:
    """Chapter 01's SB and LB minimizers of the testbed (trained once, then loaded from the
    cache), the first ``budget.testbed_measured`` seeds of them, with the data of chapters
    02-04. Chapter 02."""
    b = b or current_budget()
    ds = dataset()
    runs = {k: v[:b.testbed_measured] for k, v in minimizers(ds).items()}
    return Minimizers(ds, runs, curvature_data(ds, b), curvature_data(ds, b, "test"))


