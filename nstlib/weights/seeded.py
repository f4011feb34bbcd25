"""Seeded random VGG weights (``weights="random"`` or ``"random:SEED"``): reproducible, and no file needed.

The same seed gives bit-identical weights on every call and every machine. Texture synthesis with
random features is a real, published setting (He, Wang & Hopcroft 2016), but results look like
textures, not paintings.
"""

from __future__ import annotations

import math

import torch

from nstlib.net.layers import conv_shapes
from nstlib.weights import cache
from nstlib.weights.spec import WeightsSpec

__all__ = ["random_state_dict", "load_random"]


def random_state_dict(arch: str = "vgg19", seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random ``features`` weights in torchvision's key format.

    Kaiming-normal with fan-in (std = sqrt(2 / (9 · C_in))) so activations keep their scale through
    the depth of the network; biases are zero. Generated on the CPU: bit-identical everywhere.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in conv_shapes(arch).items():
        if key.endswith("weight"):
            std = math.sqrt(2.0 / (shape[1] * shape[2] * shape[3]))
            state[key] = torch.randn(shape, generator=generator) * std
        else:
            state[key] = torch.zeros(shape)
    return state


def load_random(arch: str, spec: WeightsSpec) -> dict[str, torch.Tensor]:
    """``weights="random[:SEED]"``: :func:`random_state_dict` for ``arch`` and the spec's seed. Cached."""
    return cache.cached_load(("random", arch, spec.seed), None, lambda: random_state_dict(arch, spec.seed))
