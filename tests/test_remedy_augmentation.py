"""Augment: random shifts into a black frame and flips, seeded, in the input's layout."""

import dataclasses

import pytest
import torch
from helpers import MEAN, STD, images, toy_dataset
from torch import nn

from gaputils import remedies
from gaputils.train import TrainConfig, fit


def test_augment_keeps_shape_and_is_seeded():
    x = images()
    a = remedies.augment(x, torch.Generator().manual_seed(3), shift=2, flip=True,
                         mean=MEAN, std=STD)
    b = remedies.augment(x, torch.Generator().manual_seed(3), shift=2, flip=True,
                         mean=MEAN, std=STD)
    c = remedies.augment(x, torch.Generator().manual_seed(4), shift=2, flip=True,
                         mean=MEAN, std=STD)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(remedies.augment(x, torch.Generator(), 0, False), x)


def test_augment_shifts_each_image_within_range_and_pads_black():
    n, h, w, s = 64, 7, 7, 2
    x = torch.full((n, 1, h, w), -MEAN[0] / STD[0])  # black images ...
    x[:, 0, 3, 3] = 5.0  # ... with one bright pixel in the middle
    out = remedies.augment(x, torch.Generator().manual_seed(0), shift=s, mean=MEAN, std=STD)
    assert torch.all((out == 5.0).flatten(1).sum(1) == 1)  # the pixel survives, moved
    pos = (out[:, 0] == 5.0).nonzero()[:, 1:]
    moves = pos - 3
    assert moves.abs().max() == s and len({tuple(m) for m in moves.tolist()}) > 10
    others = out[out != 5.0]
    assert torch.allclose(others, torch.tensor(-MEAN[0] / STD[0]))


def test_augment_flip_mirrors_about_half():
    x = images(n=200)
    out = remedies.augment(x, torch.Generator().manual_seed(1), flip=True)
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert torch.all(same | mirrored) and 70 < int(mirrored.sum()) < 130



def test_augment_returns_the_input_layout():
    # loading gives one-channel images strides of the channels-last kind; a convolution picks
    # its (much slower, on the CPU) kernel from the strides, so augmentation must keep them
    x = torch.empty_strided((8, 1, 6, 5), (30, 1, 5, 1)).copy_(images())  # as loading gives
    out = remedies.augment(x, torch.Generator().manual_seed(0), shift=2, flip=True)
    assert out.stride() == x.stride()
    wide = torch.randn(4, 3, 6, 6)
    assert remedies.augment(wide, torch.Generator(), 1, True).stride() == wide.stride()


def test_the_remedy_refuses_flipping_digits_and_a_negative_shift():
    ds = dataclasses.replace(toy_dataset(), name="mnist")
    with pytest.raises(ValueError, match="digits"):
        fit(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), ds,
            TrainConfig(batch_size=16, epochs=1, remedies=(remedies.Augment(0, True),)),
            progress=False)
    with pytest.raises(ValueError, match=">= 0 pixels"):
        TrainConfig(epochs=1, remedies=(remedies.Augment(shift=-1),))
