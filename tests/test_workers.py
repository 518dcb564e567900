"""Runs trained side by side in worker processes, one thread each, are the networks this process
trains on one thread; what a worker cannot rebuild trains here; errors come back."""

import sys
import threading
import types
from dataclasses import dataclass

import pytest
import torch
from helpers import toy_dataset

import gaputils as gu
from gaputils import cache, testbed, workers

SETTING = testbed.Setting("toy", "C1", n_train=96, n_test=48, sb=8, lb=32, epochs=2,
                          optimizer="sgd", lr=0.05, seeds=(0, 1),
                          model_kwargs=(("channels", (2, 3)), ("hidden", (6,)),
                                        ("dropout", 0.0)))


@dataclass(frozen=True)
class Fails(gu.remedies.Remedy):
    """A remedy whose batch hook raises, for a run that fails in a worker."""

    def batch(self, ctx, x, y):
        raise ValueError("this remedy fails on purpose")


def test_workers_train_the_networks_this_process_trains_on_one_thread(monkeypatch, tmp_path):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    got = {}
    for n in ("2", "1"):
        monkeypatch.setenv(workers.ENV, n)
        monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path / n))
        workers.shutdown()
        runs = gu.runs.train_runs(ds, [8, 32], (0, 1), setting=SETTING)
        assert (workers._pool is not None) == (n == "2")  # the workers did train the first
        assert len(list((tmp_path / n).glob("*.pt"))) == 4  # each filed once, under its key
        got[n] = runs
    for a, b in zip(got["2"], got["1"], strict=True):
        assert (a.batch_size, a.seed) == (b.batch_size, b.seed)
        assert a.history.train_loss == b.history.train_loss
        sa, sb = a.model.state_dict(), b.model.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_worker_error_comes_back_once_the_other_runs_are_done(monkeypatch):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    monkeypatch.setenv(workers.ENV, "2")
    grids = [([8], (0,), {}), ([8], (1,), {"remedies": (Fails(),)})]
    with pytest.raises(ValueError, match="fails on purpose"):
        gu.runs.train_grids(ds, grids, setting=SETTING)
    assert gu.runs.missing(ds, [8], (0,), setting=SETTING) == 0  # trained, kept
    assert gu.runs.missing(ds, [8], (1,), setting=SETTING, remedies=(Fails(),)) == 1


NOTEBOOK = """
from dataclasses import dataclass
import torch.nn.functional as F
import gaputils as gu

@dataclass(frozen=True)
class Smoothing(gu.remedies.Remedy):
    eps: float = 0.1

    def loss(self, out, y):
        return F.cross_entropy(out, y, reduction="none", label_smoothing=self.eps)
"""


def test_a_remedy_written_in_a_notebook_trains_in_a_worker(monkeypatch, tmp_path):
    """Its class goes to the worker with its code; the worker files the run under the key this
    process computes (one cache entry a run), and the networks are those trained here."""
    cell = {"__name__": "__main__"}
    exec(NOTEBOOK, cell)  # a class of "__main__", as a notebook cell defines it
    assert cell["Smoothing"].__module__ == "__main__"
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    grids = [([8, 32], (0,), {"remedies": (cell["Smoothing"](0.2),)})]
    got = {}
    for n in ("2", "1"):
        monkeypatch.setenv(workers.ENV, n)
        monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path / n))
        workers.shutdown()
        (got[n],) = gu.runs.train_grids(ds, grids, setting=SETTING)
        assert (workers._pool is not None) == (n == "2")
        assert len(list((tmp_path / n).glob("*.pt"))) == 2
    for a, b in zip(got["2"], got["1"], strict=True):
        assert a.history.train_loss == b.history.train_loss


def test_what_cannot_be_pickled_stays_here():
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    net, config = SETTING.build(ds), SETTING.config(8, 0, n_train=96)
    assert workers._packed(net, config) is not None
    net.lock = threading.Lock()  # pickle refuses it
    assert workers._packed(net, config) is None


