"""Checkers for lesson 07 (DeepDream).

Oracles: the seed's loss written out (seed 004: each chosen layer's activations averaged, the
layers added), Google's normalised ascent step x ← clip(x + η g / mean|g|), the octave sizes
round(H / s^k), and the detail carried from one octave to the next. Wrong answers are compared
with the usual mistakes (sums instead of means, a descent step, the wrong order of octaves, the
whole image carried instead of its detail …) so the feedback can say which one was made.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nstlib.check._core import CheckResult, call_safely, close, failed, passed

__all__ = ["dream_objective", "dream_step", "octave_pyramid", "carry_detail"]


# --- exercise 1: the loss ---------------------------------------------------------------------------


def _objective_cases() -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(7)
    return [
        {"small": torch.rand(1, 4, 8, 8, generator=gen) * 3, "large": torch.rand(1, 32, 2, 2, generator=gen)},
        {"a": torch.rand(1, 2, 5, 3, generator=gen), "b": torch.rand(1, 6, 4, 4, generator=gen) * 2,
         "c": torch.randn(1, 3, 2, 7, generator=gen).relu()},
    ]


def dream_objective(fn: Callable[[dict[str, torch.Tensor]], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(features)`` for ``{layer: (1, C, H, W)}`` returns L = Σ_l mean(A_l), one number."""
    for feats in _objective_cases():
        want = sum(a.mean() for a in feats.values())
        got, error = call_safely(fn, {k: v.clone() for k, v in feats.items()})
        if error is not None:
            return error
        where = f"For layers of shapes {[tuple(a.shape) for a in feats.values()]},"
        if not isinstance(got, torch.Tensor):
            return failed(f"{where} your function returned {type(got).__name__}, not a tensor.",
                          hint="return a tensor so that .backward() can compute the gradient for the pixels.")
        if got.numel() != 1:
            return failed(f"{where} you returned a tensor of shape {tuple(got.shape)}; the loss is one number.",
                          hint="average each layer over all its values (.mean()), then add the layers.")
        value = got.detach().float().reshape(())
        everything = torch.cat([a.flatten() for a in feats.values()])
        mistakes = [
            (sum(a.sum() for a in feats.values()), "you added the raw sums: a layer with more values (more "
             "channels or positions) then outweighs the others. Seed 004 normalises each layer's contribution"),
            (everything.mean(), "you took one mean over all layers' values pooled together, so the layer with "
             "more values still weighs more. Average each layer separately, then add"),
            (want / len(feats), "you averaged the layers instead of adding them: your loss is 1/L of the seed's "
             "(after gradient normalisation the direction is the same, but the loss asked for is the sum)"),
            (sum(a.square().mean() for a in feats.values()), "you averaged the squared activations: that is the "
             "L2 objective of Google's notebook, a fine variant, but this lesson uses the mean activation"),
        ]
        mistakes += [(a.mean(), f"you used only the layer {name!r}") for name, a in feats.items()]
        if torch.allclose(value, want, rtol=1e-4, atol=1e-6):
            continue
        for wrong, message in mistakes:
            if torch.allclose(value, wrong.float(), rtol=1e-4, atol=1e-6):
                return failed(f"{where} {message}.", hint="L = sum over layers of A_l.mean().")
        return failed(f"{where} you gave {float(value):.6g}, expected {float(want):.6g}.",
                      hint="L = sum over layers of A_l.mean(): the mean over channels and positions of each layer.")
    return passed("L = Σ_l mean(A_l): each layer averaged on its own, so large and small layers count alike, "
                  "then added, as seed 004 describes.")


# --- exercise 2: one step of normalised gradient ascent ----------------------------------------------


def _step_oracle(image: torch.Tensor, grad: torch.Tensor, step: float) -> torch.Tensor:
    scale = grad.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8
    return (image + step * grad / scale).clamp(0.0, 1.0)


