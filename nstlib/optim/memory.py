"""How much memory a style-transfer run needs, and the largest image that fits.

Pixel optimisation keeps, for every evaluation, what autograd saves for the backward pass. With
frozen weights (only the image needs a gradient) that is, per image of the batch:

* the image and its normalised copy (3 · H · W values each);
* every ReLU output up to the deepest requested layer (the next convolution and the max-pool
  reuse the same tensor, so each is stored once);
* every max-pool output and its argmax indices (int64, so twice a float map);
* for a requested ``conv*`` layer, its pre-activation output (it is read by the loss).

On top of that come the weights of the truncated network, a transient of about three times the
largest activation while the backward pass runs (gradient out, ReLU mask, gradient in), the
optimiser's state (L-BFGS keeps ``history_size`` pairs of image-sized vectors; Adam two moments),
and a few image-sized copies (the result, its gradient, the best image so far). The counts above
were read off with ``torch.autograd.graph.saved_tensors_hooks`` (tests/test_perf_paths.py checks
them) and the total is calibrated against measured peaks in BENCHMARKS.md.

    >>> est = estimate_memory(512)
    >>> est.total > estimate_memory(256).total
    True
    >>> largest_size(2 * 2**30) >= 512      # what fits in 2 GiB
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from nstlib.device import available_memory
from nstlib.errors import InputError
from nstlib.net.layers import VGG_BLOCKS, layer_index, layer_names

__all__ = ["MemoryEstimate", "estimate_memory", "available_memory", "largest_size", "layer_shapes"]

_GATYS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2")
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
# Allocator slack (fragmentation, oneDNN/cuDNN workspaces, the style image's forward pass while the
# targets are computed), fitted against measured peaks (BENCHMARKS.md) and rounded up.
_SAFETY = 1.25
_CUDA_CONTEXT = 512 * 2**20  # the CUDA context and cuBLAS/cuDNN handles, not counted by the allocator
# On the CPU a run's resident memory also grows by a size-independent amount: a second copy of the
# weights while the network is built, oneDNN's reordered weights and scratch, malloc arenas. Measured
# at 32 px (BENCHMARKS.md, 2026-11-30: 273 MiB in all, of which ~55 MiB the estimate already counts),
# rounded up.
_CPU_FIXED = 224 * 2**20


def layer_shapes(arch: str, last: str, height: int, width: int) -> list[tuple[str, int, int, int]]:
    """``(name, channels, H, W)`` of every layer of ``arch`` up to and including ``last``.

    >>> layer_shapes("vgg19", "pool1", 64, 64)[-1]
    ('pool1', 64, 32, 32)
    """
    stop = layer_index(arch, last)
    shapes: list[tuple[str, int, int, int]] = []
    widths = [w for block in VGG_BLOCKS[arch] for w in block]
    channels, h, w, conv = 3, height, width, 0
    for name in layer_names(arch)[: stop + 1]:
        if name.startswith("conv"):
            channels = widths[conv]
            conv += 1
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
        shapes.append((name, channels, h, w))
    return shapes


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs, by where they go. ``total`` includes the safety factor."""

    size: tuple[int, int]  # (H, W) of the optimised image
    batch: int
    weights: int  # the truncated network's parameters
    activations: int  # what autograd keeps from the forward pass for the backward pass
    backward: int  # the transient while gradients flow back (about 3x the largest map)
    optimizer: int  # L-BFGS history or Adam moments, plus image-sized working copies
    targets: int  # content feature maps and style Gram matrices
    overhead: int  # the CUDA context on GPUs; libraries and allocator on the CPU

    @property
    def total(self) -> int:
        work = self.weights + self.activations + self.backward + self.optimizer + self.targets
        return int(work * _SAFETY) + self.overhead

    def __str__(self) -> str:
        parts = ", ".join(
            f"{k} {_fmt(getattr(self, k))}"
            for k in ("weights", "activations", "backward", "optimizer", "targets", "overhead")
        )
        h, w = self.size
        return f"about {_fmt(self.total)} for {self.batch} x {h}x{w} px ({parts}; x{_SAFETY} slack)"


def _fmt(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        if size < 1:
            raise InputError(f"size must be a positive number of pixels, got {size}.")
        return size, size  # a long side alone: assume the worst case, a square image
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size):
        return int(size[0]), int(size[1])
    raise InputError(f"size must be an int (long side) or a pair (H, W) of positive ints, got {size!r}.")


