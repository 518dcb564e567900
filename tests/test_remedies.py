"""Remedies as plug-ins: the protocol of gaputils.remedies.base, a remedy written here (as a
reader writes one in a notebook cell), clashes, fit's own optimizer and step, and every book
remedy deterministic and part of the cache key. Each remedy's own behaviour: test_remedy_*.py."""

import dataclasses
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from helpers import toy_dataset

import gaputils as gu
from gaputils import cache, remedies
from gaputils.train import TrainConfig, fit

BOOK = [remedies.Augment(1, True), remedies.Conservative(2.0, 2), remedies.Adversarial(0.05, 2),
        remedies.BatchSchedule(((0, 16, 1.0), (1, 40, 0.5))), remedies.GhostBN(4),
        remedies.MultiplicativeNoise(4), remedies.SAM(0.05), remedies.SAM(0.5, adaptive=True)]


@dataclass(frozen=True)
class LabelSmoothing(remedies.Remedy):
    """A reader's remedy: cross-entropy against targets smoothed by ``eps``."""

    eps: float = 0.1

    def loss(self, out, y):
        return F.cross_entropy(out, y, reduction="none", label_smoothing=self.eps)


@dataclass(frozen=True)
class StepCounter(remedies.Remedy):
    """Counts the steps it sees and stops the run after ``limit`` evaluations."""

    seen: list = dataclasses.field(default_factory=list, compare=False, repr=False)
    limit: int = 2

    def after_step(self, ctx, step):
        self.seen.append(step)

    def stop(self, ctx, history):
        return len(history.step) > self.limit


def net(seed=0, shape=(1, 6, 6)):
    torch.manual_seed(seed)
    return gu.models.build("F1", shape, 3, width=8, depth=2)


def run(*remedies_, **kw):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    model = net()
    cfg = TrainConfig(batch_size=16, lr=0.05, epochs=3, remedies=remedies_, **kw)
    return model, fit(model, ds, cfg, progress=False)


@pytest.mark.parametrize("remedy", BOOK, ids=lambda r: repr(r))
def test_each_book_remedy_is_deterministic_and_changes_the_run(remedy):
    plain, _ = run()
    a, ha = run(remedy)
    b, hb = run(remedy)
    assert torch.equal(gu.params.flat(a), gu.params.flat(b)) and ha.test_acc == hb.test_acc
    assert not torch.equal(gu.params.flat(a), gu.params.flat(plain))


def test_every_remedy_changes_the_key_and_none_keeps_the_plain_one():
    base = TrainConfig(batch_size=16, epochs=2)
    keys = {cache.key({"config": base.as_dict()})}
    for r in BOOK + [LabelSmoothing(0.1), LabelSmoothing(0.2)]:
        cfg = dataclasses.replace(base, remedies=(r,), batch_size=16)
        keys.add(cache.key({"config": cfg.as_dict()}))
    assert len(keys) == 1 + len(BOOK) + 2
    assert "remedies" not in base.as_dict()


def test_a_remedy_written_outside_gaputils_trains_through_fit_and_caches_under_its_key(
        monkeypatch):
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    smooth = TrainConfig(batch_size=16, lr=0.05, epochs=3, remedies=(LabelSmoothing(0.2),))
    plain = dataclasses.replace(smooth, remedies=())
    h = cache.fit_or_load(net(), ds, smooth, progress=False)
    h_plain = cache.fit_or_load(net(), ds, plain, progress=False)
    assert h.train_loss[-1] > h_plain.train_loss[-1]  # a smoothed target keeps the loss up
    entry = smooth.as_dict()["remedies"][0]
    assert entry["name"] == "LabelSmoothing" and entry["fields"] == {"eps": 0.2}
    monkeypatch.setattr(cache, "fit", lambda *a, **k: pytest.fail("trained again"))
    again = net()
    assert cache.fit_or_load(again, ds, smooth) == h
    assert cache.run_key(net(), ds, smooth)[0] != cache.run_key(net(), ds, plain)[0]