def dream_step(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(image, grad, step_size)`` returns clip_[0,1](x + η · g / mean|g|), mean per image."""
    gen = torch.Generator().manual_seed(11)
    cases = [(torch.rand(1, 3, 6, 5, generator=gen), torch.randn(1, 3, 6, 5, generator=gen) * 1e-3, 0.05),
             (torch.rand(1, 3, 4, 4, generator=gen), torch.randn(1, 3, 4, 4, generator=gen) * 50, 0.3),
             (torch.rand(2, 3, 4, 6, generator=gen), torch.randn(2, 3, 4, 6, generator=gen)
              * torch.tensor([1.0, 100.0]).view(2, 1, 1, 1), 0.1)]
    for image, grad, step in cases:
        want = _step_oracle(image, grad, step)
        got, error = call_safely(fn, image.clone(), grad.clone(), step)
        if error is not None:
            return error
        mismatch = close(got, want, f"the new image (step_size={step}, image of shape {tuple(image.shape)})",
                         rtol=1e-4, atol=1e-5)
        if mismatch is None:
            continue
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            g = got.detach().float()
            batch_mean = grad.abs().mean() + 1e-8
            mistakes = [
                (_step_oracle(image, -grad, step), "you stepped downhill (x − η g): that minimises the activations. "
                 "DeepDream climbs: x + η g"),
                ((image + step * grad).clamp(0, 1), "the gradient was not normalised: its size depends on the layer "
                 "and the image, so a fixed step_size would be far too small or far too large"),
                (image + step * grad / (grad.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8),
                 "the result was not clipped to [0, 1]: pixels left the valid range"),
                ((image + step * grad / (grad.std(dim=(1, 2, 3), keepdim=True) + 1e-8)).clamp(0, 1),
                 "you divided by the standard deviation (the TensorFlow tutorial's choice); this lesson follows "
                 "Google's notebook and divides by the mean absolute value mean|g|"),
                ((image + step * grad / grad.abs().amax(dim=(1, 2, 3), keepdim=True)).clamp(0, 1),
                 "you divided by the largest |g|; divide by the mean absolute value mean|g|"),
                ((image + step * grad / batch_mean).clamp(0, 1),
                 "you took mean|g| over the whole batch; each image gets its own mean|g| (mean over dims 1, 2, 3)"),
            ]
            for wrong, message in mistakes:
                if torch.allclose(g, wrong, rtol=1e-4, atol=1e-5) and not torch.allclose(wrong, want, atol=1e-5):
                    return failed(message[0].upper() + message[1:] + ".",
                                  hint="x_new = (x + step_size * g / g.abs().mean()).clamp(0, 1).")
        return mismatch
    return passed("x ← clip(x + η g / mean|g|): every step moves the pixels by η on average, whatever the "
                  "layer, and the image stays in [0, 1].")


# --- exercise 3: the octave sizes ----------------------------------------------------------------------


def _sizes(size: tuple[int, int], octaves: int, scale: float, rnd=round) -> list[tuple[int, int]]:
    return [(max(1, rnd(size[0] / scale**k)), max(1, rnd(size[1] / scale**k))) for k in range(octaves - 1, -1, -1)]


def octave_pyramid(fn: Callable[[tuple[int, int], int, float], list]) -> CheckResult:
    """Exercise: ``fn((H, W), octaves, octave_scale)`` lists (round(H/s^k), round(W/s^k)), smallest first."""
    for size, octaves, scale in [((85, 128), 3, 1.4), ((300, 200), 4, 1.3), ((64, 64), 1, 1.4), ((99, 150), 5, 1.5)]:
        want = _sizes(size, octaves, scale)
        got, error = call_safely(fn, size, octaves, scale)
        if error is not None:
            return error
        where = f"For size={size}, octaves={octaves}, octave_scale={scale},"
        try:
            got = [tuple(int(v) for v in pair) for pair in got]
        except (TypeError, ValueError):
            return failed(f"{where} your function returned {got!r}; expected a list of (H, W) pairs.",
                          hint="return e.g. [(43, 65), (61, 91), (85, 128)].")
        if got == want:
            continue
        if got == want[::-1]:
            return failed(f"{where} your list goes from large to small. DeepDream starts at the smallest octave "
                          "and works up to the full size, so list the smallest first.", hint="reverse the list.")
        if got == _sizes(size, octaves, scale, int) or got == _sizes(size, octaves, scale, int)[::-1]:
            return failed(f"{where} you truncated with int(); round to the nearest pixel instead.",
                          hint=f"round({size[0]} / {scale}**k), not int(…).")
        if len(got) != len(want):
            return failed(f"{where} you gave {len(got)} sizes; there should be {octaves}, one per octave, the "
                          "last one the full size.",
                          hint="k runs over octaves−1, …, 1, 0 (k = 0 is the full size).")
        return failed(f"{where} you gave {got}, expected {want}.",
                      hint="octave k is the image shrunk by octave_scale**k; the full size (k = 0) comes last.")
    return passed("Octave k has size round(H / s^k) × round(W / s^k), and the pyramid is walked from the "
                  "smallest octave up to the full image.")


# --- exercise 4: carrying the detail ------------------------------------------------------------------


def carry_detail(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(dreamed, base, next_base)`` starts the next octave at next_base + upsampled (dreamed − base)."""
    gen = torch.Generator().manual_seed(3)
    for small, big in [((1, 3, 10, 14), (1, 3, 14, 20)), ((1, 3, 7, 7), (1, 3, 10, 10))]:
        base, next_base = torch.rand(small, generator=gen), torch.rand(big, generator=gen)
        dreamed = (base + 0.3 * torch.randn(small, generator=gen)).clamp(0, 1)
        up = lambda t: F.interpolate(t, size=big[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        want = (next_base + up(dreamed - base)).clamp(0, 1)
        got, error = call_safely(fn, dreamed.clone(), base.clone(), next_base.clone())
        if error is not None:
            return error
        mismatch = close(got, want, f"the start of the next octave ({small[-2:]} → {big[-2:]})", rtol=1e-4, atol=1e-5)
        if mismatch is None:
            continue
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            g = got.detach().float()
            resized = F.interpolate(dreamed - base, size=big[-2:], mode="bicubic", align_corners=False,
                                    antialias=True).clamp(0, 1)
            mistakes = [
                (up(dreamed), "you upsampled the whole dreamed image: its blurry enlargement replaces the sharp "
                 "next_base. Carry only the detail the dream added, dreamed − base"),
                (up(dreamed - base), "you returned the upsampled detail alone; add it to next_base"),
                (next_base + up(dreamed - base), "the result was not clipped to [0, 1]"),
                ((next_base + resized).clamp(0, 1), "the detail was clamped to [0, 1] when resized (nst.resize_image "
                 "does that), which throws away its negative half. Use F.interpolate(…, mode='bilinear')"),
                ((next_base + F.interpolate(dreamed - base, size=big[-2:], mode="nearest")).clamp(0, 1),
                 "you upsampled with nearest neighbours; use bilinear interpolation (align_corners=False)"),
                ((next_base + up(base - dreamed)).clamp(0, 1), "the detail has the wrong sign: it is dreamed − base"),
            ]
            for wrong, message in mistakes:
                if torch.allclose(g, wrong, rtol=1e-4, atol=1e-5):
                    return failed(message[0].upper() + message[1:] + ".",
                                  hint="(next_base + F.interpolate(dreamed - base, size=next_base.shape[-2:], "
                                  "mode='bilinear', align_corners=False)).clamp(0, 1).")
        return mismatch
    return passed("The next octave starts at next_base + upsample(dreamed − base): the patterns dreamed at the "
                  "small scale grow with the image, while the photo's own detail stays sharp.")