def test_a_run_a_worker_cannot_unpack_trains_here(monkeypatch, tmp_path):
    """A remedy from a module this process found after the workers started: the workers cannot
    import it, so it trains here, the other run in a worker."""
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    monkeypatch.setenv(workers.ENV, "2")
    workers.shutdown()
    gu.runs.train_runs(ds, [8, 32], (0,), setting=SETTING)  # the workers start
    (tmp_path / "late_remedy.py").write_text(
        "from dataclasses import dataclass\nimport gaputils as gu\n\n\n"
        "@dataclass(frozen=True)\nclass Late(gu.remedies.Remedy):\n    eps: float = 0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    late = __import__("late_remedy").Late()
    grids = [([8], (1,), {}), ([8], (1,), {"remedies": (late,)})]
    plain, mine = gu.runs.train_grids(ds, grids, setting=SETTING)
    assert plain[0].history.train_loss == mine[0].history.train_loss  # Late changes nothing
    assert gu.runs.missing(ds, [8], (1,), setting=SETTING, remedies=(late,)) == 0


def test_workers_only_where_the_main_module_can_be_imported_again(monkeypatch, tmp_path):
    script = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert workers._safe_main()  # an interactive session
    for text, safe in [
            ('"""Doc."""\nimport gaputils as gu\nN: int = 3\nSIZES = (8, [32])\n\n\n'
             'def main():\n    gu.runs.train_runs(...)\n\n\nif __name__ == "__main__":\n'
             '    main()\n', True),
            ("import gaputils as gu\nruns = gu.runs.train_runs(...)\n", False),
            ("import gaputils as gu\nprint('start')\n", False),
            ("if __name__ != '__main__':\n    work()\n", False)]:
        path = tmp_path / "train.py"
        path.write_text(text)
        script.__file__ = str(path)
        assert workers._safe_main() == safe, text
    script.__file__ = str(tmp_path / "gone.py")
    assert not workers._safe_main()


def test_the_number_of_workers(monkeypatch):
    monkeypatch.setenv(workers.ENV, "3")
    assert workers.count() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(workers.ENV, bad)
        with pytest.raises(ValueError, match="whole number >= 1"):
            workers.count()
    monkeypatch.delenv(workers.ENV)
    assert workers.count() >= 1


def test_one_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    with workers.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_a_run_not_in_the_cache_stays_an_error_under_no_train(monkeypatch):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    monkeypatch.setenv(cache.NO_TRAIN, "1")
    with pytest.raises(RuntimeError, match="forbids training"):
        gu.runs.train_runs(ds, [8, 32], (0,), setting=SETTING)


def test_runs_ahead_fill_idle_workers_and_are_waited_for_not_trained_again(monkeypatch,
                                                                            tmp_path):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    grid = lambda lr: ([8], (0,), {"lr": lr})
    monkeypatch.setenv(workers.ENV, "2")
    monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path / "2"))
    workers.shutdown()
    gu.runs.train_grids(ds, [grid(0.05)], setting=SETTING, ahead=[grid(0.1), grid(0.2)])
    # one run asked for leaves one of two workers idle: the first run ahead fills it, alone
    assert len(workers._background) == 1
    assert gu.runs.missing(ds, [8], (0,), setting=SETTING, lr=0.2) == 1
    [(key, training)] = workers._background.items()
    monkeypatch.setattr(cache, "fit", lambda *a, **k: pytest.fail("trained here, again"))
    [ahead] = gu.runs.train_grids(ds, [grid(0.1)], setting=SETTING)[0]  # waits for the worker
    # or finds its run in the cache already: the worker saves the run before its future is done
    training.result(timeout=120)
    assert cache.has(key)
    assert len(list((tmp_path / "2").glob("*.pt"))) == 2
    monkeypatch.undo()
    monkeypatch.setenv(workers.ENV, "1")  # the network this process trains
    monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path / "1"))
    [here] = gu.runs.train_grids(ds, [grid(0.1)], setting=SETTING, ahead=[grid(0.2)])[0]
    assert len(list((tmp_path / "1").glob("*.pt"))) == 1  # without workers, nothing ahead
    assert ahead.history.train_loss == here.history.train_loss
    sa, sb = ahead.model.state_dict(), here.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_runs_ahead_leave_the_callers_random_state_alone(monkeypatch, tmp_path):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    monkeypatch.setenv(workers.ENV, "2")
    monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path))
    grids = [([8], (0,), {"lr": 0.05})]
    gu.runs.train_grids(ds, grids, setting=SETTING)  # cached: nothing trains below
    draws = []
    for ahead in ([], [([8], (1,), {"lr": 0.1})]):
        torch.manual_seed(7)
        gu.runs.train_grids(ds, grids, setting=SETTING, ahead=ahead)
        draws.append(torch.rand(3))
    assert torch.equal(*draws)


