"""Model answers for lesson 07 (DeepDream). For instructors; ``nst.check.<name>.solution()`` shows each one.

Each top-level object is what ``nst.check.<name>`` expects; tests/test_exercises.py and tests/test_check_dream.py
feed them to the checkers.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch


# Exercise 1. Climb the gradient of the rolled image, normalised by its mean |g| (nst.deepdream's NormalizedStep, per
# image), roll back, clamp: the update, the roll and the clamp under no_grad, so the result leaves the graph.
def dream_step(x: torch.Tensor, loss_fn, step_size: float, shift: tuple[int, int]) -> torch.Tensor:
    """One DeepDream step: x ← clip(roll(roll(x, shift) + η g / (mean|g| + 1e-8), −shift), 0, 1)."""
    dy, dx = shift
    rolled = torch.roll(x.detach(), (dy, dx), dims=(2, 3)).requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(rolled), rolled)
    with torch.no_grad():
        g = g / (g.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8)
        return torch.roll(rolled + step_size * g, (-dy, -dx), dims=(2, 3)).clamp(0, 1)


# Exercise 2. Index the channel dimension (dim 1), average over the positions, keep one value per image (B,).
def channel_objective(activation: torch.Tensor, channel: int) -> torch.Tensor:
    """L_c = mean_{i,j} A[:, c, i, j] for a (B, C, H, W) activation: one value per image."""
    return activation[:, channel].mean(dim=(1, 2))


# Exercise 3. The network sees the rolled image; its gradient is rolled back so each value lands on its own pixel.
# (Differentiating with respect to the unrolled image would let autograd undo the roll; nstlib rolls by hand because
# it cuts its tiles from the rolled image.)
def jittered_gradient(loss_fn, image: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """∂/∂x loss_fn(roll(x, shift)) = roll(∇loss_fn(roll(x, shift)), −shift), rolls over (H, W)."""
    rolled = torch.roll(image, shift, dims=(2, 3)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(rolled), rolled)
    return torch.roll(grad, (-shift[0], -shift[1]), dims=(2, 3))


# Exercise 4. The short side runs out first; octave sizes are rounded (nst.octave_sizes), so count in a loop instead
# of trusting floor(log(...)), which ignores the rounding.
def max_octaves(size: tuple[int, int], octave_scale: float, min_side: int) -> int:
    """The largest n with round(min(H, W) / s^(n−1)) >= min_side; 0 when the full image is already too small."""
    n = 0
    while round(min(size) / octave_scale ** n) >= min_side:
        n += 1
    return n


# Exercise 5. Dividing by ‖g‖₂ fixes the length of the whole step: ‖Δx‖₂ = η. The 3·H·W values share it, so each
# moves by η / √(3HW) (RMS). Explanation: doubling the side halves the per-pixel step, so with this normalisation a
# poster needs a larger step_size (2× per doubling of the side) and the octaves of a pyramid dream at different
# speeds (the small ones fastest). With g / mean|g| every value moves by η on average at any size and for any layer,
# which is why Google's notebook (and nst.deepdream) divide by mean|g|; the TensorFlow tutorial's g / std(g) behaves
# like mean|g| (RMS ≈ η when g averages to about 0).
def l2_step_rms(height: int, width: int, step_size: float) -> float:
    """RMS change of the values of a (1, 3, H, W) image after x + η g / ‖g‖₂, before clipping: η / √(3HW)."""
    return step_size / math.sqrt(3 * height * width)


# Exercise 6. The design: the normalised step divides the TOTAL gradient by its size, so each layer's share of the
# step is its share of ∂L/∂x, not its share of L. So measure, for each layer alone, the pull mean|∂ mean(A_l)/∂x| on
# this image and weight the layer by its inverse (only ratios matter; here the weights are scaled to average 1).
# Then the experiment (in the lesson, on its network; about 2 dreams of the lesson's size), on the pair of layers of
# KDAG IIT Kharagpur's blog post *How art is generated from Algorithms?*:
#
#     pair = LAYERS["blog"]
#     pair_net = dream_network(MODEL, [KERAS_MIXED.get(n, n) for n in pair], weights=setup.weights, device=setup.device)
#     w = balanced_weights(pair_net, image, [KERAS_MIXED.get(n, n) for n in pair])
#     balanced = nst.deepdream(image, MODEL, layers=w, octaves=OCTAVES, steps_per_octave=setup.steps,
#                              weights=setup.weights, device=setup.device, progress=False)
#     nst.show_images([both.image, balanced.image], ["equal weights (the blog post's)", f"balanced {w}"])
#     nst.plot_losses(balanced.history, keys=[f"dream:{n}" for n in w], log=False)
#
# What it shows (HED's VGG-16, quick mode): on the cat relu3_2 pulls about 1.7× harder than relu4_2, so the balanced
# weights are about 0.75 : 1.25. Balanced, relu4_2's mean activation grows a little more (3.6× → 3.7× the photo's) and
# relu3_2's a little less (2.8× → 2.7×), and the two pictures are hard to tell apart. The blog post's means already
# keep the pair within a factor of 2, and a factor of 1.7 in the weights moves each layer's gain by a few per cent.
# (The pulls were measured on the photo; they drift as the dream goes, which the per-layer curves show.) Weights
# matter when the pulls differ by orders of magnitude, as raw sums make them (section 4: × C·H·W). So equal loss terms
# are not equal pulls, but on this network the blog post's plain sum is good enough.
def balanced_weights(net: torch.nn.Module, image: torch.Tensor, layers: Sequence[str]) -> dict[str, float]:
    """{layer: w_l} with w_l · mean|∂ mean(A_l)/∂x| the same for every layer, on this image (weights average 1)."""
    x = image.detach().clone().requires_grad_(True)
    features = net(x)
    pull = {name: float(torch.autograd.grad(features[name].mean(), x, retain_graph=True)[0].abs().mean())
            for name in layers}
    inverse = {name: 1.0 / p for name, p in pull.items()}
    scale = len(inverse) / sum(inverse.values())
    return {name: w * scale for name, w in inverse.items()}
