"""VGG's feature maps, interactively (ipywidgets): a layer slider and a grid of the chosen layer's maps.

In a notebook (it needs a front end to show anything)::

    from nstlib.course.browser import feature_browser
    browser = feature_browser(image, weights=setup.weights, layer="relu3_1")
    browser  # shows the sliders and the grid; browser.maps holds the maps shown

The logic sits in :class:`FeatureBrowser`, whose widgets are plain attributes, so a script or a test can move a
slider and look at ``.maps`` and ``.mosaic`` without a browser. :mod:`nstlib.course.widgets` (the style explorer)
exports it too. ``import nstlib`` does not import this module.
"""

from __future__ import annotations

import io
import math
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

try:
    import ipywidgets as W
except ImportError as exc:  # pragma: no cover - ipywidgets is in the lab and test extras
    raise ImportError(
        "nstlib.course.browser needs ipywidgets: `pip install ipywidgets` (it is in nst-kit's lab extra)."
    ) from exc

from nstlib.errors import InputError
from nstlib.images import check_image, load_image, to_pil
from nstlib.net.layers import layer_names
from nstlib.net.vgg import VGGFeatures
from nstlib.weights.sources import resolve_arch

__all__ = ["FeatureBrowser", "feature_browser", "ImageSource", "LABEL_STYLE"]

# An image as the explorers take it: a path, a (1, 3, H, W) tensor, or an uploaded file's bytes.
ImageSource = str | os.PathLike | torch.Tensor | bytes
# Every control's label gets this width, so that the explorers' sliders and dropdowns line up.
LABEL_STYLE = {"description_width": "110px"}


def _png(image: torch.Tensor | np.ndarray) -> bytes:
    picture = to_pil(image) if isinstance(image, torch.Tensor) else _array_to_pil(image)
    buffer = io.BytesIO()
    picture.save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def _array_to_pil(array: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray((np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8), mode="RGB")


class FeatureBrowser:
    """A layer slider over VGG and a grid of that layer's feature maps; see :func:`feature_browser`."""

    def __init__(
        self,
        image: ImageSource,
        arch: str | None = None,
        weights: str | os.PathLike | None = None,
        size: int = 128,
        channels: int = 16,
        ncols: int = 8,
        tile: int = 72,
        layer: str = "relu1_1",
        device: torch.device | str | None = None,
    ) -> None:
        arch = resolve_arch(arch, weights)
        if isinstance(image, (str, os.PathLike)):
            image = load_image(image, size=size)
        self.image = check_image(image)[:1].float()
        self.arch, self.weights, self.device = arch, weights, device
        self.channels, self.ncols, self.tile = int(channels), int(ncols), int(tile)
        if self.channels < 1 or self.ncols < 1 or self.tile < 1:
            raise InputError(f"channels, ncols and tile must be >= 1, got {channels}, {ncols}, {tile}.")
        names = layer_names(arch)
        if layer not in names:
            raise InputError(f"Unknown layer {layer!r} for {arch}; choose one of {', '.join(names)}.")
        self._cache: dict[str, torch.Tensor] = {}
        self.layer = W.SelectionSlider(
            options=names, value=layer, description="layer", continuous_update=False, layout=W.Layout(width="60%")
        )
        self.first = W.IntSlider(
            value=0,
            min=0,
            max=0,
            step=self.channels,
            description="first channel",
            continuous_update=False,
            style=LABEL_STYLE,
        )
        self.info = W.HTML()
        self.grid = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.maps: torch.Tensor = torch.empty(0)
        self.mosaic: np.ndarray = np.zeros((1, 1, 3))
        self._quiet = False  # True while refresh() itself adjusts the channel slider
        self.layer.observe(self._changed, names="value")
        self.first.observe(self._changed, names="value")
        self.widget = W.VBox([W.HBox([self.layer, self.first]), self.info, self.grid])
        self.refresh()

    def features(self, layer: str) -> torch.Tensor:
        """All of ``layer``'s maps for the image, (C, H, W) on the CPU (computed once per layer)."""
        if layer not in self._cache:
            vgg = VGGFeatures(self.arch, (layer,), weights=self.weights, device=self.device)
            with torch.no_grad():
                self._cache[layer] = vgg(self.image.to(vgg.device))[layer][0].float().cpu()
        return self._cache[layer]

    def _changed(self, _: object) -> None:
        """A slider moved: redraw, unless refresh() itself is adjusting it."""
        if not self._quiet:
            self.refresh()

    def refresh(self) -> None:
        """Recompute the grid for the current layer and first channel."""
        layer = self.layer.value
        feats = self.features(layer)
        count = feats.shape[0]
        top = max(0, math.ceil(count / self.channels) - 1) * self.channels
        self._quiet = True
        try:
            self.first.max = top  # may clamp .value
        finally:
            self._quiet = False
        start = self.first.value
        shown = feats[start : start + self.channels]
        low = shown.amin(dim=(1, 2), keepdim=True)
        span = shown.amax(dim=(1, 2), keepdim=True) - low
        # a map that is flat up to rounding (span below a millionth of the largest value shown) shows as flat,
        # not as its rounding noise stretched to full contrast
        flat = span <= 1e-6 * shown.abs().amax()
        self.maps = torch.where(flat, torch.zeros_like(shown), (shown - low) / span.clamp_min(1e-12))
        self.mosaic = self._tile(self.maps)
        self.grid.value = _png(self.mosaic)
        h, w = feats.shape[-2:]
        self.info.value = (
            f"<b>{layer}</b>: {count} channels of {h}×{w} px; showing {start}–{start + len(shown) - 1}, "
            "each scaled to its own min (dark) … max (bright)."
        )

    def _tile(self, maps: torch.Tensor) -> np.ndarray:
        """Maps (n, H, W) in [0, 1] → one RGB picture (viridis), tiles of ``tile`` px, 2 px white gaps."""
        from matplotlib import colormaps

        n, h, w = maps.shape
        scale = self.tile / max(h, w)
        th, tw = max(1, round(h * scale)), max(1, round(w * scale))
        mode = "nearest" if scale >= 1 else "area"  # keep deep layers' few pixels as visible blocks
        tiles = F.interpolate(maps[:, None], size=(th, tw), mode=mode)[:, 0].numpy()
        cols = min(self.ncols, n)
        rows = math.ceil(n / cols)
        gap = 2
        out = np.ones((rows * (th + gap) - gap, cols * (tw + gap) - gap, 3))
        colour = colormaps["viridis"]
        for i in range(n):
            r, c = divmod(i, cols)
            out[r * (th + gap) : r * (th + gap) + th, c * (tw + gap) : c * (tw + gap) + tw] = colour(tiles[i])[..., :3]
        return out

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def feature_browser(
    image: ImageSource, arch: str | None = None, weights: str | os.PathLike | None = None, **options: Any
) -> FeatureBrowser:
    """Slide through VGG's layers and see a grid of the chosen layer's feature maps for ``image``.

    ``image`` is a (1, 3, H, W) tensor or a path (loaded at ``size``, default 128). Maps are computed
    once per layer and cached; ``first channel`` pages through the channels ``channels`` at a time.
    Other options: ``size``, ``channels`` (16), ``ncols`` (8), ``tile`` (px per map), ``layer``, ``device``.
    """
    return FeatureBrowser(image, arch=arch, weights=weights, **options)
