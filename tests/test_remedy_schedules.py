"""BatchSchedule: every epoch covers the data once with its batch size; the schedules promise
the right sizes; a run counts its steps and epochs."""

import pytest
import torch
from helpers import toy_dataset

import gaputils as gu
from gaputils import remedies
from gaputils.train import TrainConfig, fit


@pytest.mark.parametrize("n,b", [(100, 32), (100, 25), (7, 7), (10, 3), (5, 9)])
def test_epoch_sizes_partition_the_data(n, b):
    sizes = remedies.epoch_sizes(n, min(b, n))
    assert sum(sizes) == n and max(sizes) <= b and max(sizes) - min(sizes) <= 1
    assert len(sizes) == -(-n // min(b, n))


def test_every_schedule_visits_each_example_once_per_epoch_with_its_sizes():
    n, epochs = 50, 6
    factor = lambda e: 0.5 ** (e // 2)
    for sched in (remedies.warm_start(4, 20, 2, epochs), remedies.geometric(4, 20, 2, epochs),
                  remedies.increase_instead_of_decay(4, 20, epochs, factor)):
        seen = {}
        for e, idx in remedies.epoch_batches(n, sched, epochs, torch.Generator().manual_seed(0)):
            seen.setdefault(e, []).append(idx)
        assert sorted(seen) == list(range(epochs))
        for e, (b, _) in enumerate(remedies.per_epoch(sched, epochs)):
            assert sorted(torch.cat(seen[e]).tolist()) == list(range(n))
            assert [len(i) for i in seen[e]] == remedies.epoch_sizes(n, b)
        assert remedies.schedule_steps(n, sched, epochs) == sum(map(len, seen.values()))


def test_schedules_promise_the_right_sizes():
    assert [b for b, _ in remedies.per_epoch(remedies.warm_start(4, 20, 2, 5), 5)] == [
        4, 4, 20, 20, 20]
    assert remedies.warm_start(4, 20, 0, 5) == ((0, 20, 1.0),)
    assert remedies.warm_start(4, 20, 5, 5) == ((0, 4, 1.0),)
    assert [b for b, _ in remedies.per_epoch(remedies.geometric(4, 20, 2, 9), 9)] == [
        4, 4, 8, 8, 16, 16, 20, 20, 20]
    smith = remedies.per_epoch(remedies.increase_instead_of_decay(4, 20, 8, lambda e: 0.5 ** (
        e // 2)), 8)
    # the batch takes the decay (x2 every 2 epochs) until 20, then the rate takes the rest;
    # lr / batch follows the original schedule: factor / 4
    assert [b for b, _ in smith] == [4, 4, 8, 8, 16, 16, 20, 20]
    for e, (b, m) in enumerate(smith):
        assert m / b == pytest.approx(0.5 ** (e // 2) / 4)
    with pytest.raises(ValueError, match="starting at 0"):
        remedies.per_epoch(((1, 4, 1.0),), 3)


def test_batch_schedule_run_counts_steps_and_epochs():
    ds = toy_dataset(n=96, shape=(1, 6, 6))
    torch.manual_seed(0)
    net = gu.models.build("F1", (1, 6, 6), 3, width=8, depth=2)
    sched = remedies.geometric(16, 64, 1, 3)
    cfg = TrainConfig(batch_size=16, lr=0.05, epochs=3, remedies=(remedies.BatchSchedule(sched),))
    h = fit(net, ds, cfg, progress=False)
    assert h.step[-1] == remedies.schedule_steps(96, sched, 3) == cfg.total_steps(96) == 6 + 3 + 2
    assert h.epoch == [0.0, 1.0, 2.0, 3.0]
    assert [row[1] for row in remedies.profile(cfg, 96)] == [16, 32, 64]
    assert [row[3] for row in remedies.profile(cfg, 96)] == [6, 3, 2]


def test_the_remedy_checks_the_run():
    with pytest.raises(ValueError, match="first batch size"):
        TrainConfig(batch_size=8, epochs=2, remedies=(remedies.BatchSchedule(((0, 16, 1.0),)),))
    with pytest.raises(ValueError, match="whole number of epochs"):
        TrainConfig(batch_size=16, steps=20, remedies=(remedies.BatchSchedule(((0, 16, 1.0),)),))
