"""Model answers for lesson 11 (style transfer for video): for instructors.

Each top-level name is the exercise of the same name in ``nst.check``; ``nst.check.NAME.solution()`` shows it.
"""
from __future__ import annotations

import torch


# Ruder et al. (2016), eq. 7: (1/D) Σ_k c_k (x_k − ω_k)², D = 3·H·W. The mask (1, 1, H, W) broadcasts over the colours.
def temporal_loss_by_hand(x: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (mask * (x - warped).square()).sum() / x[0].numel()


# Frame i's pixel p shows the photo at s·p + c; frame i−1 shows that point at q with s_prev·q + c_prev = s·p + c.
def camera_flow(s_prev: float, c_prev: tuple[float, float], s: float, c: tuple[float, float],
                p: torch.Tensor) -> torch.Tensor:
    q = (s * p + torch.tensor(c) - torch.tensor(c_prev)) / s_prev
    return q - p


# The camera pans right by 3 px per frame, so the scene moves 3 px left in the picture: the rightmost 3 columns of
# frame i show what frame i−1 never saw. Their backward flow points outside frame i−1 (p + b(p) > W − 1), so the
# occlusion mask is 0 there and stylize_video starts them from the photo.
pan_new_pixels = {"side": "right", "columns": 3}


# Exercise 4 (no automatic check): how much temporal weight?
def temporal_weight_sweep(clip, style, setup, weights=(0.0, 20.0, 200.0, 2000.0)):
    """λ trades flicker against style, and the trade is steep at first, then flat.

    With λ = 0 (and the warm start) each frame is free to drift from the warped previous one wherever the style
    loss prefers; the flicker is far above the photo clip's own. A small λ already removes most of it: the
    warm start puts every reliable pixel at the warped previous result, and the temporal term only has to keep
    it there against the pull of the style. Raising λ further buys little more stability but starts to fight the
    content term on pixels whose appearance really changes (the zoom magnifies them, the flow is slightly off),
    so the last frame's style term grows a little: those pixels keep the previous frame's strokes instead of
    being painted afresh. In quick mode (tiny frames, few steps) the differences are small; at laptop size the
    flicker falls several-fold from λ = 0 to λ = 200 and the style term of the last frame changes by a few per
    cent. The kit's default, λ = 200, sits where the curve flattens. What to add before trusting it: more than
    one clip (a zoom and a pan), the estimated flow as well as the exact one, and a look at the animation — the
    flicker number averages over the reliable pixels only and says nothing about the new strip at the edge.
    """
    import matplotlib.pyplot as plt

    import nstlib as nst

    flows = (clip.backward, clip.forward)
    points = []
    for lam in weights:
        run = nst.stylize_video(clip.frames, style, flows=flows, temporal_weight=lam, weights=setup.weights,
                                device=setup.device, first_steps=setup.steps, steps=setup.steps // 2, progress=False)
        masks = [None] + [nst.occlusion_mask(b, f) for b, f in zip(clip.backward[1:], clip.forward[1:])]
        points.append((nst.flicker(run.frames, clip.backward, masks), run.histories[-1]["style"][-1]))
        print(f"λ = {lam:6g}: flicker {points[-1][0]:.4f}, last frame's style term {points[-1][1]:.4g}")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-")
    for lam, (x, y) in zip(weights, points):
        ax.annotate(f"λ={lam:g}", (x, y))
    ax.set_xlabel("flicker (mean |ω − x| on reliable pixels)")
    ax.set_ylabel("last frame's style term")
    return points
