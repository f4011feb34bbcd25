"""A frozen VGG that returns the activations of named layers as a dict.

    >>> vgg = VGGFeatures(layers=("conv4_2", "relu4_2"), weights="random")
    >>> feats = vgg(torch.rand(1, 3, 64, 64))
    >>> sorted(feats), tuple(feats["relu4_2"].shape)
    (['conv4_2', 'relu4_2'], (1, 512, 8, 8))

Where this departs from torchvision's ``vgg19().features``: the ReLUs are not in-place (so the
``conv4_2`` you read is really the pre-activation and ``relu4_2`` the rectified one), the network
stops after the deepest layer you asked for, ImageNet normalisation happens inside, and
``pooling="avg"`` replaces max-pooling with average pooling as Gatys et al. (2016) did.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
from torch import nn

from nstlib.device import get_device
from nstlib.errors import ImageTooSmallError, InputError
from nstlib.images import check_image
from nstlib.net.conventions import IMAGENET_CONVENTION
from nstlib.net.layers import VGG_BLOCKS, layer_index, layer_names
from nstlib.weights.sources import load_vgg_state_dict, resolve_arch, weights_source

__all__ = [
    "VGGFeatures",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "GATYS_STYLE_LAYERS",
    "GATYS_CONTENT_LAYER",
    "build_features",
]

# torchvision's ImageNet statistics (VGG19_Weights.IMAGENET1K_V1.transforms()).
IMAGENET_MEAN = IMAGENET_CONVENTION.mean
IMAGENET_STD = IMAGENET_CONVENTION.std

# Gatys, Ecker & Bethge (2016): style on relu1_1 … relu5_1 with w_l = 1/5, content on relu4_2.
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GATYS_CONTENT_LAYER = "relu4_2"


def build_features(arch: str, last: int, pooling: str) -> nn.Sequential:
    """torchvision's ``features`` layout (so state-dict keys match) up to index ``last``, freshly initialised.

    ``pooling`` is ``"max"`` or ``"avg"``; the ReLUs are not in-place. :class:`VGGFeatures` loads weights into it.
    """
    modules: list[nn.Module] = []
    in_channels = 3
    for widths in VGG_BLOCKS[arch]:
        for out_channels in widths:
            modules += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=False)]
            in_channels = out_channels
        modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*modules[: last + 1])


class VGGFeatures(nn.Module):
    """Frozen VGG feature extractor keyed by paper layer names.

    Args:
        arch: ``"vgg19"``, ``"vgg16"``, ``"vgg13"`` or ``"vgg11"``; ``None`` (default): the weights' own,
            vgg19 (vgg16 for HED's weights).
        layers: names such as ``"conv4_2"``, ``"relu4_2"``, ``"pool4"`` (see :func:`layer_names`).
        weights: ``"imagenet"``, ``"hed"`` (VGG-16 only), ``"random"`` / ``"random:SEED"``, or a file path
            (a torchvision state dict, or a HED ``.h5``); ``None`` means ``NSTLIB_WEIGHTS`` or ``"imagenet"``.
        pooling: ``"max"`` (as trained) or ``"avg"`` (Gatys et al.).
        device: where the network lives; default :func:`get_device`.
        channels_last: store weights and activations as (B, H, W, C) in memory (``torch.channels_last``).
            Same values, same shapes; faster convolutions on CUDA and with oneDNN on CPUs (see BENCHMARKS.md).

    Calling it on (B, 3, H, W) images in [0, 1] returns ``{name: (B, C, H_l, W_l)}``.
    """

    mean: torch.Tensor  # buffers registered in __init__: the input convention's mean and std, (1, 3, 1, 1)
    std: torch.Tensor

    def __init__(
        self,
        arch: str | None = None,
        layers: Iterable[str] | str = GATYS_STYLE_LAYERS + (GATYS_CONTENT_LAYER,),
        weights: str | os.PathLike | None = None,
        pooling: str = "max",
        device: torch.device | str | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise InputError(f"pooling must be 'max' or 'avg', got {pooling!r}.")
        names = (layers,) if isinstance(layers, str) else tuple(dict.fromkeys(layers))
        if not names:
            raise InputError("VGGFeatures needs at least one layer name, e.g. layers=('relu4_2',).")
        arch = resolve_arch(arch, weights)
        self.arch, self.pooling, self.layers = arch, pooling, names
        self.source = weights_source(
            weights
        )  # the row of nstlib.weights.sources.SOURCES: convention, defaults, provenance
        self.convention = self.source.convention
        self.indices = {name: layer_index(arch, name) for name in names}
        last = max(self.indices.values())
        self.features = build_features(arch, last, pooling)
        state = load_vgg_state_dict(arch, weights)
        self.features.load_state_dict(
            {k.removeprefix("features."): v for k, v in state.items() if int(k.split(".")[1]) <= last}
        )
        # The input convention, in the network's channel order and units (applied in forward).
        self.register_buffer("mean", torch.tensor(self.convention.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.convention.std).view(1, 3, 1, 1))
        # Which requested names to read after each position of the sequence.
        self.taps: dict[int, list[str]] = {}
        for name, index in self.indices.items():
            self.taps.setdefault(index, []).append(name)
        pools_before = sum(
            1 for n in layer_names(arch)[: last + 1] if n.startswith("pool") and layer_index(arch, n) <= last
        )
        self.min_size = 2**pools_before  # every pooling halves the map; the deepest layer needs >= 1 pixel
        self.eval().requires_grad_(False)
        self.to(get_device(device) if not isinstance(device, torch.device) else device)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.features.to(memory_format=torch.channels_last)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def train(self, mode: bool = True) -> VGGFeatures:  # always frozen: no dropout/batch-norm anyway
        return super().train(False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.prepare(image)
        out: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.features):
            x = module(x)
            for name in self.taps.get(index, ()):
                out[name] = x
        return {name: out[name] for name in self.layers}

    def prepare(self, image: torch.Tensor) -> torch.Tensor:
        """The network's input: ``image`` checked (shape, values, size), on the network's device, in the
        weights' input convention and the network's memory layout."""
        image = check_image(image)
        height, width = image.shape[-2:]
        if min(height, width) < self.min_size:
            deepest = max(self.indices, key=self.indices.__getitem__)
            raise ImageTooSmallError(
                f"The image is {height}x{width} px, but {deepest} needs at least {self.min_size}x{self.min_size} px "
                f"(it sits after {self.min_size.bit_length() - 1} poolings that each halve the size). Use a larger image "
                "or a shallower layer."
            )
        # The weights' input convention: ImageNet mean/std, or Caffe's BGR, 0-255, minus the mean (nstlib.net.conventions).
        x = self.convention.apply(image.to(self.device, self.mean.dtype), self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def extra_repr(self) -> str:
        extra = ", channels_last=True" if self.channels_last else ""
        return f"arch={self.arch!r}, weights={self.source.name!r}, layers={list(self.layers)}, pooling={self.pooling!r}{extra}"
