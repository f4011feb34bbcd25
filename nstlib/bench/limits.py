"""This machine's limit for nstlib's work: the convolution FLOPs of one evaluation and the best rates measured.

A per-evaluation time means little alone; against the time the machine needs at its best rate for the same
arithmetic it becomes a ratio that travels between machines (``limit_ratio`` in :mod:`nstlib.bench.run`):

* :func:`vgg_flops` — the work: VGG's 3x3 convolutions up to relu5_1, forward and input-gradient backward;
* :func:`conv_rate` — the limit: the best 3x3 convolution rate seen in this run, per precision (oneDNN,
  channels_last, as stylize runs);
* :func:`sgemm_rate` — a reference line only: the best float32 matrix-multiply rate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from nstlib.optim.memory import layer_shapes

__all__ = ["vgg_flops", "sgemm_rate", "conv_rate", "CONV_SHAPES"]


def vgg_flops(size: tuple[int, int], arch: str = "vgg19", last: str = "relu5_1", backward: bool = True) -> float:
    """Multiply-adds x 2 of every 3x3 convolution up to ``last``: Σ 2·9·C_in·C_out·H·W.

    The input-gradient backward of a convolution costs the same as its forward, so ``backward=True``
    doubles it (frozen weights: no weight gradients). VGG19 at 256² to relu5_1: 47.3 GFLOP forward.
    """
    total, c_in = 0.0, 3
    for name, c, h, w in layer_shapes(arch, last, *size):
        if name.startswith("conv"):
            total += 2 * 9 * c_in * c * h * w
            c_in = c
    return total * (2 if backward else 1)


def sgemm_rate(sizes: Sequence[int] = (1024, 2048), repeats: int = 5) -> float:
    """The best float32 matrix-multiply rate seen (FLOP/s) on the CPU with torch's threads."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        for _ in range(repeats):
            t = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


# Large 3x3 convolutions (channels, side) at which the rate is measured: VGG's own widths at sizes that
# keep every core busy. The best of them is the machine's convolution limit for that precision.
CONV_SHAPES = ((64, 128), (128, 128), (256, 64), (512, 32))


def conv_rate(
    dtype: torch.dtype = torch.float32, shapes: Sequence[tuple[int, int]] = CONV_SHAPES, repeats: int = 5
) -> float:
    """The best 3x3 convolution rate seen (FLOP/s): C→C channels, batch 1, padding 1, channels_last, forward.

    oneDNN runs these at close to the cores' multiply-add peak (BENCHMARKS.md); in bf16 on CPUs with
    avx512_bf16 or AMX at about twice the fp32 rate, elsewhere emulated (slower than fp32).
    """
    best = 0.0
    for c, side in shapes:
        x = torch.randn(1, c, side, side).to(dtype).contiguous(memory_format=torch.channels_last)
        w = torch.randn(c, c, 3, 3).to(dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            F.conv2d(x, w, padding=1)
            for _ in range(repeats):
                t = time.perf_counter()
                F.conv2d(x, w, padding=1)
                best = max(best, 2 * 9 * c * c * side * side / (time.perf_counter() - t))
    return best
