"""Train one configuration from the command line; data-parallel under torchrun.

    python -m gaputils.train --model F1 --batch-size 4096 --lr 1e-3 --epochs 10
    torchrun --standalone --nproc_per_node=4 -m gaputils.train --model F1 --batch-size 4096 ...

The run is cached like the chapters' runs (the key hashes model, initial weights, data, config
and, for W > 1 workers, W); a second call loads it. Prints the final record and the cache
entry (a JSON with the history and a .pt with the weights beside it). See README, "Training on
several GPUs".
"""

from __future__ import annotations

import argparse
import ast
import sys

import torch
import torch.distributed as dist

from .. import cache, data, distributed, models, runtime
from . import TrainConfig, fit


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gaputils.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="F1", help=f"one of {', '.join(models.BUILDERS)}")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="a keyword of the model builder, e.g. batchnorm=False (repeatable)")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--n-train", type=int, default=None, help="training subset (default: all)")
    p.add_argument("--n-test", type=int, default=None, help="test subset (default: all)")
    p.add_argument("--batch-size", type=int, default=256, help="global batch, all workers")
    p.add_argument("--lr", type=float, default=1e-3)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, default=None, help="default 10")
    length.add_argument("--steps", type=int, default=None)
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", default="constant", choices=("constant", "step", "cosine"))
    p.add_argument("--ghost-batch", type=int, default=0, help="Ghost BatchNorm size (0: off)")
    p.add_argument("--eval-every", type=int, default=None, help="steps (default: one epoch)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (GPUs)")
    p.add_argument("--float64", action="store_true",
                   help="weights and inputs in float64 (exact comparisons, tests)")
    p.add_argument("--seed", type=int, default=0, help="batch order")
    p.add_argument("--init-seed", type=int, default=0, help="initial weights")
    p.add_argument("--no-cache", action="store_true", help="train even if a result is cached")
    args = p.parse_args(argv)
    if args.epochs is None and args.steps is None:
        args.epochs = 10.0
    return args


def model_kwargs(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        k, sep, v = pair.partition("=")
        if not sep:
            raise SystemExit(f"--model-arg {pair!r}: write KEY=VALUE, e.g. batchnorm=False")
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    rank, size = distributed.init()
    dev = distributed.device() if size > 1 else runtime.device()
    say = print if rank == 0 else (lambda *a, **k: None)
    ds = data.load(args.dataset, n_train=args.n_train, n_test=args.n_test, device=dev)
    torch.manual_seed(args.init_seed)
    net = models.build(args.model, ds.input_shape, ds.num_classes,
                       **model_kwargs(args.model_arg)).to(dev)
    if args.float64:
        ds, net = ds.to(dev, torch.float64), net.double()
    config = TrainConfig(batch_size=args.batch_size, lr=args.lr, epochs=args.epochs,
                         steps=args.steps, optimizer=args.optimizer, momentum=args.momentum,
                         weight_decay=args.weight_decay, schedule=args.schedule,
                         ghost_batch=args.ghost_batch, eval_every=args.eval_every,
                         bf16=args.bf16, seed=args.seed)
    tag = ",".join([f"workers={size}"] * (size > 1) + ["float64"] * args.float64)
    k, parts = cache.run_key(net, ds, config, tag=tag)
    path = runtime.cache_dir() / f"{k}.json"
    say(f"{args.model} on {len(ds.train[1]):,} {args.dataset} images, {size} worker(s) on "
        f"{dev}, global batch {args.batch_size}")
    record = None if args.no_cache else cache.load(k, net)
    hit = [record is not None]
    if size > 1:  # worker 0's cache decides, so that no worker trains alone
        dist.broadcast_object_list(hit, src=0)
    if hit[0]:
        say(f"cached: {path}")
    else:
        history = fit(net, ds, config)
        if rank == 0:
            cache.save(k, net, {"history": history.to_dict(), "parts": parts})
        say(f"{history}\ncached: {path}")
    if size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
