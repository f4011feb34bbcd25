"""The GPU suite (``python -m nstlib.bench --device cuda``): the paper's size and steps, precisions, layouts,
torch.compile, and peak memory against :func:`nstlib.optim.memory.estimate_memory`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypedDict

import torch

from nstlib.algorithms.transfer import stylize
from nstlib.bench.baseline import OBJECTIVE, per_eval_seconds
from nstlib.optim.memory import estimate_memory

__all__ = ["gpu_suite"]


class _Variant(TypedDict, total=False):
    """The options of stylize one timed variant sets; the others keep their defaults."""

    channels_last: bool
    precision: str
    compile: bool


def gpu_suite(sizes: Sequence[int], steps: int, device: str = "cuda") -> dict[str, Any]:
    """512 px x ``steps`` wall time; precision, channels_last, compile; peak memory against size."""
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"}
    big = max(sizes)
    c, s = torch.rand(1, 3, big, big, device=dev), torch.rand(1, 3, big, big, device=dev)
    variants: dict[str, _Variant] = {
        "fp32": {},
        "fp32 nchw": {"channels_last": False},
        "bf16": {"precision": "bf16"},
        "fp16": {"precision": "fp16"},
        "fp32 compile": {"compile": True},
    }
    for name, options in variants.items():
        try:
            sync()
            out[f"per_eval {name}"] = per_eval_seconds(c, s, steps=min(steps, 20), **options)
        except Exception as exc:  # report and go on: e.g. torch.compile without a compiler
            out[f"per_eval {name}"] = f"failed: {str(exc).splitlines()[0][:100]}"
    sync()
    t = time.perf_counter()
    stylize(c, s, steps=steps, progress=False, weights="random", device=dev, **OBJECTIVE)
    sync()
    out[f"{big}px x {steps} steps (s)"] = time.perf_counter() - t
    if dev.type == "cuda":
        for size in sizes:
            x = torch.rand(1, 3, size, size, device=dev)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
            base = torch.cuda.memory_allocated(dev)
            stylize(x, x, steps=3, progress=False, weights="random", device=dev, **OBJECTIVE)
            peak = torch.cuda.max_memory_allocated(dev) - base
            guess = estimate_memory(size, device=dev)
            est = guess.total - guess.overhead  # the allocator does not see the CUDA context
            out[f"memory {size}px"] = {"peak_MiB": peak / 2**20, "estimate_MiB": est / 2**20, "ratio": est / peak}
    return out
