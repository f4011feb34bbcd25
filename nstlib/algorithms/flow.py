"""Optical flow, warping and the occlusion mask of Ruder, Dosovitskiy & Brox (2016), for video style transfer.

A flow ``f`` of shape (1, 2, H, W) holds, for every pixel p = (x, y) of a frame ``a``, where that point of the
scene is in another frame ``b``: ``a(p) ≈ b(p + f(p))`` — ``f[:, 0]`` is the move along x (to the right),
``f[:, 1]`` along y (down), in pixels. So :func:`warp` (b, f) pulls ``b`` back into ``a``'s pixels.

* :func:`optical_flow` estimates it with a classical method from OpenCV (DIS or Farnebäck: no network, no
  download);
* :func:`camera_move` makes a clip by moving a window over a photo (pan and zoom) and returns the exact flows;
* :func:`occlusion_mask` marks where a flow can be trusted: Ruder et al.'s forward–backward check (a point that
  goes to the other frame and back must land where it started, else it was occluded) and motion boundaries.

    >>> frame = torch.rand(1, 3, 6, 8)
    >>> shift = torch.zeros(1, 2, 6, 8); shift[:, 0] = 1.0         # the scene is 1 px further right in b
    >>> b = torch.roll(frame, 1, dims=3)
    >>> warped, inside = warp(b, shift)
    >>> bool(torch.allclose(warped[..., :7], frame[..., :7], atol=1e-6)), int(inside.sum())
    (True, 42)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nstlib.algorithms.colour import luminance
from nstlib.errors import InputError
from nstlib.images import check_image, resize_image

__all__ = ["optical_flow", "warp", "occlusion_mask", "camera_move", "Clip", "FLOW_METHODS"]

FLOW_METHODS = ("dis", "farneback")


def _grey_uint8(image: torch.Tensor) -> np.ndarray:
    grey = luminance(check_image(image)[:1].detach().float().cpu())[0, 0]
    return (grey.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()


def optical_flow(a: torch.Tensor, b: torch.Tensor, method: str = "dis") -> torch.Tensor:
    """The flow from frame ``a`` to frame ``b`` (1, 2, H, W) with a(p) ≈ b(p + flow(p)), estimated by OpenCV.

    ``method``: ``"dis"`` (Kroeger et al.'s dense inverse search, OpenCV's "medium" preset: fast and good on
    large moves) or ``"farneback"`` (Farnebäck's polynomial expansion). Both see the luminance only.
    """
    a, b = check_image(a, "a"), check_image(b, "b")
    if a.shape[-2:] != b.shape[-2:]:
        raise InputError(f"optical_flow needs frames of one size, got {tuple(a.shape[-2:])} and {tuple(b.shape[-2:])}.")
    if method not in FLOW_METHODS:
        raise InputError(f"method must be one of {', '.join(map(repr, FLOW_METHODS))}, got {method!r}.")
    try:
        import cv2
    except ImportError:
        raise InputError(
            "optical_flow needs OpenCV: `python -m pip install opencv-python-headless` (make setup installs it)."
        ) from None
    ga, gb = _grey_uint8(a), _grey_uint8(b)
    if method == "dis":
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(ga, gb, None)  # type: ignore[attr-defined]
    else:
        flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 15, 5, 5, 1.1, 0)
    return torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1)[None].float().to(a.device)


def _sample(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``image`` read at the (fractional) pixel coordinates x, y (each (1, H', W')), bilinear."""
    h, w = image.shape[-2:]
    grid = torch.stack((2.0 * x / max(w - 1, 1) - 1.0, 2.0 * y / max(h - 1, 1) - 1.0), dim=-1)
    grid = grid.expand(image.shape[0], -1, -1, -1).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _pixels(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = flow.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=flow.dtype, device=flow.device),
        torch.arange(w, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    return xs[None], ys[None]


def _check_flow(flow: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(flow, torch.Tensor) or flow.dim() != 4 or flow.shape[:2] != (1, 2):
        raise InputError(f"a flow is a (1, 2, H, W) tensor, got {getattr(flow, 'shape', type(flow).__name__)}.")
    if tuple(flow.shape[-2:]) != tuple(size):
        raise InputError(f"the flow is {tuple(flow.shape[-2:])}, the image {tuple(size)}: they must match.")
    if not torch.isfinite(flow).all():
        raise InputError("the flow has NaN or infinite values.")
    return flow


def warp(image: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` pulled back along ``flow``: out(p) = image(p + flow(p)), bilinear; and where p + flow(p) lies
    inside the frame (1, 1, H, W, 1.0 or 0.0). Outside, ``out`` repeats the border: use the mask."""
    flow = _check_flow(flow.to(image.device, torch.float32), tuple(image.shape[-2:]))
    xs, ys = _pixels(flow)
    x, y = xs + flow[:, 0], ys + flow[:, 1]
    h, w = image.shape[-2:]
    inside = ((x >= -1e-4) & (x <= w - 1 + 1e-4) & (y >= -1e-4) & (y <= h - 1 + 1e-4)).float()[:, None]
    return _sample(image, x, y), inside


def occlusion_mask(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """Where the flow ``backward`` (frame i → frame i−1) can be trusted, (1, 1, H, W) of 1.0 and 0.0.

    Ruder et al. (2016, §3.2, after Sundaram et al. 2010), with ``forward`` the flow frame i−1 → frame i:
    * **occluded** where going back and forth does not return: |b + f̃|² > 0.01 (|b|² + |f̃|²) + 0.5, with
      f̃(p) = forward(p + b(p)), or where p + b(p) leaves the frame;
    * **motion boundary** where the flow changes fast: |∇b_x|² + |∇b_y|² > 0.01 |b|² + 0.002.
    """
    size = tuple(backward.shape[-2:])
    backward, forward = _check_flow(backward.float(), size), _check_flow(forward.float().to(backward.device), size)
    f_there, inside = warp(forward, backward)
    round_trip = (backward + f_there).square().sum(1, keepdim=True)
    scale = backward.square().sum(1, keepdim=True) + f_there.square().sum(1, keepdim=True)
    occluded = round_trip > 0.01 * scale + 0.5
    dx = F.pad(backward[..., :, 1:] - backward[..., :, :-1], (0, 1))
    dy = F.pad(backward[..., 1:, :] - backward[..., :-1, :], (0, 0, 0, 1))
    gradient = (dx.square() + dy.square()).sum(1, keepdim=True)
    boundary = gradient > 0.01 * backward.square().sum(1, keepdim=True) + 0.002
    return inside * (~occluded & ~boundary).float()


@dataclass
class Clip:
    """Frames made by a camera move, with the exact flows between neighbours.

    ``backward[i]`` is the flow frame i → frame i−1 and ``forward[i]`` frame i−1 → frame i (both ``None`` for
    i = 0), in :func:`optical_flow`'s convention.
    """

    frames: list[torch.Tensor]
    backward: list[torch.Tensor | None]
    forward: list[torch.Tensor | None]


def camera_move(
    photo: torch.Tensor,
    frames: int = 8,
    size: tuple[int, int] = (144, 192),
    pan: tuple[float, float] = (6.0, 0.0),
    zoom: float = 1.0,
    cover: float = 0.75,
) -> Clip:
    """A clip of ``frames`` frames of ``size`` (H, W): a window moving over ``photo``, and its exact flows.

    Frame t shows the photo's pixels s_t·p + c_t (p a frame pixel): the window covers ``cover`` of the photo's
    short side, its centre moves by ``pan`` (x, y) frame pixels per frame and it zooms in by ``zoom`` per frame
    (1.0: none; 1.02: 2 % per frame). The flow between frames follows from the two maps, exactly.
    """
    photo = check_image(photo, "photo")[:1]
    if frames < 1 or min(size) < 8 or not 0 < cover <= 1 or zoom <= 0:
        raise InputError(
            f"need frames >= 1, a size of at least 8x8, 0 < cover <= 1 and zoom > 0; got {frames}, "
            f"{size}, {cover}, {zoom}."
        )
    h, w = size
    s0 = cover * min(photo.shape[-2] / h, photo.shape[-1] / w)
    if s0 > 1:  # shrink the photo first (antialiased), so that frames sample it about 1:1 and do not alias
        photo = resize_image(photo, (round(photo.shape[-2] / s0), round(photo.shape[-1] / s0)))
        s0 = cover * min(photo.shape[-2] / h, photo.shape[-1] / w)
    big_h, big_w = photo.shape[-2:]
    scales = [s0 / zoom**t for t in range(frames)]
    middle = (frames - 1) / 2
    centres = [
        ((big_w - 1) / 2 + (t - middle) * pan[0] * s0, (big_h - 1) / 2 + (t - middle) * pan[1] * s0)
        for t in range(frames)
    ]
    offsets = [(cx - s * (w - 1) / 2, cy - s * (h - 1) / 2) for s, (cx, cy) in zip(scales, centres)]
    for s, (ox, oy) in zip(scales, offsets):
        if ox < 0 or oy < 0 or ox + s * (w - 1) > big_w - 1 or oy + s * (h - 1) > big_h - 1:
            raise InputError("the camera leaves the photo: use fewer frames, a smaller pan or a smaller cover.")
    xs, ys = _pixels(torch.zeros(1, 2, h, w, device=photo.device))
    clip = Clip([], [None], [None])
    for t, (s, (ox, oy)) in enumerate(zip(scales, offsets)):
        clip.frames.append(_sample(photo, s * xs + ox, s * ys + oy).clamp(0, 1))
        if t == 0:
            continue
        (sp, (px, py)) = scales[t - 1], offsets[t - 1]
        # frame t's pixel p shows the photo at s p + o; frame t-1 shows it at its pixel (s p + o - o') / s'
        back = torch.cat(((s * xs + ox - px) / sp - xs, (s * ys + oy - py) / sp - ys))[None]
        fwd = torch.cat(((sp * xs + px - ox) / s - xs, (sp * ys + py - oy) / s - ys))[None]
        clip.backward.append(back)
        clip.forward.append(fwd)
    return clip
