"""Checkers for lesson 11 (video): the temporal loss by hand, which pixels a pan brings in, and how λ trades
flicker against style.

Oracles: :func:`nstlib.temporal_loss` (Ruder et al. 2016: (1/D) Σ_k c_k (x_k − ω_k)², D = 3·H·W) with autograd's
gradient 2 c (x − ω) / D, and a real camera move (:func:`nstlib.camera_move`) with its exact flow and
:func:`nstlib.occlusion_mask`. Each checker recognises the usual wrong answers and says which one it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nstlib.algorithms.flow import camera_move, warp
from nstlib.algorithms.video import temporal_loss
from nstlib.course.check._core import (
    CheckResult,
    NotAnswered,
    call_safely,
    close,
    exercise,
    failed,
    generator,
    not_a_loss,
    open_exercise,
    passed,
)

__all__ = ["temporal_loss_by_hand", "camera_flow", "pan_new_pixels", "temporal_weight_sweep"]


def _cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    g = generator(110)
    cases = []
    for h, w in ((3, 4), (5, 7), (6, 6)):
        x, warped = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)
        mask = (torch.rand(1, 1, h, w, generator=g) > 0.3).float()
        cases.append((x, warped, mask))
    return cases


def _slips(x: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    d = (x - warped).square()
    h, w = x.shape[-2:]
    return [
        ((mask * d).sum() / mask.sum(), "divides by the reliable pixels Σc instead of D = 3·H·W"),
        ((mask * d).sum() / (3 * mask.sum()), "divides by 3·Σc, the reliable values, instead of D = 3·H·W"),
        (d.sum() / (3 * h * w), "ignores the mask: occluded pixels and those that came from outside count too"),
        ((mask * d).sum() / (h * w), "divides by H·W; D = 3·H·W counts the three colour channels"),
        ((mask * d).sum(), "is the sum, without dividing by D = 3·H·W"),
        (((1 - mask) * d).sum() / (3 * h * w), "uses 1 − c: the mask is 1 where the flow is *reliable*"),
        ((mask * (x - warped).abs()).sum() / (3 * h * w), "uses |x − ω|; Ruder et al. square the difference"),
    ]


@exercise(
    lesson=11,
    number=1,
    title="the temporal loss",
    level="one line",
    hint="square x − ω entry by entry, multiply by the mask c (shape (1, 1, H, W) broadcasts over the three "
    "channels), add everything up and divide by D = 3·H·W. Keep it a torch tensor: no .item(), no .detach().",
)
def temporal_loss_by_hand(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Exercise: ``fn(x, warped, mask)`` = (1/D) Σ_k c_k (x_k − ω_k)², D = 3·H·W, as a differentiable 0-d tensor."""
    for x, warped, mask in _cases():
        where = f"for {tuple(x.shape[-2:])} frames"
        probe = x.clone().requires_grad_(True)
        got, error = call_safely(fn, probe, warped.clone(), mask.clone())
        if error is not None:
            return error
        problem = not_a_loss(got, where, "pixels and channels", source="x")
        if problem is not None:
            return problem
        assert isinstance(got, torch.Tensor)
        want = temporal_loss(x, warped, mask)[0]
        value = float(got.detach())
        if abs(value - float(want)) > 1e-5 * abs(float(want)):
            for slip, text in _slips(x, warped, mask):
                if abs(value - float(slip)) <= 1e-5 * abs(float(slip)):
                    return failed(f"{where} your loss {text}.")
            return failed(f"{where} your loss is {value:.6g}, expected (1/D) Σ c (x − ω)² = {float(want):.6g}.")
        (grad,) = torch.autograd.grad(got, probe, allow_unused=True)
        if grad is None:
            return failed(f"{where} your loss does not depend on x: autograd finds no path from it back to x.")
        problem = close(grad, 2 * mask * (x - warped) / x[0].numel(), f"{where} autograd's ∂(your loss)/∂x")
        if problem is not None:
            return problem
    return passed(
        "(1/D) Σ c (x − ω)², Ruder et al.'s short-term temporal loss: zero where the flow is unreliable, and divided by "
        "every value of the frame, so that λ means the same at any size and however much is occluded. The lesson's "
        "loop below now uses your function."
    )


def _camera_cases() -> list[tuple[float, tuple[float, float], float, tuple[float, float], torch.Tensor]]:
    g = generator(112)
    cases = []
    for _ in range(4):
        s_prev, s = (float(v) for v in 1 + torch.rand(2, generator=g))
        cx_prev, cy_prev, cx, cy = (float(v) for v in 40 * torch.rand(4, generator=g))
        c_prev, c = (cx_prev, cy_prev), (cx, cy)
        points = 30 * torch.rand(5, 2, generator=g)
        cases.append((s_prev, c_prev, s, c, points))
    return cases


