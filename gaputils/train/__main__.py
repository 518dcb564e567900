"""Train one configuration from the command line; data-parallel under torchrun.

    python -m gaputils.train --model F1 --batch-size 4096 --lr 1e-3 --epochs 10
    python -m gaputils.train --model C1 --batch-size 500 --sam --sam-rho 0.1 --ghost-bn-size 32
    torchrun --standalone --nproc_per_node=4 -m gaputils.train --model F1 --batch-size 4096 ...

Every field of the training configuration is an option, and every remedy of gaputils.remedies
a switch with one option per field (--help lists them).

The run is cached like the chapters' runs (the key hashes model, initial weights, data, config
and, for W > 1 workers, W); a second call loads it. Prints the final record and the cache
entry (a JSON with the history and a .pt with the weights beside it). See README, "Training on
several GPUs".
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import sys
from dataclasses import fields

import torch
import torch.distributed as dist

from .. import cache, data, distributed, models, remedies, runtime
from ..plan import SCHEDULES
from . import OPTIMIZERS, TrainConfig, fit

CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES}


def _tuple(text: str) -> tuple:
    """A tuple from the command line: ``(10, 20)``, ``10,20`` or ``10`` (one value)."""
    value = ast.literal_eval(text if text.strip() else "()")
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _kind(default, annotation: str):
    """How argparse reads a field, from its type annotation (``float | None`` reads a float)."""
    kind = annotation.replace(" ", "").split("|")[0]
    if kind == "bool":
        return {"action": argparse.BooleanOptionalAction}
    if kind.startswith(("tuple", "Schedule")):
        return {"type": _tuple}
    return {"type": {"int": int, "float": float, "str": str}.get(kind, ast.literal_eval)}


def _flag(*names: str) -> str:
    return "--" + "-".join(n.replace("_", "-") for n in names)


def remedy_classes() -> dict[str, type]:
    """The book's remedies (:mod:`gaputils.remedies`) by command-line name."""
    classes = [c for c in vars(remedies).values() if isinstance(c, type)
               and issubclass(c, remedies.Remedy) and c is not remedies.Remedy]
    return {re.sub(r"(?<=[a-z])(?=[A-Z])", "-", c.__name__).lower(): c for c in classes}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The options: the run's (model, data, caching), then one per field of TrainConfig, then
    per remedy a switch and one option per field - all generated, so none is missing."""
    p = argparse.ArgumentParser(prog="python -m gaputils.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    run = p.add_argument_group("the run")
    run.add_argument("--model", default="F1", help=f"one of {', '.join(models.BUILDERS)}")
    run.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                     help="a keyword of the model builder, e.g. batchnorm=False (repeatable)")
    run.add_argument("--dataset", default="fashion-mnist")
    run.add_argument("--n-train", type=int, default=None, help="training subset (default: all)")
    run.add_argument("--n-test", type=int, default=None, help="test subset (default: all)")
    run.add_argument("--float64", action="store_true",
                     help="weights and inputs in float64 (exact comparisons, tests)")
    run.add_argument("--init-seed", type=int, default=0, help="initial weights")
    run.add_argument("--no-cache", action="store_true", help="train even if a result is cached")
    cfg = p.add_argument_group("training (gaputils.train.TrainConfig; --batch-size is the "
                               "global batch of all workers; default --epochs 10)")
    for f in fields(TrainConfig):
        if f.name != "remedies":
            cfg.add_argument(_flag(f.name), dest=f.name, default=f.default,
                             choices=CHOICES.get(f.name), metavar=f.name.upper(),
                             help=f"default {f.default!r}" + (
                                 f"; one of {', '.join(CHOICES[f.name])}"
                                 if f.name in CHOICES else ""),
                             **_kind(f.default, str(f.type)))
    for name, cls in remedy_classes().items():
        group = p.add_argument_group(f"remedy {cls.__name__}", (cls.__doc__ or "").split(
            "\n\n")[0].replace("``", "").replace("\n    ", " "))
        group.add_argument(_flag(name), action="store_true", dest=f"use:{name}",
                           help=f"train with {cls.__name__} (its fields at their defaults "
                                "unless set below; setting one switches it on)")
        for f in dataclasses.fields(cls):
            has = f.default is not dataclasses.MISSING
            group.add_argument(_flag(name, f.name), dest=f"{name}:{f.name}",
                               default=argparse.SUPPRESS, metavar=f.name.upper(),
                               help=f"default {f.default!r}" if has else "required with it",
                               **_kind(f.default, str(f.type)))
    args = p.parse_args(argv)
    if (args.epochs is None) == (args.steps is None):
        if args.steps is not None:
            p.error("give --epochs or --steps, not both")
        args.epochs = 10.0
    return args


def config_of(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the options describe, with the remedies switched on."""
    given = vars(args)
    chosen = []
    for name, cls in remedy_classes().items():
        values = {k.split(":")[1]: v for k, v in given.items() if k.startswith(f"{name}:")}
        if given[f"use:{name}"] or values:
            chosen.append(cls(**values))
    return TrainConfig(**{f.name: given[f.name] for f in fields(TrainConfig)
                          if f.name != "remedies"}, remedies=tuple(chosen))


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
    config = config_of(args)
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
