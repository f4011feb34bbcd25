"""Pictures for the lessons: image grids, feature maps and loss curves (matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure, SubFigure

from nstlib.errors import InputError
from nstlib.images import check_image

__all__ = ["show_images", "show_feature_maps", "plot_losses"]


def _split(images: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        images = [images]
    out: list[torch.Tensor] = []
    for image in images:
        batch = check_image(image)
        out.extend(batch[i] for i in range(batch.shape[0]))
    return out


def show_images(
    images: torch.Tensor | Sequence[torch.Tensor],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 3.0,
) -> Figure:
    """Show images (tensors of shape (B, 3, H, W) or (3, H, W) in [0, 1]) in a grid; returns the figure.

    >>> fig = show_images([torch.rand(1, 3, 32, 32)] * 2, titles=["a", "b"])
    """
    tiles = _split(images)
    ncols = ncols or min(len(tiles), 4)
    nrows = math.ceil(len(tiles) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(tiles):
            ax.imshow(tiles[i].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy())
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=10)
    fig.tight_layout()
    return fig


def show_feature_maps(features: torch.Tensor, channels: int = 16, ncols: int = 8, title: str | None = None) -> Figure:
    """Show the first ``channels`` maps of a (1, C, H, W) activation, each scaled to its own range."""
    maps = features.detach()[0, :channels].float().cpu()
    nrows = math.ceil(len(maps) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.4 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(maps):
            ax.imshow(maps[i].numpy(), cmap="viridis")
            ax.set_title(f"ch {i}", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_losses(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    log: bool = True,
    ax: plt.Axes | None = None,
) -> Figure:
    """Loss curves per component from a ``TransferResult.history`` (default: total, content, style, tv)."""
    keys = list(keys) if keys is not None else [k for k in ("total", "content", "style", "tv") if k in history]
    fig: Figure | SubFigure
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
        if not isinstance(fig, Figure):  # a SubFigure, which cannot tight_layout() below
            raise InputError(
                "plot_losses draws into an Axes of a whole Figure, not of a SubFigure; pass such an ax, "
                "or none for a new figure."
            )
    for key in keys:
        values = history[key]
        ax.plot(range(1, len(values) + 1), values, label=key)
    ax.set_xlabel("step (loss evaluations)")
    ax.set_ylabel("loss")
    if log and all(v > 0 for k in keys for v in history[k]):
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
