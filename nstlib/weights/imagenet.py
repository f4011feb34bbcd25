"""torchvision's ImageNet weights files: where they are, how they are downloaded, and how they load.

``weights="imagenet"`` uses exactly torchvision's mechanism: the file named by
``torchvision.models.VGG19_Weights.IMAGENET1K_V1`` in torch's hub cache
(``$TORCH_HOME/hub/checkpoints/``, default ``~/.cache/torch``), downloaded with torch.hub and
checked against the hash in its name when it is not there yet. Offline with no cached file you
get one :class:`WeightsError` within seconds that names the file and how to provide it.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import torch

from nstlib.errors import WeightsError
from nstlib.weights import cache
from nstlib.weights.files import features_only, read_state_dict_file
from nstlib.weights.spec import WeightsSpec

__all__ = [
    "WEIGHT_ENUMS",
    "PROBE_TIMEOUT_S",
    "weights_url",
    "weights_path",
    "weights_available",
    "host_reachable",
    "fetch_imagenet",
    "load_imagenet",
]

PROBE_TIMEOUT_S = 3.0  # a reachable CDN answers a TCP connect well within this

# nstlib's architecture names -> torchvision's weight enums (their IMAGENET1K_V1 entry is used).
WEIGHT_ENUMS = {
    "vgg11": "VGG11_Weights",
    "vgg13": "VGG13_Weights",
    "vgg16": "VGG16_Weights",
    "vgg19": "VGG19_Weights",
    "inception_v3": "Inception_V3_Weights",
    "googlenet": "GoogLeNet_Weights",
}


# The same files' addresses, as torchvision (0.19 - 0.29) lists them in ``<enum>.IMAGENET1K_V1.url``;
# tests/test_reliability_weights.py checks that they still agree. Kept here so that finding the file
# (and saying clearly that it is missing) never waits for, or depends on, importing torchvision.
_URLS = {
    "vgg11": "https://download.pytorch.org/models/vgg11-8a719046.pth",
    "vgg13": "https://download.pytorch.org/models/vgg13-19584684.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "inception_v3": "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
    "googlenet": "https://download.pytorch.org/models/googlenet-1378be20.pth",
}


def weights_url(arch: str = "vgg19") -> str:
    """Download address of torchvision's ImageNet weights for ``arch`` (``<enum>.IMAGENET1K_V1.url``)."""
    if arch not in WEIGHT_ENUMS:
        raise WeightsError(f"No ImageNet weights known for {arch!r}; choose one of {', '.join(WEIGHT_ENUMS)}.")
    return _URLS[arch]


def weights_path(arch: str = "vgg19") -> Path:
    """Where torchvision caches the ImageNet file, e.g. ``~/.cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth``."""
    name = os.path.basename(urlparse(weights_url(arch)).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def weights_available(arch: str = "vgg19") -> bool:
    """True when the ImageNet weights for ``arch`` are already in the cache (no network needed)."""
    return weights_path(arch).is_file()


def host_reachable(url: str, timeout: float | None = None) -> bool:
    """Can we open a TCP connection to the download host? Bounded in time even if DNS hangs.

    Always False when ``NSTLIB_OFFLINE`` is set; ``timeout`` defaults to :data:`PROBE_TIMEOUT_S`.
    """
    if os.environ.get("NSTLIB_OFFLINE"):
        return False
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    host = urlparse(url).hostname or ""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except Exception:  # OSError for no network; anything else is no better news
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(result and result[0])


def _missing_message(arch: str, why: str) -> str:
    path = weights_path(arch)
    return (
        f"{why} nstlib needs torchvision's ImageNet weights for {arch}, the file '{path.name}', in "
        f"'{path.parent}'. To fix: on a machine with internet run `python -m nstlib fetch-weights --arch {arch}` "
        f"(or `make fetch-weights`), or download {weights_url(arch)} and copy it into that folder "
        "(set TORCH_HOME to use another cache). Without them, weights='hed' with arch='vgg16' runs on HED's trained "
        "VGG-16 (installed by `make setup`), and weights='random' on random features."
    )


def fetch_imagenet(arch: str = "vgg19", progress: bool = True) -> Path:
    """torchvision's file for ``arch`` in torch's cache, downloaded (hash-checked) if it is not there."""
    path = weights_path(arch)
    if path.is_file():
        return path
    url = weights_url(arch)
    if not host_reachable(url):
        raise WeightsError(
            _missing_message(
                arch, f"The weights file is not cached and {urlparse(url).hostname} cannot be reached (offline?)."
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # torchvision's own route: download to a temporary file, check the sha256 prefix, rename
        torch.hub.load_state_dict_from_url(
            url, progress=progress, check_hash=True, weights_only=True, map_location="cpu"
        )
    except Exception as exc:  # network drop, disk full, hash mismatch
        raise WeightsError(_missing_message(arch, f"Downloading the weights failed ({exc}).")) from None
    return path


def _read_imagenet(arch: str) -> dict[str, torch.Tensor]:
    path = weights_path(arch)
    if not path.is_file():
        fetch_imagenet(arch)
    try:
        return features_only(arch, read_state_dict_file(path), f"'{path}'")
    except WeightsError as exc:  # a damaged file in the cache: say how to replace it
        raise WeightsError(
            f"{exc} It is torchvision's cached file: delete it, then run "
            f"`python -m nstlib fetch-weights --arch {arch}` to download it again."
        ) from None


def load_imagenet(arch: str, spec: WeightsSpec) -> dict[str, torch.Tensor]:
    """``weights="imagenet"``: torchvision's VGG file for ``arch`` (fetched if missing), checked. Cached."""
    return cache.cached_load(("imagenet", arch), weights_path(arch), lambda: _read_imagenet(arch))
