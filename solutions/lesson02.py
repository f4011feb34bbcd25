"""Model answers for lesson 02 (VGG layers). For instructors; the notebook never imports this."""
from __future__ import annotations

import math

import torch

import nstlib as nst

# Exercise 1. relu5_1 sits after pool1–pool4 (not pool5): H_l = ⌊H / 16⌋, and ⌊H / 16⌋ = 14 for 224 ≤ H < 240.
relu5_1_heights = range(14 * 16, 15 * 16)


def fold_convention(weight: torch.Tensor, bias: torch.Tensor, convention) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 2. conv1_1's weights and bias for plain RGB images in [0, 1].

    The network sees x'[c] = (x[c'] · scale − mean[c]) / std[c], where c' = 2 − c for BGR weights. So
    W · x' + b = Σ (W[:, c] · scale / std[c]) · x[c'] + (b − Σ W[:, c] · mean[c] / std[c]): the first part is the
    new kernel (its input channels put back in RGB order), the second a constant, the new bias. Exact without
    padding; with padding the border differs, because VGG pads x' with zeros (the mean colour), not x.
    """
    mean = torch.tensor(convention.mean, dtype=weight.dtype).view(1, 3, 1, 1)   # network order
    std = torch.tensor(convention.std, dtype=weight.dtype).view(1, 3, 1, 1)
    folded = weight * convention.scale / std
    if convention.channels == "BGR":
        folded = folded.flip(1)                              # the network's channel 0 (blue) is the image's channel 2
    new_bias = bias - (weight * mean / std).sum(dim=(1, 2, 3))
    return folded, new_bias


# Exercise 3. (a), (c) and (e). flip(1) reverses R, G, B into B, G, R: red and blue trade places, green stays in the
# middle. An image whose red and blue channels are equal everywhere — grey, pure green, magenta — gives the
# network exactly the same input with or without the flip; the orange cat, red and yellow do not.
swap_immune = "ace"


def effective_field(arch: str, weights: str, layer: str, size: int) -> int:
    """Exercise 4. The side of the smallest square, centred on the unit's theoretical field, that holds half of the
    |gradient| of the centre unit of ``layer`` with respect to a seeded noise image.

    Design: one unit (all channels of the middle position summed, so no single channel's quirks decide) and a noise
    input (no image structure to favour a direction); average pooling, so that every pixel's influence is counted,
    not only the max-pool winners'; |gradient| summed over the colours as the pixel's influence. The theoretical
    field is where the gradient can be non-zero at all; half of the gradient sits in a much smaller square, and
    the ratio falls with depth. HED's VGG-16 at 160 px: 3 of 5 px at conv1_2, 5 of 10 at conv2_1, 11 of 24 at conv3_1,
    19 of 60 at conv4_1 (0.6 down to 0.3); seeded random weights use more of the field (27 of 60 at conv4_1):
    trained units look even harder at their centre. That is Luo et al.'s (2016) effective receptive field: roughly
    Gaussian, growing like √depth, while the theoretical field grows linearly — a deep unit can see a large patch
    but mostly looks at its centre.
    """
    net = nst.VGGFeatures(arch, layers=(layer,), weights=weights, pooling="avg", device="cpu")
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    fmap = net(x)[layer]
    unit = fmap[0, :, fmap.shape[-2] // 2, fmap.shape[-1] // 2].sum()
    (grad,) = torch.autograd.grad(unit, x)
    influence = grad.abs().sum(dim=1)[0]                      # (H, W)
    rows, cols = torch.nonzero(influence, as_tuple=True)
    r0 = (int(rows.min()) + int(rows.max())) / 2             # the middle of the reached square
    c0 = (int(cols.min()) + int(cols.max())) / 2
    total = float(influence.sum())
    for side in range(1, size + 1):
        top, left = math.floor(r0 - (side - 1) / 2 + 0.5), math.floor(c0 - (side - 1) / 2 + 0.5)
        if float(influence[max(top, 0):top + side, max(left, 0):left + side].sum()) >= 0.5 * total:
            return side
    return size
