"""Frozen Inception v3 and GoogLeNet (Inception v1) that return named activations, for DeepDream.

    >>> net = InceptionFeatures("inception_v3", layers=("Mixed_6a", "Mixed_6c"), weights="random")
    >>> feats = net(torch.rand(1, 3, 128, 128))
    >>> tuple(feats["Mixed_6c"].shape)
    (1, 768, 6, 6)

Layer names are torchvision's attribute names, the ones you see in ``print(model)``:
Inception v3 ``Conv2d_1a_3x3`` … ``Mixed_5b`` … ``Mixed_7c``; GoogLeNet ``conv1`` …
``inception3a`` … ``inception5b``. Keras (and the TensorFlow DeepDream tutorial) number Inception
v3's eleven mixed blocks ``mixed0`` … ``mixed10``; they are the same blocks in the same order, so
``mixed0`` = ``Mixed_5b``, ``mixed3`` = ``Mixed_6a`` (the 17×17 reduction block), ``mixed5`` =
``Mixed_6c``, ``mixed10`` = ``Mixed_7c`` (see :data:`KERAS_MIXED`); those names are accepted too.

The network is torchvision's own module, built with ``weights=None, init_weights=False`` and the
auxiliary heads that torchvision's weight files contain (``aux_logits=True``), so its state-dict
keys are exactly those of the files; weights come through :func:`load_net_state_dict`. The
forward pass is truncated: it runs the trunk in torchvision's order and stops after the deepest
requested layer (the auxiliary heads and the classifier are never run).

Input scaling: torchvision's pretrained Inception v3 and GoogLeNet set ``transform_input=True``,
which turns ImageNet-normalised input ``(x − mean) / std`` back into ``2x − 1``, the scaling
Google trained them with. We build them with ``transform_input=False`` and feed ``2x − 1``
directly; for an image x in [0, 1] that is the same input to the first convolution.
"""

from __future__ import annotations

import functools
import math
import os
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from nstlib.device import get_device
from nstlib.errors import ImageTooSmallError, InputError, WeightsError
from nstlib.images import check_image
from nstlib.weights import cache
from nstlib.weights.files import read_state_dict_file
from nstlib.weights.imagenet import fetch_imagenet, weights_path
from nstlib.weights.spec import WeightsSpec, parse_weights

__all__ = [
    "InceptionFeatures",
    "INCEPTION_LAYERS",
    "KERAS_MIXED",
    "MIN_INPUT_SIZE",
    "load_net_state_dict",
    "random_net_state_dict",
    "net_state_shapes",
]

# The trunk of each network in torchvision's forward order (auxiliary heads, pooling and fc left out).
INCEPTION_LAYERS: dict[str, tuple[str, ...]] = {
    "inception_v3": (
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "maxpool1",
        "Conv2d_3b_1x1",
        "Conv2d_4a_3x3",
        "maxpool2",
        "Mixed_5b",
        "Mixed_5c",
        "Mixed_5d",
        "Mixed_6a",
        "Mixed_6b",
        "Mixed_6c",
        "Mixed_6d",
        "Mixed_6e",
        "Mixed_7a",
        "Mixed_7b",
        "Mixed_7c",
    ),
    "googlenet": (
        "conv1",
        "maxpool1",
        "conv2",
        "conv3",
        "maxpool2",
        "inception3a",
        "inception3b",
        "maxpool3",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "maxpool4",
        "inception5a",
        "inception5b",
    ),
}

# Smallest square input (px) for which each layer's maps are still at least 1×1: valid (unpadded)
# convolutions and stride-2 poolings shrink the image. tests/test_dream.py re-derives every entry
# by running torchvision's module on the meta device.
MIN_INPUT_SIZE: dict[str, dict[str, int]] = {
    "inception_v3": {
        "Conv2d_1a_3x3": 3,
        "Conv2d_2a_3x3": 7,
        "Conv2d_2b_3x3": 7,
        "maxpool1": 11,
        "Conv2d_3b_1x1": 11,
        "Conv2d_4a_3x3": 19,
        "maxpool2": 27,
        "Mixed_5b": 27,
        "Mixed_5c": 27,
        "Mixed_5d": 27,
        "Mixed_6a": 43,
        "Mixed_6b": 43,
        "Mixed_6c": 43,
        "Mixed_6d": 43,
        "Mixed_6e": 43,
        "Mixed_7a": 75,
        "Mixed_7b": 75,
        "Mixed_7c": 75,
    },
    "googlenet": {
        "conv1": 1,
        "maxpool1": 3,
        "conv2": 3,
        "conv3": 3,
        "maxpool2": 7,
        "inception3a": 7,
        "inception3b": 7,
        "maxpool3": 15,
        "inception4a": 15,
        "inception4b": 15,
        "inception4c": 15,
        "inception4d": 15,
        "inception4e": 15,
        "maxpool4": 15,
        "inception5a": 15,
        "inception5b": 15,
    },
}

