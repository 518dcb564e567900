"""The book's training runs on every core of a CPU: one run per core, each on one thread.

A network as small as the book's does not keep two threads busy: on a 2-core CPU a step of 32
images of the testbed takes as long on one thread as on two, and a step of 500 only about a
seventh less on two (``benchmarks/README.md``). Two runs side by side, one thread each, get nearly
twice as much done. So on a CPU, :func:`fit_or_load` trains every run that is not in the cache on
one thread - in worker processes, one per core, the longest runs first, when there are two or
more - and every run it trains has the same weights whether a worker or this process trained it
(tested), and the same as the one-thread-per-process reference runs of ``data/reference/``. On a
GPU it trains in this process, as :func:`gaputils.cache.fit_or_load` does. ``GAPUTILS_WORKERS=1``
keeps every run in this process (still on one thread); ``=N`` allows N workers. Chapter 00.

Workers are started once (a few seconds: each imports torch and gaputils) and kept for the next
grid. They are used where a new process may import the main module again without running work -
a notebook's kernel, an interactive session, a script that keeps its work under
``if __name__ == "__main__":`` - and for every run that can be pickled, a remedy written in a
notebook included (its code goes with it); other runs train here, on one thread.
A run a worker finished is in the cache at once, so an interrupted grid loses only the runs in
progress. A caller that knows which runs it may ask for next (a learning-rate search,
:func:`gaputils.scaling.steps_to_target`) passes them as ``ahead``: they fill the workers that the
runs asked for now would leave idle, in the background, and a later call that asks for one waits
for it instead of training it again. :func:`start` trains runs in the background outright (a
chapter's next grid, so that its longest runs start first), :func:`submit` runs any function
there (a run that measures as it trains), and :func:`each` a function of each of several items,
side by side (the curvature of several networks).
"""

from __future__ import annotations

import ast
import atexit
import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import cloudpickle
import torch
from torch import nn

from . import cache
from .batches import is_pair
from .data import Dataset
from .runtime import cache_dir, finish, progress
from .train import History, TrainConfig

__all__ = ["ENV", "count", "one_thread", "side_by_side", "fit_or_load", "start", "submit",
           "each", "shutdown"]

ENV = "GAPUTILS_WORKERS"

_pool: cf.ProcessPoolExecutor | None = None
_pool_size = 0
# what the workers do in the background: cache key -> a run (``ahead``, :func:`start`),
# "call <n>" -> a function (:func:`submit`)
_background: dict[str, cf.Future] = {}


def count() -> int:
    """How many worker processes a CPU grid may use: ``GAPUTILS_WORKERS``, else the CPU cores
    this process may run on."""
    env = os.environ.get(ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{ENV}={env!r} is not a number of worker processes: give a whole "
                             "number >= 1 (1 trains every run in this process)")
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread inside the block; the thread count restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _inert(node: ast.stmt) -> bool:
    """Whether a top-level statement of a main module does no work when imported: imports,
    definitions, a docstring, constants, and the ``if __name__ == "__main__":`` block."""
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef
                  | ast.ClassDef):
        return True
    if isinstance(node, ast.Expr | ast.Assign | ast.AnnAssign):
        return node.value is None or all(isinstance(n, ast.Constant | ast.Name | ast.List
                                                    | ast.Tuple | ast.Dict | ast.Set | ast.Load)
                                         for n in ast.walk(node.value))
    if isinstance(node, ast.If):
        t = node.test
        return (not node.orelse and isinstance(t, ast.Compare) and isinstance(t.left, ast.Name)
                and t.left.id == "__name__" and isinstance(t.ops[0], ast.Eq)
                and isinstance(t.comparators[0], ast.Constant)
                and t.comparators[0].value == "__main__")
    return False