@exercise(
    lesson=11,
    number=2,
    title="the flow of a camera",
    level="a few lines",
    hint="frame i's pixel p shows the photo's point s·p + c; find the pixel q of frame i−1 that shows the same point, "
    "s_prev·q + c_prev = s·p + c, solve for q, and return q − p (x and y at once: p is an (n, 2) tensor).",
)
def camera_flow(fn: Callable[..., Any]) -> CheckResult:
    """Exercise: ``fn(s_prev, c_prev, s, c, p)`` = the backward flow b(p) = (s·p + c − c_prev)/s_prev − p, for
    points p of shape (n, 2) (x, y) and offsets c = (c_x, c_y)."""
    for s_prev, c_prev, s, c, points in _camera_cases():
        got, error = call_safely(fn, s_prev, c_prev, s, c, points.clone())
        if error is not None:
            return error
        cp, cc = torch.tensor(c_prev), torch.tensor(c)
        want = (s * points + cc - cp) / s_prev - points
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            return failed(f"return a tensor of the points' shape {tuple(points.shape)}, one (x, y) flow per point.")
        if torch.allclose(got, want, atol=1e-4):
            continue
        slips = [
            ((s * points + cc - cp) / s_prev, "is where the point is in frame i−1, q; the flow is q − p"),
            ((s_prev * points + cp - cc) / s - points, "is the forward flow (frame i−1 → frame i): swap the frames"),
            (s * points + cc - cp - points, "forgets to divide by s_prev, the scale of frame i−1"),
            ((s * points + cc - cp) / s - points, "divides by s, frame i's scale; q is in frame i−1's pixels: s_prev"),
        ]
        for slip, text in slips:
            if torch.allclose(got, slip, atol=1e-4):
                return failed(f"your flow {text}.")
        return failed(f"for s_prev={s_prev:.3f}, s={s:.3f} your flow differs from (s·p + c − c_prev)/s_prev − p.")
    return passed(
        "b(p) = (s·p + c − c_prev)/s_prev − p: for a pan alone (s = s_prev) it is the same vector everywhere, "
        "(c − c_prev)/s; a zoom adds a part that grows with the distance from the centre. nst.camera_move "
        "computes exactly this for every pixel."
    )


_PAN = 3  # frame pixels per frame, to the right


def _measured_new_columns() -> tuple[str, int]:
    photo = torch.rand(1, 3, 80, 120, generator=generator(111))
    clip = camera_move(photo, frames=2, size=(32, 40), pan=(float(_PAN), 0.0), cover=0.4)
    back, fwd = clip.backward[1], clip.forward[1]
    assert back is not None and fwd is not None
    _, inside = warp(clip.frames[0], back)
    outside = (1 - inside)[0, 0].bool().all(dim=0)  # columns with no source in the previous frame
    cols = outside.nonzero().flatten().tolist()
    side = "right" if cols and cols[0] >= outside.numel() // 2 else "left"
    return side, len(cols)


@exercise(
    lesson=11,
    number=3,
    title="what a pan brings in",
    level="predict and explain",
    hint="the camera moves right, so the scene moves left in the picture. Which edge of frame i shows what frame "
    "i−1 never saw, and how many columns wide is that strip for a pan of 3 px per frame?",
)
def pan_new_pixels(answer: Any) -> CheckResult:
    """Exercise: ``{"side": "left" or "right", "columns": n}`` — the strip of frame i with no source in frame i−1."""
    if answer is ... or answer is None or answer == "":
        raise NotAnswered
    if not isinstance(answer, dict) or set(answer) != {"side", "columns"}:
        return failed('answer with a dict {"side": "left" or "right", "columns": a number}.')
    side, count = _measured_new_columns()
    if answer["side"] is ... or answer["columns"] is ...:
        raise NotAnswered
    if answer["side"] not in ("left", "right"):
        return failed(f'"side" is "left" or "right", not {answer["side"]!r}.')
    if answer["side"] != side:
        return failed(
            f"the new strip is on the {side}, not the {answer['side']}: the camera pans right, so every point of the "
            f"scene moves left in the frame, and what enters comes in at the {side} edge."
        )
    try:
        columns = int(answer["columns"])
    except (TypeError, ValueError):
        return failed(f'"columns" is a number of pixel columns, not {answer["columns"]!r}.')
    if columns != count:
        return failed(
            f"the {side} strip is {count} columns wide (measured with nst.camera_move and nst.warp), not {columns}: "
            f"a pan of {_PAN} px per frame moves the scene by {_PAN} px between neighbouring frames."
        )
    return passed(
        f"the {side}most {count} columns: a pan of {_PAN} px per frame moves the scene {_PAN} px left, so those "
        "columns show what frame i−1 never saw. The occlusion mask is 0 there, the temporal term leaves them free, "
        "and stylize_video starts them from the photo."
    )


temporal_weight_sweep = open_exercise(
    "temporal_weight_sweep",
    lesson=11,
    number=4,
    title="how much temporal weight?",
    hint="run stylize_video on the lesson's clip with λ = 0, 20, 200 and 2000 (the exact flows, the same steps); for "
    "each measure nst.flicker and the last frame's style term, and plot one against the other.",
)