# The modules that halve the resolution (stride 2); every other trunk module keeps it.
_STRIDE_TWO = {
    "inception_v3": ("Conv2d_1a_3x3", "maxpool1", "maxpool2", "Mixed_6a", "Mixed_7a"),
    "googlenet": ("conv1", "maxpool1", "maxpool2", "maxpool3", "maxpool4"),
}

# Keras' InceptionV3 names its eleven mixed blocks mixed0 … mixed10, in the same order as torchvision's.
KERAS_MIXED: dict[str, str] = {
    f"mixed{i}": name for i, name in enumerate(n for n in INCEPTION_LAYERS["inception_v3"] if n.startswith("Mixed_"))
}


def _check_arch(arch: str) -> str:
    if arch not in INCEPTION_LAYERS:
        raise InputError(f"Unknown network {arch!r}; InceptionFeatures knows {', '.join(INCEPTION_LAYERS)}.")
    return arch


def _skeleton(arch: str) -> nn.Module:
    """torchvision's module with its parameters on the meta device (no memory, no initialisation)."""
    import torchvision.models as models

    with torch.device("meta"):
        build = models.inception_v3 if arch == "inception_v3" else models.googlenet
        return build(weights=None, aux_logits=True, transform_input=False, init_weights=False)


@functools.cache
def net_state_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Every key of torchvision's weight file for ``arch`` and its shape (aux heads and fc included)."""
    return {k: tuple(v.shape) for k, v in _skeleton(_check_arch(arch)).state_dict().items()}


def random_net_state_dict(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights in torchvision's exact key/shape format for ``arch``.

    Convolutions and linear layers: Kaiming-normal with fan-in, std = sqrt(2 / fan_in), so that
    activations keep their scale through the depth of the network. Batch norm: weight 1, bias 0,
    running mean 0, running variance 1 (an identity up to eps). Generated on the CPU in key order
    from one seeded generator: the same seed gives bit-identical weights everywhere.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in net_state_shapes(_check_arch(arch)).items():
        leaf = key.rsplit(".", 1)[1]
        if leaf == "num_batches_tracked":
            state[key] = torch.zeros(shape, dtype=torch.long)
        elif leaf in ("running_var",) or (leaf == "weight" and len(shape) == 1):
            state[key] = torch.ones(shape)
        elif leaf == "weight":
            std = math.sqrt(2.0 / math.prod(shape[1:]))
            state[key] = torch.randn(shape, generator=generator) * std
        else:  # biases and running means
            state[key] = torch.zeros(shape)
    return state


def _looks_like(state: dict) -> str:
    keys = set(state)
    if any(k.startswith("Mixed_") for k in keys):
        return "inception_v3"
    if any(k.startswith("inception3a") for k in keys):
        return "googlenet"
    if any(k.startswith("features.") for k in keys):
        return "a VGG"
    return ""


def _validated(arch: str, state: dict, source: str) -> dict[str, torch.Tensor]:
    """Check every trunk key and shape; fill num_batches_tracked if the file lacks it; drop nothing else."""
    expected = net_state_shapes(arch)
    trunk = [k for k in expected if k.split(".", 1)[0] in INCEPTION_LAYERS[arch]]
    other = _looks_like(state)
    state = dict(state)
    for key in trunk:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in trunk if k not in state]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    if missing or wrong:
        hint = f" They look like weights for {other}." if other and other != arch else ""
        detail = f"missing {missing[:3]}" if missing else f"shape mismatch at {wrong[:3]}"
        raise WeightsError(f"Weights from {source} do not fit torchvision's {arch} ({detail}).{hint}")
    return {k: (state[k] if k.endswith("num_batches_tracked") else state[k].detach().float()) for k in trunk}


def _load(arch: str, spec: WeightsSpec, path: Path | None) -> dict[str, torch.Tensor]:
    if path is None:  # random weights: no file
        return random_net_state_dict(arch, spec.seed)
    if spec.kind == "imagenet" and not path.is_file():
        fetch_imagenet(arch)  # hash-checked download, or one clear WeightsError naming the file when offline
    return _validated(arch, read_state_dict_file(path), f"'{path}'")


