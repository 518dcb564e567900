"""Where a measurement's data come from: an in-memory (x, y) pair, or any re-iterable of
(x, y) batches such as a ``torch.utils.data.DataLoader`` (chapter 04's appendix).

Curvature, sharpness and landscapes measure the *full-data* loss

    f(w) = (1 / N) sum_b  n_b * loss_fn(model(x_b), y_b),

where ``loss_fn`` returns the mean over a batch of n_b examples (default: cross-entropy) and
N = sum_b n_b: batches are weighted by their size, so the result does not depend on how the
data are cut. A tensor pair is cut into chunks of ``chunk`` examples; a loader's batches are
used as they come. Every batch is moved to the model's device when it is used, so the data
never have to fit there at once.

A pair's chunk size is chosen by default from the memory a chunk's graph takes (``auto_chunk``):
a Hessian-vector product keeps about four times a forward pass's activations, and at most
``MEMORY`` bytes of them (1 GiB on the CPU, a quarter of the free memory on a GPU) are held at
once, so a conv net's Hessian over 10,000 images runs in a few GB (benchmarks/README.md).

A loader must give the same batches on every pass: a curvature of a random function is not a
number. ``check`` compares the first batch of two passes and the gradient on it, and refuses a
loader that shuffles or augments, and a model with something random in forward, with an error
that says which it is.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Data = tuple[torch.Tensor, torch.Tensor] | Iterable


def is_pair(data) -> bool:
    """True for an in-memory (x, y) pair of tensors with as many rows."""
    return (isinstance(data, tuple | list) and len(data) == 2
            and all(isinstance(t, torch.Tensor) for t in data)
            and data[0].dim() > 0 and len(data[0]) == len(data[1]))


class Batches:
    """``data`` (a pair or a re-iterable of pairs) as a re-iterable of (x, y) batches on
    ``device``. ``single()`` is the one batch when there is only one (else None). Chapter 04."""

    def __init__(self, data: Data, chunk: int = 4096, device: torch.device | None = None):
        self.data, self.chunk, self.device = data, chunk, device
        self.pair = is_pair(data)
        if not self.pair:
            looks_like_pair = (isinstance(data, tuple | list) and len(data) == 2
                               and isinstance(data[0], torch.Tensor))
            if isinstance(data, torch.Tensor) or looks_like_pair:
                raise ValueError("data must be an (x, y) pair of tensors with as many rows "
                                 "(or a re-iterable of such pairs, such as a DataLoader)")
            if isinstance(data, Iterator):
                raise TypeError("data is a one-shot iterator (a generator or iter(loader)): "
                                "measurements pass over the data many times. Give the "
                                "DataLoader itself, or a list of (x, y) batches")
            if not isinstance(data, Iterable):
                raise TypeError(f"data must be an (x, y) pair of tensors or a re-iterable of "
                                f"(x, y) batches (a DataLoader), got {type(data).__name__}")

    def _raw(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.pair:
            x, y = self.data
            for i in range(0, len(y), self.chunk):
                yield x[i:i + self.chunk], y[i:i + self.chunk]
            return
        for k, batch in enumerate(self.data):
            if not (isinstance(batch, tuple | list) and len(batch) == 2):
                raise TypeError(f"batch {k} of the data is a {type(batch).__name__}, not an "
                                "(x, y) pair; wrap the loader so it yields (inputs, targets)")
            yield batch[0], batch[1]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self._raw():
            if self.device is not None:
                x = x.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
            yield x, y

    def single(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The data as one batch on the device, if they are one (a pair of at most ``chunk``
        examples, or a re-iterable with one batch); else None."""
        if self.pair:
            return next(iter(self)) if len(self.data[1]) <= self.chunk else None
        if hasattr(self.data, "__len__") and len(self.data) == 1:
            return next(iter(self))
        return None

    def first(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` examples of a fresh pass (at most one batch of a loader)."""
        x, y = next(iter(self))
        return x[:n], y[:n]

    def count(self) -> int:
        """N, the number of examples in one pass (a pass over a loader's targets)."""
        return len(self.data[1]) if self.pair else sum(len(y) for _, y in self._raw())


def loss_sum(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             loss_fn: LossFn | None) -> tuple[torch.Tensor, torch.Tensor]:
    """n_b times the batch's mean loss, and the model's output."""
    out = model(x)
    fn = F.cross_entropy if loss_fn is None else loss_fn
    return fn(out, y) * len(y), out


def device_of(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


MEMORY = 2**30  # bytes of activations a chunk may hold on the CPU (see auto_chunk)
MAX_CHUNK = 4096
# Bytes of activations per chunk of a forward pass alone, on the CPU: chunks that fit the
# caches ran about 2x faster than 4,096 examples on C1 (benchmarks/README.md); on a GPU, large.
EVAL_MEMORY = 2**26


def auto_chunk(model: nn.Module, x: torch.Tensor, memory: int | None = None,
               passes: int = 4) -> int:
    """The largest power of two (at most ``MAX_CHUNK``) of examples whose activations, times
    ``passes`` (four for a Hessian-vector product's double backward), fit in ``memory`` bytes
    (default ``MEMORY`` on the CPU, a quarter of the free memory on a GPU). The activations are
    measured by one forward pass of two examples. Chapter 04's appendix."""
    dev = device_of(model)
    if memory is None:
        memory = MEMORY if dev.type != "cuda" else torch.cuda.mem_get_info(dev)[0] // 4
    sizes = []

    def hook(module, inputs, out):
        if isinstance(out, torch.Tensor):
            sizes.append(out.numel() * out.element_size())

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was = model.training
    try:
        with torch.no_grad():
            model.eval()
            model(x[:2].to(dev))
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    per_example = (sum(sizes) + x[:2].numel() * x.element_size()) / min(len(x), 2)
    fit = int(memory // (passes * per_example))
    return max(1, min(MAX_CHUNK, 1 << max(fit.bit_length() - 1, 0)))


def batches(data: Data, model: nn.Module, chunk: int | None = None) -> Batches:
    """``data`` as :class:`Batches` on ``model``'s device; ``chunk=None`` picks the chunk size
    of a pair by ``auto_chunk``."""
    if isinstance(data, Batches):
        return data
    if chunk is None:
        chunk = auto_chunk(model, data[0]) if is_pair(data) else MAX_CHUNK
    return Batches(data, chunk, device_of(model))


def _tally(out: torch.Tensor, yb: torch.Tensor, loss_fn: LossFn | None
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One batch's summed loss (float64) and its count of correct predictions (None unless the
    targets are class indices)."""
    out = out.float() if out.dtype in (torch.float16, torch.bfloat16) else out
    total = (F.cross_entropy if loss_fn is None else loss_fn)(out, yb).double() * len(yb)
    classes = out.dim() == 2 and yb.dim() == 1 and not yb.is_floating_point()
    return total, (out.argmax(1) == yb).sum() if classes else None


@torch.no_grad()
def score(out: torch.Tensor, y: torch.Tensor, loss_fn: LossFn | None = None
          ) -> tuple[float, float]:
    """Mean loss and accuracy of the outputs ``out`` for the targets ``y``: what
    :func:`evaluate` gives, to the last bit, for a model whose eval-mode output on one chunk of
    data is ``out``. Chapter 07."""
    total, correct = _tally(out, y, loss_fn)
    n = max(len(y), 1)
    return total.item() / n, correct.item() / n if correct is not None else float("nan")


_EVAL_CHUNKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def eval_chunk(model: nn.Module, x: torch.Tensor) -> int:
    """The chunk of a forward pass alone: on the CPU, the largest power of two of examples
    whose activations fit in ``EVAL_MEMORY`` (caches, not memory, are the limit there);
    ``MAX_CHUNK`` on a GPU. Measured once per model and input shape (a landscape evaluates
    one model hundreds of times)."""
    if device_of(model).type == "cuda":
        return MAX_CHUNK
    known = _EVAL_CHUNKS.setdefault(model, {})
    key = (tuple(x.shape[1:]), x.dtype)
    if key not in known:
        known[key] = auto_chunk(model, x, memory=EVAL_MEMORY, passes=1)
    return known[key]


@torch.no_grad()
def evaluate(model: nn.Module, data: Data, loss_fn: LossFn | None = None,
             chunk: int | None = None) -> tuple[float, float]:
    """Mean loss (nats for cross-entropy) and accuracy of ``model`` in eval mode over all of
    ``data``, batches weighted by size; the accuracy is NaN unless the targets are class
    indices. ``chunk``: examples per forward pass of a pair (default :func:`eval_chunk`). The
    model's train/eval mode is restored. Chapter 00."""
    was_training = model.training
    dev = device_of(model)
    if chunk is None:
        chunk = eval_chunk(model, data[0]) if is_pair(data) else MAX_CHUNK
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    n, classes = 0, True
    try:
        for xb, yb in Batches(data, chunk, dev):
            t, c = _tally(model(xb), yb, loss_fn)
            total += t
            classes &= c is not None
            if classes:
                correct += c
            n += len(yb)
    finally:
        model.train(was_training)
    n = max(n, 1)
    return total.item() / n, correct.item() / n if classes else float("nan")


@torch.no_grad()
def outputs(model: nn.Module, x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """``model``'s eval-mode outputs on every row of ``x``, chunk by chunk (default
    :func:`eval_chunk`) and without a graph: ``model.eval()(x)`` in a fraction of the time and
    memory (10,000 test images through the testbed on 2 cores: 2.0 s in one pass, about 0.3 s in
    chunks). The model's train/eval mode is restored. Chapter 07."""
    was_training = model.training
    chunk = chunk or eval_chunk(model, x)
    model.eval()
    try:
        return torch.cat([model(x[i:i + chunk]) for i in range(0, len(x), chunk)])
    finally:
        model.train(was_training)


def check(model: nn.Module, data: Data, loss_fn: LossFn | None = None, rtol: float = 1e-5,
          n_check: int = 256) -> None:
    """Raise unless two passes over ``data`` start with the same batch and two forward passes
    on its first ``n_check`` examples (eval mode) agree to ``rtol`` (relative): refuses a
    DataLoader that shuffles or augments, and a model with something random in forward even in
    eval mode. For an (x, y) pair of tensors only the model is checked: the same tensors are the
    same data on every pass. Chapter 04."""
    src = batches(data, model)
    (x1, y1) = src.first(n_check)
    (x2, y2) = (x1, y1) if src.pair else src.first(n_check)
    if x1.shape != x2.shape or not (torch.equal(x1, x2) and torch.equal(y1, y2)):
        raise RuntimeError(
            "the data differ between two passes: the first batch of the second pass is not the "
            "first batch of the first. A DataLoader with shuffle=True, or random augmentation "
            "in its dataset, makes the loss a random function whose curvature is not a number. "
            "Use shuffle=False and the test-time transform (no augmentation).")
    with torch.no_grad(), EvalMode(model):  # forward only: randomness in it shows in its output
        first, second = (_as_flat(*loss_sum(model, x1, y1, loss_fn)) for _ in range(2))
    diff = float((first - second).norm() / max(float(first.norm()), 1e-30))
    if diff > rtol:
        raise RuntimeError(
            "the loss is not deterministic: two forward passes at the same weights differ by "
            f"{diff:.2e} (relative), in eval mode. Something random runs in forward (a module "
            "that ignores eval(), noise injection); remove it before trusting curvature "
            "results.")


def _as_flat(loss: torch.Tensor, out) -> torch.Tensor:
    """The model's output as one flat vector if it is a tensor, else the loss."""
    return (out if isinstance(out, torch.Tensor) else loss).detach().reshape(-1).double()


def trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The (name, parameter) pairs that require gradients; an error if there are none."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("the model has no trainable parameters")
    return named


class EvalMode:
    """Inside, the model is in eval mode; on exit its mode is restored."""

    def __init__(self, model: nn.Module):
        self.model, self.was = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was)


def gradient(model: nn.Module, data: Data, chunk: int | None = None,
             loss_fn: LossFn | None = None) -> tuple[float, torch.Tensor]:
    """The mean loss (nats) and its gradient as one flat vector. Chapter 03."""
    params = [p for _, p in trainable(model)]
    total, n, grads = 0.0, 0, [torch.zeros_like(p) for p in params]
    with EvalMode(model):
        for xb, yb in batches(data, model, chunk):
            loss = loss_sum(model, xb, yb, loss_fn)[0]
            parts = torch.autograd.grad(loss, params, allow_unused=True)
            for acc, g in zip(grads, parts, strict=True):
                if g is not None:
                    acc += g
            total += float(loss.detach())
            n += len(yb)
    if n == 0:
        raise ValueError("the data are empty")
    return total / n, torch.cat([g.reshape(-1) for g in grads]) / n
