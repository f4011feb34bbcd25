"""Checkers for lesson 10 (feed-forward transfer): instance normalisation and the sizes through the network.

Oracles: ``torch.nn.functional.instance_norm`` and real ``Conv2d`` layers.
Each checker also recognises the usual wrong answers and says which one it saw.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nstlib.check._core import CheckResult, call_safely, close, failed, passed, generator, same

__all__ = ["instance_norm_by_hand", "transfer_net_sizes"]


def instance_norm_by_hand(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(x, eps)`` normalises each channel of each image on its own: (x − mean) / √(var + eps),
    mean and (biased) variance over H and W only (Ulyanov et al. 2016)."""
    x = torch.randn(3, 4, 5, 6, generator=generator(5)) * torch.arange(1, 5).view(1, 4, 1, 1) + 2.0
    eps = 1e-5
    want = F.instance_norm(x, eps=eps)
    got, error = call_safely(fn, x.clone(), eps)
    if error is not None:
        return error
    if same(got, want, atol=1e-4):
        return passed("every (image, channel) map now has mean 0 and variance 1, as F.instance_norm does.")
    if same(got, F.batch_norm(x, None, None, training=True, eps=eps), atol=1e-4):
        return failed("that is batch normalisation: you took the statistics over the whole batch too. Instance norm "
                      "uses each image's own statistics, so a picture is stylised the same whatever else is in the batch.",
                      hint="reduce over dims (2, 3) only, with keepdim=True.")
    if same(got, F.layer_norm(x, x.shape[1:], eps=eps), atol=1e-4):
        return failed("that is layer normalisation (statistics over channels and positions). Instance norm keeps the "
                      "channels apart.", hint="reduce over dims (2, 3) only.")
    unbiased = (x - x.mean((2, 3), keepdim=True)) / (x.var((2, 3), keepdim=True, unbiased=True) + eps).sqrt()
    if same(got, unbiased, atol=1e-4):
        return failed("you used the unbiased variance (divided by H·W − 1); normalisation layers divide by H·W.",
                      hint="x.var(dim=(2, 3), keepdim=True, unbiased=False).")
    return close(got, want, "the normalised tensor", rtol=1e-3, atol=1e-4) or failed("the result differs.")


def transfer_net_sizes(fn: Callable[[int], list[int]]) -> CheckResult:
    """Exercise: ``fn(H)`` returns the heights after the first three layers of the transfer network:
    [9×9 stride 1 (pad 4), 3×3 stride 2 (pad 1), 3×3 stride 2 (pad 1)]; the decoder must go back to these."""
    def real(h: int) -> list[int]:
        out, x = [], torch.zeros(1, 1, h, 3)
        for k, s in ((9, 1), (3, 2), (3, 2)):
            x = F.conv2d(x, torch.zeros(1, 1, k, k), stride=s, padding=k // 2)
            out.append(int(x.shape[-2]))
        return out

    for h in (64, 43, 37, 8, 9, 255, 256):
        got, error = call_safely(fn, h)
        if error is not None:
            return error
        want = real(h)
        try:
            got_list = [int(v) for v in got]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return failed(f"return a list of three ints; got {type(got).__name__}.")
        if got_list != want:
            if got_list == [h, h // 2, h // 4]:
                return failed(f"for H = {h} you halved by rounding down ({got_list}); a stride-2 3×3 convolution with "
                              f"padding 1 gives ⌊(H − 1)/2⌋ + 1 = ⌈H/2⌉, so a real network gives {want}.",
                              hint="use lesson 1's (W − F + 2P) // S + 1.")
            return failed(f"for H = {h} you gave {got_list}, a real Conv2d gives {want}.",
                          hint="(W − F + 2P) // S + 1 for each layer in turn.")
    return passed("your sizes match real convolutions, odd heights included: that is why the decoder "
                  "upsamples to these exact sizes instead of simply doubling.")
