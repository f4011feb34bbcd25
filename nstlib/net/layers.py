"""VGG layer names as the papers write them (conv4_2, relu4_2, pool4), and what they index.

torchvision builds VGG's convolutional part as one ``nn.Sequential`` called ``features``:
conv, ReLU, conv, ReLU, …, max-pool. The tables here translate between the paper's names and the
positions in that sequence, so nothing else in nstlib ever uses a raw index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from nstlib.errors import InputError

__all__ = ["VGG_BLOCKS", "layer_names", "layer_index", "receptive_field", "conv_shapes", "layer_weights"]

Layers = str | Sequence[str] | Mapping[str, float]

# Output channels of each 3x3 convolution, block by block (Simonyan & Zisserman 2015, Table 1:
# A = vgg11, B = vgg13, D = vgg16, E = vgg19). Each block ends with a 2x2 pool of stride 2.
VGG_BLOCKS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


def _check_arch(arch: str) -> str:
    if arch not in VGG_BLOCKS:
        raise InputError(f"Unknown architecture {arch!r}; choose one of {', '.join(VGG_BLOCKS)}.")
    return arch


@cache
def _table(arch: str) -> dict[str, int]:
    table: dict[str, int] = {}
    index = 0
    for block, widths in enumerate(VGG_BLOCKS[arch], start=1):
        for depth in range(1, len(widths) + 1):
            table[f"conv{block}_{depth}"] = index
            table[f"relu{block}_{depth}"] = index + 1
            index += 2
        table[f"pool{block}"] = index
        index += 1
    return table


def layer_names(arch: str = "vgg19") -> list[str]:
    """All layer names of ``arch`` in network order.

    >>> layer_names("vgg19")[:5]
    ['conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1']
    """
    return list(_table(_check_arch(arch)))


def layer_index(arch: str, name: str) -> int:
    """Position of a named layer in torchvision's ``vgg.features``.

    >>> layer_index("vgg19", "conv4_2")
    21
    """
    table = _table(_check_arch(arch))
    if name not in table:
        raise InputError(
            f"{arch} has no layer {name!r}. Layers are named like conv4_2 / relu4_2 / pool4; "
            f"{arch} has {', '.join(n for n in table if n.startswith('conv'))}."
        )
    return table[name]


def receptive_field(arch: str, name: str) -> tuple[int, int]:
    """(receptive field, stride) in input pixels of one unit of a layer.

    Each 3x3 convolution widens the field by 2 × the current stride; each 2x2 pool widens it by
    1 × the stride and doubles the stride.

    >>> receptive_field("vgg19", "conv1_2"), receptive_field("vgg19", "pool1")
    ((5, 1), (6, 2))
    """
    target = layer_index(arch, name)
    field, stride = 1, 1
    for layer, index in _table(arch).items():
        if index > target:
            break
        if layer.startswith("conv"):
            field += 2 * stride
        elif layer.startswith("pool"):
            field += stride
            stride *= 2
    return field, stride


def conv_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Expected state-dict keys and shapes of ``features`` in torchvision's format."""
    shapes: dict[str, tuple[int, ...]] = {}
    in_channels = 3
    table = _table(_check_arch(arch))
    for block, widths in enumerate(VGG_BLOCKS[arch], start=1):
        for depth, out_channels in enumerate(widths, start=1):
            index = table[f"conv{block}_{depth}"]
            shapes[f"features.{index}.weight"] = (out_channels, in_channels, 3, 3)
            shapes[f"features.{index}.bias"] = (out_channels,)
            in_channels = out_channels
    return shapes


def layer_weights(layers: Layers) -> dict[str, float]:
    """Per-layer weights w_l: a mapping is used as given; a name or sequence gets w_l = 1/L each."""
    if isinstance(layers, str):
        return {layers: 1.0}
    if isinstance(layers, Mapping):
        return {str(k): float(v) for k, v in layers.items()}
    names = list(dict.fromkeys(layers))
    return {name: 1.0 / len(names) for name in names}
