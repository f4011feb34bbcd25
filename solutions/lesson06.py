"""Reference answers for lesson 06 (layer ablations). For instructors.

Each function is what ``nst.check.<name>`` expects; tests/test_check_ablation.py feeds them to the checkers.
"""
from __future__ import annotations

# VGG-19's convolutional part: blocks of 3×3 convolutions (each followed by a ReLU), each block ending in a 2×2 pool.
_VGG19_BLOCKS = (2, 2, 4, 4, 4)


def style_coverage(layer: str, side: int) -> float:
    """Exercise 1: receptive field of ``layer`` (e.g. "relu3_1", "conv4_2", "pool2") in pixels / ``side``.

    Walk through the network: a 3×3 conv adds 2 × stride to the field; a 2×2 pool of stride 2 adds
    1 × stride and then doubles the stride. The ReLU after a conv does not change the field.
    """
    if layer.startswith("pool"):
        block, depth = int(layer[4:]), None  # the pool at the end of this block
    else:
        block, depth = (int(part) for part in layer[4:].split("_"))  # conv3_2 / relu3_2 -> (3, 2)
    field, stride = 1, 1
    for b, convs in enumerate(_VGG19_BLOCKS, start=1):
        for d in range(1, convs + 1):
            field += 2 * stride
            if (b, d) == (block, depth):
                return field / side
        field += stride  # the 2×2 pool ...
        stride *= 2  # ... halves the map, so every later pixel step spans twice as many input pixels
        if depth is None and b == block:
            return field / side
    raise ValueError(f"VGG-19 has no layer {layer!r}")


def balanced_layer_weights(initial_losses: dict[str, float]) -> dict[str, float]:
    """Exercise 2: w_l = (1/L_l) / Σ_k (1/L_k), so that w_l · L_l is the same for every layer and Σ w_l = 1."""
    inverse = {layer: 1.0 / loss for layer, loss in initial_losses.items()}
    total = sum(inverse.values())
    return {layer: value / total for layer, value in inverse.items()}
