"""Adversarial: FGSM and PGD examples stay in their ball, raise the loss, leave the model as it
was."""

import pytest
import torch
import torch.nn.functional as F
from helpers import MEAN, STD, images, toy_dataset

import gaputils as gu
from gaputils import remedies
from gaputils.train import TrainConfig, fit


@pytest.mark.parametrize("steps", [1, 4])
def test_adversarial_examples_stay_in_their_ball_and_raise_the_loss(steps):
    ds = toy_dataset(shape=(1, 6, 5))
    torch.manual_seed(0)
    net = gu.models.build("F1", (1, 6, 5), 3, width=16, depth=2)
    fit(net, ds, TrainConfig(batch_size=16, lr=0.05, epochs=3), progress=False)
    x = images(n=48)
    y = ds.train[1][:48]
    eps = 8 / 255
    stats = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    net.train()
    net.zero_grad(set_to_none=True)
    adv = remedies.adversarial(net, x, y, eps, steps, MEAN, STD,
                               torch.Generator().manual_seed(0))
    pix, pix_adv = x * STD[0] + MEAN[0], adv * STD[0] + MEAN[0]
    assert (pix_adv - pix).abs().max() <= eps + 1e-6
    assert pix_adv.min() >= -1e-6 and pix_adv.max() <= 1 + 1e-6
    assert net.training and all(p.grad is None for p in net.parameters())
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in stats.items())
    net.eval()
    with torch.no_grad():
        assert F.cross_entropy(net(adv), y) > F.cross_entropy(net(x), y)


def test_the_remedy_checks_its_fields():
    with pytest.raises(ValueError, match="0 < ratio <= 1"):
        TrainConfig(batch_size=16, epochs=1, remedies=(remedies.Adversarial(0.1, ratio=0.0),))