def _safe_main() -> bool:
    """Whether a spawned worker can import this process's main module without running work:
    an interactive session or a notebook's kernel, or a file that keeps its work under
    ``if __name__ == "__main__":`` (a reader's script that trains at its top level is not)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        return True
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return False
    return all(_inert(node) for node in tree.body)


def _packed(net: nn.Module, config: TrainConfig) -> bytes | None:
    """The run pickled for a worker, by value: its weights as bytes (sent as tensors, they would
    be shared memory that the worker trains in place, under this process's feet), and a class or
    function defined in a notebook with its code (cloudpickle), so that a reader's own remedy
    trains in a worker too. None for what cannot be pickled: it trains here."""
    try:
        return cloudpickle.dumps((net, config))
    except Exception:  # an open file, a generator in a remedy: train it here
        return None


_in_worker = False


def _start() -> None:
    """A worker: one thread, deaf to Ctrl-C (a notebook's interrupt reaches the kernel's whole
    process group; the kernel stops the workers itself), and no workers of its own."""
    global _in_worker
    _in_worker = True
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _get_pool() -> cf.ProcessPoolExecutor:
    """The workers, :func:`count` of them (started as runs arrive); new ones where the count
    changed or one died."""
    global _pool, _pool_size
    size = count()
    if _pool is None or _pool_size != size or getattr(_pool, "_broken", False):
        shutdown()
        _pool = cf.ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_start)
        _pool_size = size
    return _pool


def shutdown() -> None:
    """Stop the workers (they are started again when needed); what they were doing in the
    background (runs ahead or started, a submitted function) is dropped."""
    global _pool, _pool_size
    _background.clear()
    if _pool is not None:
        for p in list(getattr(_pool, "_processes", {}).values()):
            p.terminate()  # a run in progress is lost; the finished ones are in the cache
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool, _pool_size = None, 0


@atexit.register
def _at_exit() -> None:
    """Let idle workers end before the interpreter takes the modules down; what still runs in
    the background (a run started ahead that nobody asked for) is not waited for."""
    if any(not f.done() for f in _background.values()):
        shutdown()
    elif _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)


def _train(run: bytes, data: bytes, tag: str, env: dict) -> str:
    """In a worker: train one run, ``(network, config)`` pickled, on the pickled dataset, into
    the cache, with the caller's ``GAPUTILS_*`` environment (and none other). Returns "" when
    done, or why the run could not be unpacked here (a module this process cannot import): the
    caller trains it itself."""
    for k in [k for k in os.environ if k.startswith("GAPUTILS_") and k not in env]:
        del os.environ[k]
    os.environ.update(env)
    try:
        net, config = pickle.loads(run)
        ds = pickle.loads(data)
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    cache.fit_or_load(net, ds, config, tag=tag, progress=False)
    return ""


def _environment() -> dict:
    """What a worker needs of this process's environment: the run mode, the cache folder."""
    env = {k: v for k, v in os.environ.items() if k.startswith("GAPUTILS_") and k != cache.CHAPTER}
    return env | {"GAPUTILS_CACHE": str(cache_dir())}  # the ledger is noted here, on loading


def side_by_side(ds: Dataset) -> bool:
    """Whether :func:`fit_or_load` would train runs on ``ds`` in workers, two or more at once:
    on a CPU with more than one core (or ``GAPUTILS_WORKERS``), not under torchrun, training
    allowed, and a main module a worker may import."""
    return _on_cpu_workers(ds) and cache.may_train()


def _on_cpu_workers(ds: Dataset | tuple) -> bool:
    """Data (a dataset, or a pair of tensors; not a loader) on a CPU, two or more workers, a
    main module a worker may import, not in a worker itself, no torchrun."""
    x = ds.train[0] if isinstance(ds, Dataset) else ds[0] if is_pair(ds) else None
    return x is not None and x.device.type == "cpu" and count() > 1 and not _in_worker and \
        _safe_main() and os.environ.get("WORLD_SIZE", "1") == "1"


def _cost(config: TrainConfig, n: int) -> int:
    """A run's examples seen, to start the longest runs first."""
    return config.total_steps(n) * config.batch_size


def start(ds: Dataset, jobs: Sequence[tuple[nn.Module, TrainConfig]], tag: str = "") -> int:
    """Start the runs of ``jobs`` that are neither in the cache nor training already, in the
    workers, in the background, the longest first, and return at once: a later
    :func:`fit_or_load` that asks for one waits for it. Where workers do not train side by side
    (:func:`side_by_side`) nothing starts, and the runs train when asked for. How many
    started."""
    if not side_by_side(ds):
        return 0
    _prune()
    packed = _startable(ds, jobs, tag)
    if packed:
        order = sorted(packed, key=lambda k: _cost(packed[k][1], len(ds.train[1])), reverse=True)
        _in_background(_get_pool(), {k: packed[k][0] for k in order}, pickle.dumps(ds), tag,
                       _environment())
    return len(packed)


def submit(ds: Dataset | tuple, fn, *args) -> cf.Future | None:
    """``fn(*args)`` in a worker, on one thread, in the background, where workers train runs on
    ``ds`` (a dataset, or a pair of tensors) side by side: its future (its result, or its error,
    on ``.result()``); the workers count it as busy. None elsewhere: the caller computes it
    itself (on one thread on a CPU, :func:`one_thread`, for the same answer)."""
    if not _on_cpu_workers(ds):
        return None
    try:
        blob = cloudpickle.dumps((fn, args))
    except Exception:
        return None
    future = _get_pool().submit(_call, blob, _environment())
    _background[f"call {id(future)}"] = future
    return future


def each(ds: Dataset | tuple, fn, items: Sequence[tuple], desc: str | None = None) -> list:
    """``[fn(*item) for item in items]``, side by side in the workers where runs on ``ds`` train
    there (:func:`submit`), one item per worker on one thread, the workers' own progress bars
    off; in turn in this process elsewhere, and for a lone item. For measurements of several
    networks: two sharpness ascents on one thread each finish sooner than one after the other on
    two threads (Lanczos, which uses two threads well, gains little; ``benchmarks/README.md``),
    and the values agree to about six digits (the sums' order). An item goes to a worker
    pickled, data and all, when a worker is about to be free, so no more than one item per
    worker and one more wait in memory. ``desc``: a progress bar of the items done. An item's
    error is raised here; an interrupt drops the items not started. Chapters 03 and 05-07."""
    items = list(items)
    bar = progress(len(items), desc or "", "network", least=1 if desc else len(items) + 1)
    out: list = [None] * len(items)
    todo = iter(range(len(items)))
    pending: dict[cf.Future, int] = {}

    def top_up() -> None:
        for i in todo:
            f = submit(ds, _quiet, fn, *items[i]) if len(items) > 1 else None
            if f is None:  # no workers, a lone item, or one that cannot be pickled
                out[i] = fn(*items[i])
                bar.update()
                continue
            pending[f] = i
            if len(pending) > count():
                return

    try:
        top_up()
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for f in done:
                out[pending.pop(f)] = f.result()  # an item's error is raised here
                bar.update()
            top_up()
    except BaseException:
        for f in pending:
            f.cancel()
        raise
    finally:
        finish(bar)
    return out


def _quiet(fn, *args):
    """In a worker: ``fn(*args)`` with progress bars off (they would print to the kernel's
    log, not the cell that waits)."""
    os.environ["GAPUTILS_PROGRESS"] = "0"
    return fn(*args)


def _call(blob: bytes, env: dict):
    """In a worker: ``fn(*args)``, pickled, with the caller's ``GAPUTILS_*`` environment."""
    for k in [k for k in os.environ if k.startswith("GAPUTILS_") and k not in env]:
        del os.environ[k]
    os.environ.update(env)
    fn, args = pickle.loads(blob)
    return fn(*args)


def _prune() -> None:
    for k in [k for k, f in _background.items() if f.done()]:
        del _background[k]  # a run trained (in the cache) or failed (trains again where asked)


def _in_background(pool, packed: dict[str, bytes], data: bytes, tag: str, env: dict) -> None:
    """Submit the packed runs {cache key: run}, in this order, to train in the background."""
    for k, p in packed.items():
        _background[k] = pool.submit(_train, p, data, tag, env)


def fit_or_load(ds: Dataset, jobs: Sequence[tuple[nn.Module, TrainConfig]], tag: str = "",
                bar=None, ahead: Sequence[tuple[nn.Module, TrainConfig]] = ()) -> list[History]:
    """:func:`gaputils.cache.fit_or_load` of every (network, config) in ``jobs``, each network
    trained or loaded in place; on a CPU the runs missing from the cache train on one thread each,
    in workers where more than one is missing (module docstring). ``ahead``: runs that may be
    asked for next; where workers would idle while this call's runs train, the first of them
    that are not in the cache fill those workers, in the background (into the cache; not waited
    for). A run of ``jobs`` that is still training in the background is waited for. ``bar``
    (tqdm) counts the runs trained. The histories in the order of ``jobs``."""
    keys = [cache.run_key(net, ds, cfg, tag)[0] for net, cfg in jobs]
    cpu = ds.train[0].device.type == "cpu"
    _prune()
    new = {}
    for i, k in enumerate(keys):
        if not cache.has(k) and k not in new.values():
            new[i] = k
    trained: dict[int, History] = {}
    away: list[int] = []
    if new and side_by_side(ds):
        away = _run_away(ds, jobs, new, ahead, tag, bar)
    for i in away:
        if not cache.has(keys[i]):
            raise RuntimeError(f"a worker filed run {i} under another cache key than {keys[i]} "
                               f"(its environment or code differs from this process's?); "
                               f"{ENV}=1 trains every run here")
    for i, (net, cfg) in enumerate(jobs):
        # on a CPU whatever trains here - a run no worker took, a corrupt entry - on one thread
        with one_thread() if cpu else contextlib.nullcontext():
            trained[i] = cache.fit_or_load(net, ds, cfg, tag=tag, progress=False)
        if i in new and i not in away and bar is not None:
            bar.update()
        if i in away and trained[i].diverged:  # its warning went to the worker's stderr
            warnings.warn(trained[i].message, RuntimeWarning, stacklevel=2)
    return [trained[i] for i in range(len(jobs))]


def _startable(ds: Dataset, jobs, tag: str, taken=(), limit: int | None = None
               ) -> dict[str, tuple[bytes, TrainConfig]]:
    """{cache key: (the run packed, its config)} for the first runs of ``jobs`` (at most
    ``limit``) that are not in the cache, not training in the background, not in ``taken`` and
    can go to a worker."""
    out: dict[str, tuple[bytes, TrainConfig]] = {}
    for net, cfg in jobs:
        if limit is not None and len(out) == limit:
            break
        k = cache.run_key(net, ds, cfg, tag)[0]
        if k not in taken and k not in _background and k not in out and not cache.has(k):
            if (p := _packed(net, cfg)) is not None:
                out[k] = (p, cfg)
    return out


def _fillers(ds: Dataset, ahead, busy: int, taken: set[str], tag: str) -> dict[str, bytes]:
    """The first runs of ``ahead`` that :func:`_startable` allows, packed, as many as fill the
    workers that ``busy`` runs leave idle in their last round."""
    idle = -busy % count() if busy else 0
    return {k: p for k, (p, _) in _startable(ds, ahead, tag, taken, idle).items()}


def _run_away(ds: Dataset, jobs, new: dict[int, str], ahead, tag: str, bar) -> list[int]:
    """Train the runs ``new`` ({index in ``jobs``: cache key}) in workers, the longest first,
    each saved to the cache when it ends, with runs of ``ahead`` filling idle workers in the
    background; wait for those of ``new`` already training in the background. The runs the
    workers trained; the rest train here: a lone run with nothing beside it trains here.
    The data goes pickled, a copy per run: sent as tensors it would become shared memory, and
    after that this process's own two-thread work ran at about half its speed (measured, 2 cores,
    torch 2.14: a testbed step 5.1 -> 9.1 ms). A run that fails lets the others finish (into the
    cache), then its error is raised here; an interrupt stops the workers at once."""
    waits = {_background[k]: i for i, k in new.items() if k in _background}
    packed = {i: p for i, k in new.items() if k not in _background
              if (p := _packed(*jobs[i])) is not None}
    running = sum(not f.done() for f in _background.values())
    fillers = _fillers(ds, ahead, len(packed) + running, set(new.values()), tag)
    if len(packed) == 1 and not fillers and not waits:
        packed = {}  # it trains here, beside whatever trains in the background
    if not packed and not waits:
        return []
    cost = lambda i: _cost(jobs[i][1], len(ds.train[1]))
    env, data = _environment(), pickle.dumps(ds)
    futures, error, done = dict(waits), None, []
    try:
        pool = _get_pool()
        for i in sorted(packed, key=cost, reverse=True):  # so that no long run starts last
            futures[pool.submit(_train, packed[i], data, tag, env)] = i
        _in_background(pool, fillers, data, tag, env)
        for f in cf.as_completed(futures):
            i = futures[f]
            try:
                unpacked = f.result() == ""
            except cf.process.BrokenProcessPool:
                raise
            except Exception as err:  # the run's own error, once the others are done
                if f not in waits:  # one from the background trains (and fails) here
                    error = error or err
                continue
            if unpacked:
                done.append(i)
                if bar is not None:
                    bar.update()
    except cf.process.BrokenProcessPool as err:
        shutdown()
        raise RuntimeError(f"a worker process died ({err}) - out of memory? The runs it finished "
                           f"are in the cache; {ENV}=1 trains the rest in this process") from err
    except BaseException:
        shutdown()
        raise
    if error is not None:
        raise error
    return done