def estimate_memory(
    size: int | tuple[int, int],
    *,
    arch: str = "vgg19",
    layers: Iterable[str] = _GATYS_LAYERS,
    batch: int = 1,
    optimizer: str = "lbfgs",
    history_size: int = 100,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
) -> MemoryEstimate:
    """Estimate the peak memory of ``stylize`` on an image of ``size`` (long side, or (H, W)).

    ``precision`` ``"bf16"``/``"fp16"`` halves the activations (autocast) and adds a half-precision
    copy of the weights; Gram matrices and the optimiser stay in float32. On ``"cuda"`` the
    estimate adds the CUDA context, on the CPU a measured fixed amount (libraries, allocator).
    The estimate grows monotonically with size, batch and depth.
    """
    if precision not in _BYTES:
        raise InputError(f"precision must be one of {', '.join(_BYTES)}, got {precision!r}.")
    if batch < 1:
        raise InputError(f"batch must be >= 1, got {batch}.")
    h, w = _hw(size)
    names = tuple(layers)
    if not names:
        raise InputError("estimate_memory needs at least one layer name.")
    deepest = max(names, key=lambda n: layer_index(arch, n))
    shapes = layer_shapes(arch, deepest, h, w)
    act = _BYTES[precision]
    per_image = 2 * 3 * h * w * 4  # the image and its normalised copy (float32 before autocast)
    largest = 3 * h * w
    for name, c, lh, lw in shapes:
        n = c * lh * lw
        largest = max(largest, n)
        if name.startswith("relu"):
            per_image += n * act
        elif name.startswith("pool"):
            per_image += n * act + n * 8  # output and int64 argmax indices
        elif name in names:
            per_image += n * act  # a requested pre-activation map is kept by the loss
    params = 0
    in_channels = 3
    for name, c, _, _ in shapes:
        if name.startswith("conv"):
            params += c * in_channels * 9 + c
            in_channels = c
    weights = params * 4 + (params * 2 if precision != "fp32" else 0)
    numel = 3 * h * w * batch
    if optimizer == "lbfgs":
        opt = (2 * history_size + 6) * numel * 4
    elif optimizer == "adam":
        opt = 6 * numel * 4
    else:
        raise InputError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}.")
    shape_of = {name: (c, lh, lw) for name, c, lh, lw in shapes}
    targets = 0
    for name in names:
        c, lh, lw = shape_of[name]
        targets += max(c * lh * lw, c * c) * 4  # a content map or a Gram matrix; both at most this
    overhead = {"cuda": _CUDA_CONTEXT, "cpu": _CPU_FIXED}.get(torch.device(device).type, 0)
    return MemoryEstimate(
        size=(h, w),
        batch=batch,
        weights=weights,
        activations=per_image * batch,
        backward=3 * largest * act * batch,
        optimizer=opt,
        targets=targets,
        overhead=overhead,
    )


def largest_size(
    budget: int | None = None,
    *,
    device: torch.device | str = "cpu",
    aspect: float = 1.0,
    multiple: int = 16,
    **estimate: object,
) -> int:
    """The largest long side (a multiple of ``multiple``) whose :func:`estimate_memory` fits ``budget``
    bytes (default: :func:`available_memory` of ``device``). ``aspect`` is short side / long side
    (1 for a square, the worst case). Returns 0 if not even ``multiple`` px fits.

    >>> largest_size(2**40) > largest_size(2**30) > largest_size(2**28)
    True
    """
    if budget is None:
        budget = available_memory(device)
        if budget is None:
            raise InputError("Cannot tell how much memory is free here; pass budget= in bytes.")
    if not 0 < aspect <= 1:
        raise InputError(f"aspect is short side / long side, in (0, 1]; got {aspect}.")

    def fits(long_side: int) -> bool:
        short = max(1, round(long_side * aspect))
        return estimate_memory((short, long_side), device=device, **estimate).total <= budget  # type: ignore[arg-type]

    lo, hi = 0, multiple
    while fits(hi) and hi < 2**16:
        lo, hi = hi, hi * 2
    while hi - lo > multiple:  # lo fits (or is 0), hi does not
        mid = (lo + hi) // 2 // multiple * multiple
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo
