"""Style transfer for video with a short-term temporal loss (Ruder, Dosovitskiy & Brox, *Artistic Style Transfer
for Videos*, GCPR 2016).

Stylising each frame on its own makes the picture flicker: every frame's optimisation lands on another of the
many images that fit the loss. Ruder et al. tie each frame to the one before:

* **start** frame i from the stylised frame i−1 warped into frame i along the optical flow (``warm_start``);
* **temporal term**: λ (1/D) Σ_k c_k (x_k − ω_k)², with ω the warped previous result, D = 3·H·W and c the mask
  of :func:`nstlib.algorithms.flow.occlusion_mask` (0 where the flow is not reliable: occlusions, motion
  boundaries, points that left the frame) — added to :func:`nstlib.stylize`'s objective as ``extra_loss``.

:func:`flicker` measures the result: the mean |ω − x| over the reliable pixels, the same number for the
unstylised clip as the yardstick.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nstlib.algorithms.flow import FLOW_METHODS, occlusion_mask, optical_flow, warp
from nstlib.algorithms.transfer import stylize
from nstlib.errors import InputError, OutputError
from nstlib.images import check_image, to_pil, write_atomically

__all__ = ["stylize_video", "VideoResult", "temporal_loss", "flicker", "save_video"]

Flows = Sequence[torch.Tensor | None]


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s short-term temporal loss per image, (1/D) Σ_k c_k (x_k − ω_k)² with D = 3·H·W: shape (B,).

    ``warped`` (ω) and ``mask`` (c) are resized to ``image``'s size when they differ (a coarse stage).
    """
    if warped.shape[-2:] != image.shape[-2:]:
        warped = F.interpolate(warped, size=image.shape[-2:], mode="bilinear", align_corners=False)
        mask = F.interpolate(mask, size=image.shape[-2:], mode="bilinear", align_corners=False)
    return (mask * (image - warped).square()).flatten(1).sum(1) / (3 * image.shape[-2] * image.shape[-1])


@dataclass
class VideoResult:
    """The stylised frames (each (1, 3, H, W)), the seconds each took, and how each frame's run went."""

    frames: list[torch.Tensor]
    seconds: list[float]
    masks: list[torch.Tensor | None]  # c for frames 1, 2, … (None for frame 0)
    histories: list[dict[str, list[float]]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    def __repr__(self) -> str:
        per = sum(self.seconds) / max(len(self.seconds), 1)
        return f"VideoResult(frames={len(self.frames)}, {per:.2f} s per frame, interrupted={self.interrupted})"


def _flows(frames: list[torch.Tensor], flows: str | tuple[Flows, Flows]) -> tuple[Flows, Flows]:
    if isinstance(flows, str):
        if flows not in FLOW_METHODS:
            raise InputError(f"flows must be one of {', '.join(map(repr, FLOW_METHODS))} or (backward, forward).")
        estimated_b: list[torch.Tensor | None] = [None]
        estimated_f: list[torch.Tensor | None] = [None]
        for i in range(1, len(frames)):
            estimated_b.append(optical_flow(frames[i], frames[i - 1], flows))
            estimated_f.append(optical_flow(frames[i - 1], frames[i], flows))
        return estimated_b, estimated_f
    backward, forward = flows
    if len(backward) != len(frames) or len(forward) != len(frames):
        raise InputError(f"give one backward and one forward flow per frame (None for frame 0): {len(frames)} frames.")
    return backward, forward


def stylize_video(
    frames: Sequence[torch.Tensor],
    style: torch.Tensor | str | os.PathLike,
    *,
    temporal_weight: float = 200.0,
    warm_start: bool = True,
    flows: str | tuple[Flows, Flows] = "dis",
    first_steps: int | None = None,
    steps: int | None = None,
    progress: bool = True,
    **options: Any,
) -> VideoResult:
    """Stylise a clip frame by frame with Ruder et al.'s short-term temporal consistency.

    Args:
        frames: the clip, (1, 3, H, W) tensors of one size.
        style: the painting, as for :func:`nstlib.stylize`.
        temporal_weight: λ of the temporal term (0: none). With HED's default α, β, 200 halves the flicker of
            lesson 11's clip (mean |x − ω| on reliable pixels 0.059 frame by frame, 0.029 with it; the photo
            clip's own: 0.007).
        warm_start: start frame i from the warped stylised frame i−1 (pixels that came from outside the
            frame from frame i itself); False starts every frame from its photo.
        flows: ``"dis"`` or ``"farneback"`` (:func:`nstlib.algorithms.flow.optical_flow`), or the exact
            ``(backward, forward)`` lists of a :class:`nstlib.algorithms.flow.Clip`.
        first_steps, steps: loss evaluations for frame 0 and for the later frames (``None``: stylize's default
            schedule for frame 0, and half of its evaluations, 41, at full size for the rest: they start close).
        options: passed to every :func:`nstlib.stylize` call (weights, style_weight, device, …).

    Ctrl-C (or a frame that stops early) ends the clip: the result holds the frames done so far.
    """
    frames = [check_image(f, "frames") for f in frames]
    if not frames:
        raise InputError("frames is empty: give at least one (1, 3, H, W) frame.")
    if any(f.shape != frames[0].shape or f.shape[0] != 1 for f in frames):
        raise InputError("every frame must be one (1, 3, H, W) image of the same size.")
    if temporal_weight < 0:
        raise InputError(f"temporal_weight must be >= 0, got {temporal_weight}.")
    for name in ("init", "extra_loss", "content", "variants"):
        if name in options:
            raise InputError(f"stylize_video sets {name!r} itself for every frame; leave it out.")
    backward, forward = _flows(frames, flows) if len(frames) > 1 else ([None], [None])
    out = VideoResult(
        [],
        [],
        [],
        settings=dict(
            temporal_weight=temporal_weight, warm_start=warm_start, flows=flows if isinstance(flows, str) else "given"
        ),
    )
    bar = tqdm(total=len(frames), desc="stylize video", unit="frame", disable=not progress)
    try:
        for i, frame in enumerate(frames):
            start = time.perf_counter()
            run: dict[str, Any] = dict(options, progress=False)
            mask = None
            if i == 0:
                run["steps"] = first_steps
            else:
                b, f = backward[i], forward[i]
                assert b is not None and f is not None  # _flows checked it
                warped, inside = warp(out.frames[-1], b.to(frame.device))
                mask = occlusion_mask(b, f).to(frame.device)
                run["steps"] = 41 if steps is None else steps
                if warm_start:
                    run["init"] = inside * warped + (1 - inside) * frame
                if temporal_weight > 0:
                    omega, c = warped.detach(), mask
                    run["extra_loss"] = lambda x, omega=omega, c=c: temporal_weight * temporal_loss(x, omega, c)
            result = stylize(frame, style, **run)
            out.frames.append(result.image.detach())
            out.seconds.append(time.perf_counter() - start)
            out.masks.append(mask)
            out.histories.append(result.history)
            out.settings.setdefault("stylize", result.settings)
            bar.update(1)
            if result.interrupted:
                out.interrupted = True
                break
    except KeyboardInterrupt:
        out.interrupted = True
    finally:
        bar.close()
    return out


def flicker(
    frames: Sequence[torch.Tensor], backward: Flows, masks: Sequence[torch.Tensor | None] | None = None
) -> float:
    """Mean |ω_i − x_i| over the reliable pixels of frames 1, 2, …: ω_i is frame i−1 warped into frame i along
    ``backward[i]`` (frame i → i−1); ``masks[i]`` (1 = reliable) defaults to the pixels that stay in the frame."""
    total, count = 0.0, 0.0
    for i in range(1, len(frames)):
        b = backward[i]
        if b is None:
            raise InputError(f"no flow for frame {i}.")
        warped, inside = warp(frames[i - 1], b.to(frames[i].device))
        mask = inside if masks is None or masks[i] is None else masks[i].to(frames[i].device) * inside  # type: ignore[union-attr]
        total += float((mask * (warped - frames[i]).abs()).sum())
        count += 3 * float(mask.sum())
    if count == 0:
        raise InputError("flicker needs at least two frames with reliable pixels.")
    return total / count


def save_video(
    frames: Sequence[torch.Tensor], path: str | os.PathLike, fps: float = 8.0, overwrite: bool = False
) -> Path:
    """Write the frames as an animated GIF (``.gif``, looping) or an MP4 (``.mp4``, OpenCV); never replaces an
    existing file unless ``overwrite``, and never leaves half a file (written aside, then renamed)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise OutputError(f"save_video writes .gif or .mp4, not '{path.suffix}'.")
    if path.exists() and not overwrite:
        raise OutputError(f"'{path}' already exists; pass overwrite=True or choose another name.")
    if not path.parent.is_dir():
        raise OutputError(f"The folder '{path.parent}' does not exist; create it first.")
    if not frames or fps <= 0:
        raise InputError("save_video needs at least one frame and fps > 0.")
    images = [to_pil(f) for f in frames]
    if suffix == ".gif":
        buffer = io.BytesIO()
        images[0].save(
            buffer, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
        )
        data = buffer.getvalue()
    else:  # OpenCV writes MP4 to a file name only: into a scratch folder, then placed like the GIF
        import cv2
        import numpy as np

        with tempfile.TemporaryDirectory() as scratch:
            movie = str(Path(scratch) / "video.mp4")
            writer = cv2.VideoWriter(movie, cv2.VideoWriter_fourcc(*"mp4v"), fps, images[0].size)  # type: ignore[attr-defined]
            for image in images:
                writer.write(np.asarray(image)[:, :, ::-1])
            writer.release()
            data = Path(movie).read_bytes() if Path(movie).is_file() else b""
        if not data:
            raise OutputError(f"Could not write '{path}': OpenCV produced no MP4 data (no mp4v encoder?).")
    write_atomically(path, lambda handle: handle.write(data), overwrite)
    return path
