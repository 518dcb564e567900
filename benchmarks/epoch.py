"""One training epoch of F1 on all 60,000 Fashion-MNIST images (batch 256, Adam): gaputils'
loop, which draws batches on the device from tensors already there, against the loop a reader
would write - a torchvision ``FashionMNIST`` dataset with ``ToTensor`` and ``Normalize`` and a
shuffling ``DataLoader`` with 0 and 2 worker processes. Same initial weights; training time
only (gaputils' History excludes its evaluations). Agreement: test accuracy after the epoch.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

import gaputils as gu

from .common import row, timed

BATCH = 256


def _torchvision_dataset(ds, root: Path):
    """torchvision's FashionMNIST over the same files (it wants them uncompressed)."""
    import torchvision
    from torchvision import transforms

    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in gu.data.locate("fashion-mnist").iterdir():
        if f.suffix == ".gz":
            with gzip.open(f) as src, open(raw / f.stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(ds.mean, ds.std)])
    return torchvision.datasets.FashionMNIST(str(root), train=True, transform=tf)


def _reader_loop(net, tv_ds, workers: int, dev) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(tv_ds, batch_size=BATCH, shuffle=True,
                                         num_workers=workers, drop_last=True)
    net.train()
    for xb, yb in loader:
        xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(xb), yb).backward()
        opt.step()


def run(quick: bool = False) -> tuple[list[dict], dict]:
    ds = gu.data.load("fashion-mnist", n_train=10_000 if quick else None)
    dev = gu.device()
    torch.manual_seed(0)
    init = gu.models.build("F1", ds.input_shape, ds.num_classes).to(dev).state_dict()
    net = gu.models.build("F1", ds.input_shape, ds.num_classes).to(dev)
    net.load_state_dict(init)
    hist = gu.train.fit(net, ds, gu.train.TrainConfig(batch_size=BATCH, lr=1e-3, epochs=1),
                        progress=False)
    ours, acc = hist.seconds[-1], hist.test_acc[-1]
    rows, raw = [], {"ours": {"seconds": ours, "test_acc": acc}, "n_train": len(ds.train[1])}
    with tempfile.TemporaryDirectory() as tmp:
        tv_ds = _torchvision_dataset(ds, Path(tmp))
        if quick:
            tv_ds = torch.utils.data.Subset(tv_ds, range(10_000))
        for workers in (0, 2):
            net.load_state_dict(init)
            t, _ = timed(lambda: _reader_loop(net, tv_ds, workers, dev))
            theirs = gu.train.evaluate(net, *ds.test)[1]
            raw[f"workers={workers}"] = {"seconds": t, "test_acc": theirs}
            rows.append(row(f"epoch F1 {len(ds.train[1]):,} images",
                            f"DataLoader, num_workers={workers}", ours, t,
                            f"test acc {acc:.3f} (ours) / {theirs:.3f}"))
    return rows, raw
