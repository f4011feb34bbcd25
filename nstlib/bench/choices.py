"""Choices behind stylize's speed, each timed against its alternative in the same run.

* :func:`batch_gain` — variants optimised as one Adam batch against one call each;
* :func:`layout_and_gram` — the channels_last layout against torch's default NCHW, and the one-matmul Gram
  backward of :func:`nstlib.loss.functional.gram_matrix` against autograd's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from nstlib.algorithms.transfer import stylize
from nstlib.bench.baseline import bench_images, per_eval_seconds
from nstlib.loss.functional import gram_matrix

__all__ = ["batch_gain", "layout_and_gram"]


def batch_gain(content: torch.Tensor, style: torch.Tensor, steps: int) -> dict[str, Any]:
    """An α/β grid of five variants with Adam: one batched call against five separate calls."""
    style_weights = (1e3, 3e3, 1e4, 3e4, 1e5)
    variants = [{"style_weight": w} for w in style_weights]
    t = time.perf_counter()
    batched = stylize(
        content, style, steps=steps, optimizer="adam", variants=variants, progress=False, weights="random", device="cpu"
    )
    t_batched = time.perf_counter() - t
    t = time.perf_counter()
    singles = [
        stylize(
            content,
            style,
            steps=steps,
            optimizer="adam",
            progress=False,
            weights="random",
            device="cpu",
            style_weight=w,
        )
        for w in style_weights
    ]
    t_single = time.perf_counter() - t
    # Same trajectories up to float rounding (batched convolutions sum in another order, and Adam's
    # first steps are ~lr·sign(g), so pixels with g ≈ 0 can differ by up to 2·lr): compare losses.
    rel = max(
        abs(a.history["total"][-1] - b.history["total"][-1]) / abs(b.history["total"][-1])
        for a, b in zip(batched.split(), singles)
    )
    return {"batched_s": t_batched, "sequential_s": t_single, "gain": t_single / t_batched, "loss_rel_diff": rel}


def layout_and_gram(size: int, steps: int, repeats: int) -> dict[str, Any]:
    """Two choices behind stylize's speed, each against its alternative in this run: the channels_last
    layout (against torch's default NCHW) per evaluation, and the one-matmul Gram backward (against
    autograd's two-matmul backward of ``bmm(F, Fᵀ)``) on relu1_1's maps at ``size`` px."""
    content, style = bench_images(size)
    nchw = min(per_eval_seconds(content, style, steps, channels_last=False) for _ in range(repeats))
    nhwc = min(per_eval_seconds(content, style, steps, channels_last=True) for _ in range(repeats))
    feats = torch.rand(1, 64, size, size).contiguous(memory_format=torch.channels_last)

    def gram_seconds(fn: Callable[[torch.Tensor], torch.Tensor]) -> float:
        best = float("inf")
        for _ in range(repeats + 3):
            x = feats.detach().requires_grad_(True)
            t = time.perf_counter()
            fn(x).square().sum().backward()
            best = min(best, time.perf_counter() - t)
        return best

    ours = gram_seconds(gram_matrix)
    plain = gram_seconds(lambda x: torch.bmm(x.reshape(1, 64, -1), x.reshape(1, 64, -1).transpose(1, 2)))
    return {
        "per_eval_nchw_s": nchw,
        "per_eval_channels_last_s": nhwc,
        "channels_last_gain": nchw / nhwc,
        "gram_ours_s": ours,
        "gram_autograd_s": plain,
        "gram_gain": plain / ours,
    }
