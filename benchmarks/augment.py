"""Data augmentation of one batch (chapter 06's Hoffer regime: LB = 500 Fashion-MNIST images,
shifts of up to 2 pixels and horizontal flips): ``gu.remedies.augment`` on the whole batch at
once, against what a reader would otherwise write - torchvision's ``transforms.v2``
``RandomCrop(28, padding=2)`` and ``RandomHorizontalFlip`` applied image by image, as a
``Dataset`` does. Also: each as a fraction of one training step of the testbed's C1 at that
batch, and the step on the augmented batch when its memory layout is not restored (the
convolution then takes another kernel: faster on some machines, slower on others). Agreement:
both give images of the same shape, with every pixel of the output taken from the input or the
black frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import gaputils as gu

from .common import dataset, row, timed

BATCH, SHIFT = 500, 2


def _step(net, opt, x, y) -> None:
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    opt.step()


def run(quick: bool = False) -> tuple[list[dict], dict]:
    from torchvision.transforms import v2

    ds = dataset()
    dev = gu.device()
    x, y = ds.train[0][:BATCH].to(dev), ds.train[1][:BATCH].to(dev)
    repeat = 5 if quick else 20
    black = float(-ds.mean[0] / ds.std[0])
    gen = torch.Generator().manual_seed(0)
    ours = lambda: gu.remedies.augment(x, gen, shift=SHIFT, flip=True, mean=ds.mean, std=ds.std)
    tv = v2.Compose([v2.RandomCrop(28, padding=SHIFT, fill=black), v2.RandomHorizontalFlip()])
    theirs = lambda: torch.stack([tv(img) for img in x])
    t_ours, outs = timed(ours, repeat)
    t_theirs, touts = timed(theirs, repeat)

    torch.manual_seed(0)
    net = gu.testbed.get("standard").build(ds).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    aug = outs[0]
    # the strides indexing returns, (784, 784, 28, 1), where loading gives (784, 1, 28, 1)
    strided = torch.empty(aug.shape, dtype=aug.dtype, device=dev).copy_(aug)
    _step(net, opt, aug, y)  # warm-up
    t_step, _ = timed(lambda: _step(net, opt, aug, y), repeat)
    t_other, _ = timed(lambda: _step(net, opt, strided, y), repeat)

    inside = lambda o: bool(((o == black) | torch.isin(o, x)).all())
    agree = (f"shapes {tuple(aug.shape)} = {tuple(touts[0].shape)}; pixels from the input or "
             f"the frame: ours {inside(aug)}, theirs {inside(touts[0])}")
    rows = [row(f"augment a batch of {BATCH}", "torchvision v2, per image", t_ours, t_theirs,
                agree, note=f"ours {100 * t_ours / t_step:.1f}% of a C1 step, theirs "
                            f"{100 * t_theirs / t_step:.0f}%"),
            row("C1 step, augmented batch", "same, other memory layout", t_step, t_other,
                "same values", note=f"strides {tuple(aug.stride())} against "
                                    f"{tuple(strided.stride())}: the kernel follows the strides")]
    return rows, {"batch": BATCH, "shift": SHIFT, "repeat": repeat, "step_s": t_step,
                  "ours_s": t_ours, "theirs_s": t_theirs, "other_layout_step_s": t_other}
