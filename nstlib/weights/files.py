"""Weights files in torchvision's format: reading one safely, and checking it against a VGG.

:func:`read_state_dict_file` turns every way a file can be wrong (missing, empty, a folder, an HTML
page saved as .pth, a pickle that would run code, NaNs) into one clear :class:`WeightsError`;
:func:`features_only` checks every key and shape against the architecture and keeps VGG's
``features``. :func:`load_file` is the loader of ``weights="path/to/file.pth"``.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import torch

from nstlib.errors import WeightsError
from nstlib.net.layers import VGG_BLOCKS, conv_shapes
from nstlib.weights import cache
from nstlib.weights.spec import WeightsSpec

__all__ = ["read_state_dict_file", "features_only", "load_file", "sha256_file"]


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes as hex, read in 1 MiB blocks (weights files are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        raise WeightsError(
            f"Weights file '{path}' does not exist. Check the path, or use weights='imagenet' or 'random'."
        )
    if path.stat().st_size == 0:
        raise WeightsError(
            f"Weights file '{path}' is empty (0 bytes): the download or copy did not finish. "
            "Delete it and download it again."
        )
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
        raise WeightsError(
            f"'{path}' is not a readable weights file: it is corrupt, or something else (an HTML "
            "error page?) saved under that name. Delete it and download it again."
        ) from None
    except Exception as exc:  # truncated zip, random bytes, wrong format
        raise WeightsError(
            f"'{path}' is corrupt or truncated and cannot be loaded ({type(exc).__name__}). Delete it and download it again."
        ) from None
    for key in ("state_dict", "model"):  # training checkpoints wrap the state dict
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(
            f"'{path}' does not hold a state dict (a mapping of names to tensors). "
            "Save one with torch.save(model.state_dict(), path)."
        )
    broken = [k for k, v in data.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise WeightsError(
            f"'{path}' has NaN or infinite values in {broken[:3]}: the weights are damaged "
            "(a diverged training run?). Use another file."
        )
    return data


def _guess_arch(state: dict) -> str | None:
    for arch in VGG_BLOCKS:
        expected = conv_shapes(arch)
        if (
            all(k in state and tuple(state[k].shape) == s for k, s in expected.items())
            and len([k for k in state if k.startswith("features.") and k.endswith("weight")]) == len(expected) // 2
        ):
            return arch
    return None


def features_only(arch: str, state: dict, source: str) -> dict[str, torch.Tensor]:
    """Keep the ``features.*`` tensors after checking every key and shape against ``arch``.

    ``source`` says where the weights came from, for the error message (e.g. ``"'vgg.pth'"``).
    """
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
            hint = (
                f" Use a state dict of torchvision's {arch} (or of its .features), weights='imagenet', "
                "or weights='random'."
            )
        raise WeightsError(f"Weights from {source} do not fit {arch} ({detail}).{hint}")
    return {k: state[k].detach().float() for k in expected}


def load_file(arch: str, spec: WeightsSpec) -> dict[str, torch.Tensor]:
    """``weights="path/to/file.pth"``: a state dict in torchvision's format, checked against ``arch``. Cached."""
    path = Path(spec.key)
    return cache.cached_load(
        ("file", arch, spec.key), path, lambda: features_only(arch, read_state_dict_file(path), f"'{spec.key}'")
    )