def test_a_run_trained_only_ahead_is_not_waited_for_at_exit():
    import concurrent.futures as cf

    workers._background["some key"] = cf.Future()  # still training
    workers._at_exit()
    assert workers._background == {} and workers._pool is None


def test_runs_started_in_the_background_are_waited_for(monkeypatch, tmp_path):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    grids = [([8, 32], (0,), {})]
    monkeypatch.setenv(workers.ENV, "2")
    monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path))
    workers.shutdown()
    assert gu.runs.start_grids(ds, grids, setting=SETTING) == 2
    assert gu.runs.start_grids(ds, grids, setting=SETTING) == 0  # already training
    monkeypatch.setattr(cache, "fit", lambda *a, **k: pytest.fail("trained here, again"))
    runs = gu.runs.train_grids(ds, grids, setting=SETTING)[0]
    assert [r.batch_size for r in runs] == [8, 32] and all(r.history.step for r in runs)
    monkeypatch.setenv(workers.ENV, "1")  # without workers nothing starts
    assert gu.runs.start_grids(ds, [([16], (0,), {})], setting=SETTING) == 0


def _where(x):
    """What a worker sees: its threads, whether its progress bars are off, and x squared."""
    import os

    return torch.get_num_threads(), os.environ.get("GAPUTILS_PROGRESS"), x * x


def test_each_measures_side_by_side_in_order_and_here_without_workers(monkeypatch):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    monkeypatch.setenv(workers.ENV, "2")
    monkeypatch.delenv("GAPUTILS_PROGRESS", raising=False)
    items = [(torch.tensor(float(i)),) for i in range(5)]
    got = workers.each(ds, _where, items)
    assert [g[2].item() for g in got] == [0, 1, 4, 9, 16]  # in the order of the items
    assert {g[:2] for g in got} == {(1, "0")}  # one thread each, the workers' bars off
    assert workers.each(ds.train, _where, items[:2])[0][:2] == (1, "0")  # a pair of tensors
    here = torch.get_num_threads()
    assert workers.each(ds, _where, items[:1])[0][:2] == (here, None)  # a lone one: here
    with pytest.raises(ZeroDivisionError):  # an item's error comes back
        workers.each(ds, divmod, [(1, 1), (1, 0), (2, 1)])
    inside = workers.each(ds, workers._on_cpu_workers, [(ds,), (ds,)])
    assert inside == [False, False] and workers._on_cpu_workers(ds)  # no workers of a worker
    monkeypatch.setenv(workers.ENV, "1")
    got = workers.each(ds, _where, items)
    assert [g[2].item() for g in got] == [0, 1, 4, 9, 16] and got[0][:2] == (here, None)


def test_a_function_submitted_to_a_worker_runs_there_on_one_thread(monkeypatch):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    monkeypatch.setenv(workers.ENV, "2")
    job = workers.submit(ds, torch.get_num_threads)
    assert job is not None and job.result() == 1
    with pytest.raises(ZeroDivisionError):  # its error comes back on .result()
        workers.submit(ds, divmod, 1, 0).result()
    monkeypatch.setenv(workers.ENV, "1")
    assert workers.submit(ds, torch.get_num_threads) is None  # the caller computes it