def test_editing_a_remedys_code_changes_its_key():
    @dataclass(frozen=True)
    class Smooth(remedies.Remedy):
        eps: float = 0.1

        def loss(self, out, y):
            return F.cross_entropy(out, y, reduction="none", label_smoothing=self.eps)

    first = TrainConfig(epochs=1, remedies=(Smooth(),)).as_dict()["remedies"][0]["code"]

    @dataclass(frozen=True)
    class Smooth(remedies.Remedy):  # noqa: F811 - the reader edits the cell and runs it again
        eps: float = 0.1

        def loss(self, out, y):
            return F.cross_entropy(out, y, reduction="none", label_smoothing=2 * self.eps)

    assert TrainConfig(epochs=1, remedies=(Smooth(),)).as_dict()["remedies"][0]["code"] != first


def test_hooks_after_step_and_stop_are_called():
    counter = StepCounter(limit=2)
    _, h = run(counter, eval_every=2)
    assert counter.seen == [1, 2, 3, 4] and h.step == [0, 2, 4]


def test_clashes_and_bad_remedies_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="SAM and Conservative both replace the training "
                                         "loop's step"):
        TrainConfig(epochs=1, remedies=(remedies.SAM(), remedies.Conservative(1.0)))
    with pytest.raises(ValueError, match="two remedies of one kind"):
        TrainConfig(epochs=1, remedies=(remedies.SAM(0.1), remedies.SAM(0.2)))
    with pytest.raises(TypeError, match="subclass gaputils.remedies.Remedy"):
        TrainConfig(epochs=1, remedies=("sam",))
    ds = toy_dataset(n=32)
    with pytest.raises(ValueError, match="both replace the update step"):
        fit(net(shape=(1, 4, 4)), ds, TrainConfig(batch_size=16, epochs=1,
                                                  remedies=(remedies.SAM(),)),
            step=remedies.plain_step, progress=False)


def test_fit_takes_a_readers_optimizer_and_step():
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    cfg = TrainConfig(batch_size=16, lr=0.05, epochs=2, optimizer="sgd", momentum=0.0)
    a, b, c = net(), net(), net()
    fit(a, ds, cfg, progress=False)
    sgd = lambda params, config: torch.optim.SGD(params, lr=config.lr)
    fit(b, ds, cfg, optimizer=sgd, step=remedies.plain_step, progress=False)
    assert torch.equal(gu.params.flat(a), gu.params.flat(b))  # the same run, spelled out
    adamw = lambda params, config: torch.optim.AdamW(params, lr=config.lr, weight_decay=0.5)
    fit(c, ds, cfg, optimizer=adamw, progress=False)
    assert not torch.equal(gu.params.flat(a), gu.params.flat(c))


def test_fit_or_load_keys_a_readers_optimizer_by_its_code():
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    cfg = TrainConfig(batch_size=16, lr=0.05, epochs=1)
    h1 = cache.fit_or_load(net(), ds, cfg, progress=False,
                           optimizer=lambda p, c: torch.optim.SGD(p, lr=c.lr))
    h2 = cache.fit_or_load(net(), ds, cfg, progress=False,
                           optimizer=lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=0.9))
    assert h1.train_loss != h2.train_loss
    assert len(list(gu.cache_dir().glob("*.json"))) == 2


def test_distance_every_records_the_weight_distance_between_evaluations():
    w_plain, h_plain = run()
    w, h = run(distance_every=2)
    assert torch.equal(gu.params.flat(w), gu.params.flat(w_plain))  # recording changes nothing
    assert h.distance_step == list(range(2, h.step[-1] + 1, 2))
    at_evals = dict(zip(h.step, h.weight_distance, strict=True))
    for s, d in zip(h.distance_step, h.distance, strict=True):
        if s in at_evals:
            assert d == pytest.approx(at_evals[s], rel=1e-6)
    assert h_plain.distance == [] and "distance_every" not in h_plain.config


def test_every_remedy_module_is_found_by_the_package_and_the_command_line():
    import importlib
    import inspect
    import pkgutil

    from gaputils.train.__main__ import remedy_classes

    defined = set()
    for info in pkgutil.iter_modules(remedies.__path__):
        module = importlib.import_module(f"gaputils.remedies.{info.name}")
        defined |= {c for _, c in inspect.getmembers(module, inspect.isclass)
                    if issubclass(c, remedies.Remedy) and c is not remedies.Remedy
                    and c.__module__ == module.__name__}
    assert defined and set(remedy_classes().values()) == defined
    assert all(getattr(remedies, c.__name__) is c for c in defined)


