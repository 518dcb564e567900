import json

import pytest
import torch
from helpers import toy_dataset

import gaputils as gu
from gaputils import cache
from gaputils.train import TrainConfig

CFG = TrainConfig(batch_size=16, lr=0.01, epochs=2)


def net(seed=0):
    torch.manual_seed(seed)
    return gu.models.build("F1", (1, 4, 4), 3, width=8, depth=1)


def no_fit(*args, **kwargs):
    raise AssertionError("fit() ran although the result was cached")


def entry_files():
    folder = gu.cache_dir()
    return sorted(folder.glob("*.pt")), sorted(folder.glob("*.json"))


def test_second_call_loads_weights_and_history(monkeypatch):
    ds = toy_dataset()
    a = net()
    h1 = cache.fit_or_load(a, ds, CFG)
    monkeypatch.setattr(cache, "fit", no_fit)
    b = net()
    h2 = cache.fit_or_load(b, ds, CFG)
    assert h2 == h1
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])


def test_key_depends_on_what_shapes_the_result(monkeypatch):
    ds = toy_dataset()
    cache.fit_or_load(net(), ds, CFG)
    cache.fit_or_load(net(seed=1), ds, CFG)  # other initial weights
    cache.fit_or_load(net(), ds, TrainConfig(batch_size=16, lr=0.01, epochs=2, seed=1))
    cache.fit_or_load(net(), toy_dataset(n=80), CFG)
    cache.fit_or_load(net(), ds, CFG, tag="another experiment")
    assert len(entry_files()[1]) == 5
    monkeypatch.setenv("GAPUTILS_MODE", "standard")
    cache.fit_or_load(net(), ds, CFG, progress=False)
    assert len(entry_files()[1]) == 6


@pytest.mark.parametrize("damage", ["json-garbage", "json-truncated", "pt-truncated",
                                    "pt-missing", "pt-not-weights", "wrong-shapes"])
def test_corrupt_entry_is_recomputed(damage):
    ds = toy_dataset()
    h1 = cache.fit_or_load(net(), ds, CFG)
    (pt,), (js,) = entry_files()
    if damage == "json-garbage":
        js.write_text("{not json")
    elif damage == "json-truncated":
        js.write_text(js.read_text()[:40])
    elif damage == "pt-truncated":
        pt.write_bytes(pt.read_bytes()[:100])
    elif damage == "pt-missing":
        pt.unlink()
    else:
        obj = ({"x": object()} if damage == "pt-not-weights"
               else {"0.weight": torch.zeros(2, 2)})
        torch.save(obj, pt)  # a checksum that matches, but content that must not load
        entry = json.loads(js.read_text())
        entry["sha256"] = cache._sha256(pt)
        js.write_text(json.dumps(entry))
    fresh = net()
    with pytest.warns(RuntimeWarning, match="(?s)corrupt.*recomputing"):
        h2 = cache.fit_or_load(fresh, ds, CFG)
    assert cache.state_digest(fresh) != cache.state_digest(net())  # trained, not the init
    h1.seconds = h2.seconds
    assert h2 == h1
    assert cache.load(json.loads(js.read_text())["key"], net()) is not None  # rewritten, valid


def test_half_written_entry_is_not_used(monkeypatch):
    ds = toy_dataset()
    cache.fit_or_load(net(), ds, CFG)
    (pt,), (js,) = entry_files()
    js.unlink()  # killed after the weights, before the record: no entry
    calls = []
    real_fit = cache.fit
    monkeypatch.setattr(cache, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    cache.fit_or_load(net(), ds, CFG)
    assert calls == [1]


def test_failed_write_leaves_no_partial_file(monkeypatch, tmp_path):
    def boom(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache._atomic_write(tmp_path / "x.json", boom)
    assert list(tmp_path.glob("*x.json*")) == []


def test_loads_with_weights_only(monkeypatch):
    seen = {}
    real = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    ds = toy_dataset()
    cache.fit_or_load(net(), ds, CFG)
    monkeypatch.setattr(torch, "load", spy)
    cache.fit_or_load(net(), ds, CFG)
    assert seen.get("weights_only") is True


def test_reference_stamp_says_where_and_when():
    import datetime

    import gaputils as gu

    s = gu.reference.stamp("2 threads")
    assert s["device"].endswith("CPU cores, 2 threads") and s["torch"] == torch.__version__
    assert s["date"] == str(datetime.date.today())
