"""Gatys et al.'s normalised network, for any weights: every filter's mean activation over images and positions is 1.

"We normalized the network by scaling the weights such that the mean activation of each convolutional filter
over images and positions is equal to one" (Gatys, Ecker & Bethge, CVPR 2016). Ask for it by adding
``+normalized`` to any ``weights``: ``"hed+normalized"``, ``"imagenet+normalized"``, ``"random:3+normalized"``.

How. Let m_l[o] be the mean of filter o's ReLU output at conv layer l, over the images in ``normalization/``
(eleven photos, paintings and textures that ship with nstlib) and every position, and s_l[o] = max(m_l[o],
median of the layer's m_l) (:func:`filter_scales`). Each convolution is rescaled in network order::

    W'_l[o, i] = W_l[o, i] · s_{l−1}[i] / s_l[o],      b'_l[o] = b_l[o] / s_l[o]      (s_0 = 1: the pixels)

Layer l then receives inputs divided by s_{l−1} (which the first factor undoes) and its outputs are divided
by s_l. A positive factor passes through ReLU and max pooling unchanged — relu(z / s) = relu(z) / s, and
max(a / s, b / s) = max(a, b) / s — so every ReLU output of the normalised network is the original's divided
by its filter's scale: the same ReLU pattern, the same max-pooling choices. The filters that fire at least
as often as the layer's median one then have mean activation exactly 1 over those images, as in Gatys et
al.'s network.

Why the floor. Gatys et al. divided every filter by its own mean. On HED's VGG-16 (fine-tuned for edges)
many filters almost never fire on natural images: 160 of relu5_1's 512 never did on the eleven images, and
a tenth of relu2_1's have means below 0.0002. Dividing by such a mean multiplies the filter by 10⁴ or more,
its Gram entries by 10⁸: the painting's few strokes that excite it then dominate the whole style loss, and
the optimiser cannot lower that term (a filter that is dead on the photo passes no gradient). Measured on
Tübingen with two paintings, that network transferred nothing at any style weight from 30 to 10⁶
(BENCHMARKS.md, "Gatys et al.'s normalised network"); with the floor, it transfers normally.

    >>> from nstlib.weights.seeded import random_state_dict
    >>> from nstlib.net.conventions import IMAGENET_CONVENTION
    >>> state = random_state_dict("vgg11", seed=0)
    >>> means = filter_means("vgg11", state, IMAGENET_CONVENTION)
    >>> after = filter_means("vgg11", normalize_state_dict("vgg11", state, means), IMAGENET_CONVENTION)
    >>> common = means["relu5_2"] >= means["relu5_2"][means["relu5_2"] > 0].median()   # at least the median filter's
    >>> round(float(after["relu5_2"][common].min()), 4), round(float(after["relu5_2"][common].max()), 4)
    (1.0, 1.0)

The means take a second or two to compute; for trained weights they are kept in torch's cache folder beside
the weights (``filter-means-ARCH-DIGEST.pt``, the digest over the weights and the images), so it happens once.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from nstlib.images import load_image, write_atomically
from nstlib.net.conventions import InputConvention
from nstlib.net.layers import layer_index, layer_names
from nstlib.weights import cache

__all__ = ["IMAGES", "normalization_images", "filter_means", "filter_scales", "normalize_state_dict", "normalized"]

IMAGES = Path(__file__).with_name("normalization")  # the images the means are taken over (long side 224 px)


def normalization_images() -> list[torch.Tensor]:
    """The images in :data:`IMAGES`, each (1, 3, H, W) in [0, 1], in file-name order."""
    files = sorted(IMAGES.glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"no images in '{IMAGES}': nstlib's install is incomplete (reinstall it).")
    return [load_image(path) for path in files]


def _conv_names(arch: str) -> list[str]:
    return [n for n in layer_names(arch) if n.startswith("conv")]


@torch.no_grad()
def filter_means(
    arch: str,
    state: dict[str, torch.Tensor],
    convention: InputConvention,
    images: list[torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """``{"relu1_1": (64,), …}``: each ReLU layer's mean output per filter over ``images`` (default:
    :func:`normalization_images`) and all their positions — every position of every image weighs the same."""
    images = normalization_images() if images is None else images
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for image in images:
        x = convention.apply(image.float())
        for name in layer_names(arch):
            index = layer_index(arch, name)
            if name.startswith("conv"):
                x = F.conv2d(
                    x, state[f"features.{index}.weight"].float(), state[f"features.{index}.bias"].float(), padding=1
                )
            elif name.startswith("relu"):
                x = F.relu(x)
                sums[name] = sums.get(name, 0) + x.sum(dim=(0, 2, 3)).double()
                counts[name] = counts.get(name, 0) + x.shape[0] * x.shape[2] * x.shape[3]
            else:
                x = F.max_pool2d(x, 2)
    return {name: (sums[name] / counts[name]).float() for name in sums}


def filter_scales(means: torch.Tensor) -> torch.Tensor:
    """What each filter of a layer is divided by: its mean, but no less than the layer's median filter mean.

    >>> filter_scales(torch.tensor([0.0, 1e-4, 2.0, 3.0, 8.0]))   # median 2: the rare filters are not blown up
    tensor([2., 2., 2., 3., 8.], dtype=torch.float64)
    """
    m = means.double()
    firing = m[m > 0]
    floor = float(firing.median()) if firing.numel() else 1.0
    return m.clamp_min(floor)


def normalize_state_dict(
    arch: str, state: dict[str, torch.Tensor], means: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """A new state dict whose every ReLU output is the original's divided by ``means`` (see the module's docstring)."""
    out = dict(state)
    previous = torch.ones(3)
    for conv in _conv_names(arch):
        index = layer_index(arch, conv)
        scale = filter_scales(means[conv.replace("conv", "relu")])
        weight, bias = state[f"features.{index}.weight"], state[f"features.{index}.bias"]
        factor = previous.view(1, -1, 1, 1) / scale.view(-1, 1, 1, 1)
        out[f"features.{index}.weight"] = (weight.double() * factor).to(weight.dtype)
        out[f"features.{index}.bias"] = (bias.double() / scale).to(bias.dtype)
        previous = scale
    return out


def _digest(arch: str, state: dict[str, torch.Tensor]) -> str:
    """A fingerprint of the weights and of the images: a change to either gives another cache file."""
    h = hashlib.sha256(arch.encode())
    for key in sorted(state):
        t = state[key].double()
        h.update(f"{key}{tuple(t.shape)}{float(t.sum()):.10e}{float(t.square().sum()):.10e}".encode())
    for path in sorted(IMAGES.glob("*.jpg")):
        h.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def _cached_means(
    arch: str, state: dict[str, torch.Tensor], convention: InputConvention, digest: str | None
) -> dict[str, torch.Tensor]:
    """The filter means, read from (and written to) ``filter-means-ARCH-DIGEST.pt``; ``digest=None``: not on disk."""
    if digest is None:
        return filter_means(arch, state, convention)
    path = Path(torch.hub.get_dir()) / "checkpoints" / f"filter-means-{arch}-{digest}.pt"
    if path.is_file():
        try:
            means = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(means, dict) and set(means) == {n for n in layer_names(arch) if n.startswith("relu")}:
                return means
        except Exception:  # a damaged cache file is computed again (and replaced below)
            pass
    means = filter_means(arch, state, convention)
    buffer = io.BytesIO()
    torch.save(means, buffer)
    try:
        write_atomically(path, lambda handle: handle.write(buffer.getvalue()), overwrite=True)
    except Exception as exc:  # a read-only cache folder: computed again next session (a second or two)
        warnings.warn(
            f"Could not keep the normalised network's filter means in '{path.parent}' ({type(exc).__name__}).",
            RuntimeWarning,
            stacklevel=3,
        )
    return means


def normalized(
    arch: str, key: str, state: dict[str, torch.Tensor], convention: InputConvention, on_disk: bool = True
) -> dict[str, torch.Tensor]:
    """``state`` normalised (cached per process under ``key``, the weights' text; the means also on disk if
    ``on_disk``): what ``weights="…+normalized"`` loads."""
    digest = _digest(arch, state)  # new weights under the same name: computed again
    return cache.cached_load(
        ("normalized", arch, key, digest),
        None,
        lambda: normalize_state_dict(arch, state, _cached_means(arch, state, convention, digest if on_disk else None)),
    )
