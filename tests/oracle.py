"""Independent oracles for the option tests: torchvision's VGG and the paper's formulas, written out by hand.

Nothing here calls nstlib's network, losses or layer table, so a test that compares nstlib with these
fails when nstlib ignores an option or wires it wrong. The weights themselves come from nstlib (they are
the input to both sides, not what is tested): seeded random ones, or HED's converted file.
"""

from __future__ import annotations

import functools

import torch
import torchvision

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def state_dict(arch: str, weights: str) -> dict[str, torch.Tensor]:
    if weights.startswith("random"):
        from nstlib.weights.seeded import random_state_dict

        seed = int(weights.partition(":")[2] or 0)
        return random_state_dict(arch, seed)
    if weights == "hed":
        from nstlib.weights.hed import load_hed_state_dict

        return load_hed_state_dict()
    raise ValueError(weights)


@functools.lru_cache(maxsize=8)  # read-only after building; building VGG's classifier costs ~1 s
def network(arch: str, weights: str, pooling: str = "max") -> tuple[torch.nn.Sequential, dict[str, int]]:
    """torchvision's ``vgg*().features`` with the given weights, and paper names read off its modules."""
    features = getattr(torchvision.models, arch)(weights=None).features
    features.load_state_dict({k.removeprefix("features."): v for k, v in state_dict(arch, weights).items()})
    names: dict[str, int] = {}
    block, depth = 1, 1
    for i, module in enumerate(features):
        if isinstance(module, torch.nn.Conv2d):
            names[f"conv{block}_{depth}"] = i
        elif isinstance(module, torch.nn.ReLU):
            module.inplace = False
            names[f"relu{block}_{depth}"] = i
            depth += 1
        elif isinstance(module, torch.nn.MaxPool2d):
            names[f"pool{block}"] = i
            if pooling == "avg":
                features[i] = torch.nn.AvgPool2d(2, 2)
            block, depth = block + 1, 1
    return features.eval().requires_grad_(False), names


def preprocess(image: torch.Tensor, weights: str) -> torch.Tensor:
    if weights == "hed":  # Caffe: BGR, 0-255, minus the per-channel mean
        return image.flip(1) * 255.0 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    return (image - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


class Features:
    """``Features(arch, weights, pooling)(image, layers) -> {name: activation}``."""

    def __init__(self, arch: str = "vgg19", weights: str = "random", pooling: str = "max") -> None:
        self.net, self.names = network(arch, weights, pooling)
        self.weights = weights

    def __call__(self, image: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        wanted = {self.names[n]: n for n in layers}
        out, x = {}, preprocess(image, self.weights)
        for i, module in enumerate(self.net):
            x = module(x)
            if i in wanted:
                out[wanted[i]] = x
            if i >= max(wanted):
                break
        return out


def gram(f: torch.Tensor) -> torch.Tensor:
    """G / (N M) per image: Gatys' Gram matrix over M = H W positions, divided by N M."""
    b, n, h, w = f.shape
    flat = f.reshape(b, n, h * w)
    return flat @ flat.transpose(1, 2) / (n * h * w)


def tv(image: torch.Tensor) -> torch.Tensor:
    """½ (mean |Δy| + mean |Δx|), summed over the batch."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().flatten(1).mean(1)
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().flatten(1).mean(1)
    return (0.5 * (dy + dx)).sum()


def transfer_terms(
    x: torch.Tensor,
    content: torch.Tensor,
    style: torch.Tensor,
    features: Features,
    alpha: float,
    beta: float,
    gamma: float,
    content_layers: dict[str, float],
    style_layers: dict[str, float],
) -> dict[str, float]:
    """Gatys' objective at image ``x``, term by term, as stylize's history names them."""
    layers = list(dict.fromkeys([*content_layers, *style_layers]))
    fx, fc, fs = features(x, layers), features(content, layers), features(style, layers)
    terms = {f"content:{n}": alpha * c * float(((fx[n] - fc[n]) ** 2).mean()) for n, c in content_layers.items()}
    terms.update(
        {f"style:{n}": beta * w * float(((gram(fx[n]) - gram(fs[n])) ** 2).mean()) for n, w in style_layers.items()}
    )
    if gamma:
        terms["tv"] = gamma * float(tv(x))
    return terms


def noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """White noise in [0, 1] from a seeded CPU generator (what init="noise" documents)."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def assert_near(
    got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-5, atol: float = 0.0, msg: str | None = None
) -> None:
    """``got`` and ``want`` are two computations of one tensor by different kernels, layouts or summation orders.

    MKL and oneDNN round differently on AMD AVX2, AMD AVX-512 and Intel AMX, and the error of a sum scales with its
    largest terms, not with the result: an entry that is 0, or small beside the others, differs by about
    ``rtol × max|want|``. So each entry may be off by ``rtol`` of itself plus ``rtol`` of the tensor's largest
    magnitude (plus ``atol``). Exact comparison stays right only for like with like (same kernel, input and layout).
    """
    scale = float(want.detach().abs().max()) if want.numel() else 0.0
    torch.testing.assert_close(got, want, rtol=rtol, atol=atol + rtol * scale, msg=msg)
