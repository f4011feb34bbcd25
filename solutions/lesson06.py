"""Model answers for lesson 06 (layer ablations). For instructors.

Each top-level name is what ``nst.check.<name>`` expects; ``nst.check.<name>.solution()`` shows it with the
comments just above it. tests/test_check_ablation.py and tests/test_exercises.py feed them to the checkers.
"""
from __future__ import annotations

import torch

import nstlib as nst


# Exercise 1. A unit of `layer` sees `field` pixels of the style image, whose long side is style_scale · side;
# coverage = field / (style_scale · side) = fraction  ⇒  style_scale = field / (fraction · side).
def style_scale_for(layer: str, fraction: float, side: int, arch: str) -> float:
    return nst.receptive_field(arch, layer)[0] / (fraction * side)


# Exercise 2. w_l ∝ 1/L_l makes every w_l · L_l the same; dividing by Σ 1/L_k makes the weights add up to 1.
def balanced_layer_weights(initial_losses: dict[str, float]) -> dict[str, float]:
    inverse = {layer: 1.0 / loss for layer, loss in initial_losses.items()}
    total = sum(inverse.values())
    return {layer: value / total for layer, value in inverse.items()}


# Exercise 3. One pass of one network over every ReLU layer; E at each layer for the image and for the reference
# (both against the style), then their ratio. Gram matrices divided by N·M ("chw"), so images of any size compare.
def style_profile(image: torch.Tensor, style: torch.Tensor, reference: torch.Tensor, arch: str,
                  weights: str) -> dict[str, float]:
    relus = [name for name in nst.layer_names(arch) if name.startswith("relu")]
    vgg = nst.VGGFeatures(arch, layers=relus, weights=weights, device=image.device)
    with torch.no_grad():
        fi, fs, fr = vgg(image), vgg(style.to(image.device)), vgg(reference.to(image.device))
    profile = {}
    for l in relus:
        target = nst.gram_matrix(fs[l], normalize="chw")
        mine = nst.style_loss(nst.gram_matrix(fi[l], normalize="chw"), target)
        ref = nst.style_loss(nst.gram_matrix(fr[l], normalize="chw"), target)
        profile[l] = (mine / ref).item()
    return profile


# Exercise 4. The style row of Gatys et al.'s Figure 1: textures from relu1_1, then relu1_1 + relu2_1, … up to
# relu1_1 … relu5_1, each from the same seeded noise with the same steps, each judged at EVERY ReLU layer against
# that noise (exercise 3). What the profiles show on the painting (HED's VGG-16, 128-256 px): texture 1 matches
# relu1_1 and relu1_2 almost perfectly but is FARTHER than the noise from the painting at relu3_2 … relu4_x; every
# added style layer pulls the layers around it below the noise's level, including the ones no loss uses
# (relu2_2, relu3_2, relu4_2, relu5_2); the last textures still improve relu5_x. So the "style in the low-level
# features" of the *Algorithmic Art* lecture slides is half true: the low layers carry the colours and the grain,
# which is much of what we call style, but the strokes and swirls are statistics of the deeper layers, and a texture
# looks like the painting only when those are matched too. The fair yardstick is a layer the loss never saw; the
# texture's own loss says nothing (it only counts the layers it optimised).
def figure1_style_row(style: torch.Tensor, **options) -> dict[int, dict[str, float]]:
    arch, weights = options["arch"], options["weights"]
    defaults = nst.VGGFeatures(arch, layers="relu1_1", weights=weights, device="cpu").source.defaults
    noise = torch.rand(style.shape, generator=torch.Generator().manual_seed(0))  # synthesize_texture's seed-0 start
    rows = {}
    for k in range(1, 6):
        layers = defaults.style_layer_weights(nst.GATYS_STYLE_LAYERS[:k], arch)  # the network's balance, renormalised
        texture = nst.synthesize_texture(style, layers=layers, **options).image
        rows[k] = style_profile(texture, style, noise.to(style.device), arch, weights)
    return rows