def test_code_digest_follows_what_changes_behaviour_and_is_the_same_in_every_process():
    import functools
    import subprocess
    import sys

    from gaputils.remedies.base import code_digest

    d = code_digest
    assert d(lambda x: torch.relu(x)) != d(lambda x: torch.tanh(x))  # names used
    assert d(lambda x, k=1: x * k) != d(lambda x, k=2: x * k)  # defaults

    def make(lr):
        return lambda p, c: torch.optim.SGD(p, lr=lr)

    assert d(make(0.1)) != d(make(0.2))  # what a closure holds
    assert d(functools.partial(torch.optim.SGD, lr=0.1)) != d(
        functools.partial(torch.optim.SGD, lr=0.2))

    @dataclass(frozen=True)
    class A(remedies.Remedy):
        @torch.no_grad()
        def after_step(self, ctx, step):
            ctx.model.zero_grad()

    @dataclass(frozen=True)
    class B(remedies.Remedy):
        @torch.no_grad()
        def after_step(self, ctx, step):
            ctx.model.train()

    assert d(A) != d(B)  # a decorated hook's own code

    @dataclass(frozen=True)
    class C(A):
        order = 5

    assert d(C) != d(A)  # a plain class attribute, and the inherited hook
    script = ("from gaputils.remedies.base import code_digest\n"
              "print(code_digest(lambda x: x in {'a', 'b', 'c', 'd', 'e', 'f'}))")
    outs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)},
                           check=True).stdout for seed in (0, 1, 2)}
    assert len(outs) == 1  # sets hashed in a stable order


def test_keys_of_subclasses_and_bad_remedies():
    @dataclass(frozen=True)
    class MyAugment(remedies.Augment):
        def batch(self, ctx, x, y):
            return x.flip(-1), y

    mine = TrainConfig(epochs=1, remedies=(MyAugment(),)).as_dict()
    assert "augment_shift" not in mine and mine["remedies"][0]["name"].endswith("MyAugment")

    class NotFrozen(remedies.Remedy):  # no @dataclass of its own
        sigma = 0.1

    with pytest.raises(TypeError, match="frozen"):
        TrainConfig(epochs=1, remedies=(NotFrozen(),))

    @dataclass(frozen=True)
    class Holds(remedies.Remedy):
        fn: object = print

    with pytest.raises(TypeError, match="JSON values"):
        TrainConfig(epochs=1, remedies=(Holds(),)).as_dict()
    counted = StepCounter(limit=2)
    counted.seen.append(3)  # run state (compare=False) stays out of the key
    assert TrainConfig(epochs=1, remedies=(counted,)).as_dict() == TrainConfig(
        epochs=1, remedies=(StepCounter(limit=2),)).as_dict()
    for off in (remedies.SAM(rho=0.0), remedies.Adversarial(eps=0.0)):
        with pytest.raises(ValueError, match="> 0"):
            TrainConfig(epochs=1, remedies=(off,))


def test_batch_hooks_run_in_order_and_a_scalar_loss_is_refused():
    from gaputils.remedies.base import ordered

    rs = (remedies.Adversarial(), remedies.MultiplicativeNoise(4), remedies.Augment())
    assert [type(r) for r in ordered(rs, "batch")] == [remedies.Augment, remedies.Adversarial]

    @dataclass(frozen=True)
    class Scalar(remedies.Remedy):
        def loss(self, out, y):
            return F.cross_entropy(out, y)

    with pytest.raises(ValueError, match="one loss per example"):
        run(Scalar())


def test_the_command_line_reads_every_field_of_every_remedy():
    from gaputils.train.__main__ import config_of, parse, remedy_classes

    for name, cls in remedy_classes().items():
        for f in dataclasses.fields(cls):
            value = f.default
            text = (f"--{name}-{f.name.replace('_', '-')}" if not isinstance(value, bool)
                    else f"--{'' if value else 'no-'}{name}-{f.name.replace('_', '-')}")
            args = [text] if isinstance(value, bool) else [text, repr(value)]
            if cls is remedies.BatchSchedule:
                args = [text, "((0, 256, 1.0),)"]
            got = config_of(parse(args)).remedies
            assert [type(r) for r in got] == [cls], (name, f.name)
    assert config_of(parse(["--milestones", "30"])).milestones == (30,)
