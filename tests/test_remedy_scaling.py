"""The learning-rate rules and regime adaptation."""

import dataclasses

import pytest

import gaputils as gu
from gaputils import remedies
from gaputils.train import TrainConfig


def test_lr_rules_and_regime_adaptation():
    assert remedies.scale_lr(0.1, 512, 32, "none") == 0.1
    assert remedies.scale_lr(0.1, 512, 32, "sqrt") == pytest.approx(0.4)
    assert remedies.scale_lr(0.1, 512, 32, "linear") == pytest.approx(1.6)
    with pytest.raises(ValueError, match="choose one of"):
        remedies.scale_lr(0.1, 512, 32, "cubic")
    cfg = TrainConfig(batch_size=64, epochs=10, schedule="step", milestones=(4, 8),
                      warmup_epochs=1)
    ra = remedies.adapt_regime(cfg, 4)
    assert (ra.epochs, ra.milestones, ra.warmup_epochs) == (40, (16, 32), 4)
    # the 4x larger batch takes as many steps, with its learning-rate changes at the same steps
    big = dataclasses.replace(ra, batch_size=256)
    assert big.total_steps(1024) == cfg.total_steps(1024) == 160
    lrs = lambda c: [gu.train.lr_factor(c, t, 1024 // c.batch_size, 160) for t in range(160)]
    assert lrs(big) == lrs(cfg) and len(set(lrs(cfg))) > 3
    assert remedies.adapt_regime(TrainConfig(steps=10), 2.5).steps == 25
