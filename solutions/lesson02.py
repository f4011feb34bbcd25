"""Reference answers for lesson 02 (VGG layers). For instructors; the notebook never imports this."""
from __future__ import annotations

import re

from nstlib.layers import VGG_BLOCKS


def receptive_field_of(layers: list[tuple[int, int]]) -> tuple[int, int]:
    """(receptive field, jump) in input pixels after a stack of (kernel, stride) layers.

    r_l = r_(l-1) + (F_l − 1) · j_(l-1) and j_l = j_(l-1) · S_l, from r_0 = j_0 = 1 (one pixel).
    """
    field, jump = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * jump
        jump *= stride
    return field, jump


def conv_layer_params(c_in: int, c_out: int, k: int = 3) -> int:
    """c_out kernels of k·k·c_in weights, plus one bias each."""
    return k * k * c_in * c_out + c_out


def feature_shape(arch: str, layer: str, H: int, W: int) -> tuple[int, int, int]:
    """(C, H_l, W_l): padded 3x3 convs keep the size, every 2x2/2 pool before (or at) the layer halves it."""
    match = re.fullmatch(r"(conv|relu)(\d)_(\d)|pool(\d)", layer)
    if match is None:
        raise ValueError(f"not a VGG layer name: {layer}")
    block = int(match.group(2) or match.group(4))
    pools = block if layer.startswith("pool") else block - 1
    channels = VGG_BLOCKS[arch][block - 1][0]
    return channels, H // 2 ** pools, W // 2 ** pools


pooling_question = "b"
