"""Reference runs split by seed: one part file per seed, committed, so that a run split over
processes, machines or sessions resumes where it stopped. Shared by the reference scripts.

A seed whose part exists is skipped, as is one that another process has claimed with a
``seed<k>.claimed`` file (delete a claim that a killed process left)."""

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).parents[2]
PARTS = ROOT / "data" / "reference" / "parts"


def run(folder: Path, seeds, work: Callable[[int], dict], threads: int) -> None:
    """``work(seed)`` for every seed of ``seeds`` without a part in ``folder``, on ``threads``
    threads; each result, with its ``wall_seconds`` and ``threads``, written as it finishes."""
    torch.set_num_threads(threads)
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        part, claim = folder / f"seed{seed}.json", folder / f"seed{seed}.claimed"
        if part.exists():
            print(f"seed {seed}: {part} exists, skipped", flush=True)
            continue
        try:  # another process may be training this seed
            claim.open("x").close()
        except FileExistsError:
            print(f"seed {seed}: claimed by another process ({claim}), skipped", flush=True)
            continue
        t0 = time.time()
        res = work(seed)
        res["wall_seconds"] = round(time.time() - t0)
        res["threads"] = threads
        part.write_text(json.dumps(res))
        claim.unlink()
        print(f"seed {seed} done after {res['wall_seconds']} s", flush=True)


def load(folder: Path) -> list[dict]:
    """The parts in ``folder``, in seed order, each restricted to the arms every part holds
    (parts run after an arm was added hold it too; such an arm comes from its own folder)."""
    paths = sorted(folder.glob("seed*.json"), key=lambda p: int(p.stem[4:]))
    if not paths:
        raise FileNotFoundError(f"no parts in {folder}: run the script's 'run' first")
    parts = [json.loads(p.read_text()) for p in paths]
    threads = {p.get("threads") for p in parts}
    if len(threads) > 1:
        raise ValueError(f"the parts in {folder} were made with different thread counts "
                         f"{sorted(threads, key=str)}: their networks differ; rerun them alike")
    common = set.intersection(*(set(p["arms"]) for p in parts))
    extra = {n for p in parts for n in p["arms"]} - common
    if extra:
        print(f"merged without {sorted(extra)}, which only some parts have: merge them with "
              "--arms from their own parts")
    return [p | {"arms": {n: a for n, a in p["arms"].items() if n in common}} for p in parts]
