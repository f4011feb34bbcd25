"""Lesson 11's checkers: right answers pass, stubs get "Not yet", the usual mistakes are named."""

from __future__ import annotations

import torch

import nstlib as nst

WRONG_ANSWERS = {
    "temporal_loss_by_hand": [
        (lambda x, w, c: (c * (x - w).square()).sum() / c.sum(), "divides by the reliable pixels"),
        (lambda x, w, c: (x - w).square().mean(), "ignores the mask"),
        (lambda x, w, c: (c * (x - w).square()).sum() / (x.shape[-1] * x.shape[-2]), "divides by H·W"),
        (lambda x, w, c: ((1 - c) * (x - w).square()).sum() / x[0].numel(), "uses 1 − c"),
        (lambda x, w, c: (c * (x - w).abs()).sum() / x[0].numel(), "square the difference"),
        (lambda x, w, c: (c * (x - w).square()).sum().item() / x[0].numel(), "tensor"),
        (lambda x, w, c: (c * (x - w.detach()).square()).sum().detach() / x[0].numel(), "autograd"),
    ],
    "camera_flow": [
        (lambda sp, cp, s, c, p: (s * p + torch.tensor(c) - torch.tensor(cp)) / sp, "q − p"),
        (lambda sp, cp, s, c, p: (sp * p + torch.tensor(cp) - torch.tensor(c)) / s - p, "forward flow"),
        (lambda sp, cp, s, c, p: s * p + torch.tensor(c) - torch.tensor(cp) - p, "divide by s_prev"),
        (lambda sp, cp, s, c, p: p[:, 0], "one (x, y) flow per point"),
    ],
    "pan_new_pixels": [
        ({"side": "left", "columns": 3}, "not the left"),
        ({"side": "right", "columns": 6}, "not 6"),
        ({"side": "up", "columns": 3}, '"side" is "left" or "right"'),
        ("right", "answer with a dict"),
    ],
}


def test_temporal_loss_by_hand_passes_the_library_formula() -> None:
    result = nst.check.temporal_loss_by_hand(lambda x, w, c: nst.temporal_loss(x, w, c)[0])
    assert result.ok, str(result)


def test_pan_new_pixels_is_measured_not_stored() -> None:
    from nstlib.course.check import video

    assert video._measured_new_columns() == ("right", video._PAN)
    assert nst.check.pan_new_pixels({"side": "right", "columns": video._PAN}).ok


def test_a_half_answered_pan_is_not_yet() -> None:
    result = nst.check.pan_new_pixels({"side": ..., "columns": 3})
    assert not result.ok and "not answered yet" in str(result)