def load_net_state_dict(arch: str, weights: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """Trunk weights for ``"inception_v3"`` or ``"googlenet"``, by nstlib's weights rules.

    ``"imagenet"``: torchvision's cache file (``Inception_V3_Weights.IMAGENET1K_V1`` /
    ``GoogLeNet_Weights.IMAGENET1K_V1``), downloaded and hash-checked if missing; offline you get a
    :class:`WeightsError` naming the file. ``"random"`` / ``"random:SEED"``: seeded random weights.
    A path: a state dict in torchvision's format. Cached per process: treat the tensors as read-only.
    """
    _check_arch(arch)
    spec = parse_weights(weights)
    if spec.kind in ("hed", "h5"):
        raise WeightsError(
            f"weights={spec.key!r} are HED's VGG-16, not {arch} weights: dream on them with "
            "model='vgg16' (e.g. nst.deepdream(image, model='vgg16', weights='hed'))."
        )
    if spec.normalized:
        raise WeightsError(
            f"weights={spec.key!r}: the normalised network (Gatys et al. 2016) is made for VGGs only; "
            f"pass {spec.key.removesuffix('+normalized')!r} for {arch}."
        )
    path = weights_path(arch) if spec.kind == "imagenet" else spec.path
    return cache.cached_load(
        ("inception", arch, spec.kind, spec.seed, str(path)), path, lambda: _load(arch, spec, path)
    )


def _canonical(arch: str, name: str) -> str:
    if arch == "inception_v3" and name in KERAS_MIXED:
        return KERAS_MIXED[name]
    if name not in INCEPTION_LAYERS[arch]:
        extra = " (or Keras' mixed0 … mixed10)" if arch == "inception_v3" else ""
        raise InputError(f"{arch} has no layer {name!r}. Valid names{extra}: {', '.join(INCEPTION_LAYERS[arch])}.")
    return name


class InceptionFeatures(nn.Module):
    """Frozen torchvision Inception v3 / GoogLeNet trunk keyed by torchvision's layer names.

    Args:
        arch: ``"inception_v3"`` or ``"googlenet"``.
        layers: names such as ``"Mixed_6c"`` / ``"mixed5"`` or ``"inception4c"`` (see :data:`INCEPTION_LAYERS`).
        weights: ``"imagenet"``, ``"random"`` / ``"random:SEED"``, or a state-dict path;
            ``None`` means ``NSTLIB_WEIGHTS`` or ``"imagenet"``.
        device: where the network lives; default :func:`get_device`.

    Calling it on (B, 3, H, W) images in [0, 1] returns ``{name: (B, C, H_l, W_l)}`` (after the ReLU).
    """

    def __init__(
        self,
        arch: str = "inception_v3",
        layers: Iterable[str] | str = ("Mixed_6a", "Mixed_6c"),
        weights: str | os.PathLike | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.arch = _check_arch(arch)
        names = (layers,) if isinstance(layers, str) else tuple(layers)
        if not names:
            raise InputError(f"InceptionFeatures needs at least one layer name, e.g. {INCEPTION_LAYERS[arch][-4]!r}.")
        self.layers = tuple(dict.fromkeys(_canonical(arch, n) for n in names))
        order = INCEPTION_LAYERS[arch]
        deepest = max(self.layers, key=order.index)
        state = load_net_state_dict(arch, weights)
        net = _skeleton(arch)
        kept = order[: order.index(deepest) + 1]
        self.trunk = nn.Sequential(OrderedDict((name, getattr(net, name)) for name in kept))
        self.trunk.load_state_dict({k: v for k, v in state.items() if k.split(".", 1)[0] in kept}, assign=True)
        self.min_size = MIN_INPUT_SIZE[arch][deepest]
        self.stride = 2 ** sum(1 for name in kept if name in _STRIDE_TWO[arch])  # input px per step of deepest's grid
        self.eval().requires_grad_(False)
        self.to(get_device(device) if not isinstance(device, torch.device) else device)

    @property
    def device(self) -> torch.device:
        return next(self.trunk.parameters()).device

    def train(self, mode: bool = True) -> InceptionFeatures:  # batch norm always uses its running statistics
        return super().train(False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        image = check_image(image)
        height, width = image.shape[-2:]
        if min(height, width) < self.min_size:
            deepest = list(self.trunk.named_children())[-1][0]
            raise ImageTooSmallError(
                f"The image is {height}x{width} px, but {self.arch}'s {deepest} needs at least "
                f"{self.min_size}x{self.min_size} px (its convolutions and poolings shrink the maps). "
                "Use a larger image, fewer octaves, a larger tile_size, or a shallower layer."
            )
        x = image.to(self.device, torch.float32) * 2.0 - 1.0  # = transform_input applied to ImageNet-normalised input
        out: dict[str, torch.Tensor] = {}
        for name, module in self.trunk.named_children():
            x = module(x)
            if name in self.layers:
                out[name] = x
        return {name: out[name] for name in self.layers}

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, layers={list(self.layers)}"
