"""Model answers for lesson 05 (style transfer). For instructors.

Each top-level name is what ``nst.check.<name>`` expects; ``nst.check.<name>.solution()`` shows it with the
comments just above it. tests/test_check_transfer.py and tests/test_exercises.py feed them to the checkers.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


# Exercise 1. Section 1's total loss in nstlib's mean conventions, the ones the lesson's loop and nst.stylize use:
# α·mean (F − P)² + β·Σ_l w_l·mean (G_l − A_l)² with G_l = F Fᵀ/(N_l·M_l) per image, + γ·L_TV of the image itself
# (not clamped: the loop clamps after each step). nstlib's pieces sum over the images of a batch.
def total_loss_by_hand(F: torch.Tensor, P: torch.Tensor, S: dict, A: dict, w: dict, x: torch.Tensor,
                       alpha: float, beta: float, gamma: float) -> torch.Tensor:
    import nstlib as nst

    style = sum(w[l] * nst.style_loss(nst.gram_matrix(S[l], normalize="chw"), A[l]) for l in S)
    return alpha * nst.content_loss(F, P) + beta * style + gamma * nst.tv_loss(x, p=1)


# Exercise 2. The closure is what L-BFGS calls whenever it needs the loss and its gradient at the current x (once
# per step in the lesson's loop, up to 25 times with torch's defaults). Each call starts from an empty gradient
# (backward() adds to x.grad), computes the loss of x itself (not of a detached copy, not of x.clamp(0, 1), which
# passes no gradient to a pixel at 0 or 1), leaves its gradient in x.grad and returns it. Nothing else: no clamp
# (L-BFGS keeps track of where it put x; the loop clamps after the step, under torch.no_grad()) and no
# optimizer.step (the loop calls opt.step(closure)). L-BFGS only calls float() on the returned loss, so
# `return loss.item()` would do as well.
def make_closure(x: torch.Tensor, optimizer: torch.optim.Optimizer,
                 objective: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], torch.Tensor]:
    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective(x)
        loss.backward()
        return loss

    return closure


# Exercise 3. Gatys' content term ½ Σ (F − P)² has one term per position of relu4_2 (M_c = H_c·W_c grows with
# the square of the side); E_l = 1/(4 N² M²) Σ (G − A)² is size-free. To keep α·L_content : β·L_style, α/β must
# shrink by M_new/M_old = (new/old)².
def gatys_ratio_at(ratio: float, old_side: int, new_side: int) -> float:
    return ratio * (old_side / new_side) ** 2


# Exercise 4. A hook receives the module's output tensor itself; the in-place ReLU that follows a conv then
# rectifies that very tensor. Keep a clone (still part of the graph), and remove the hooks whatever happens.
def hooked_features(model: nn.Sequential, taps: dict[str, int], image: torch.Tensor) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    handles = []

    def keep(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            out[name] = output.clone()  # a copy: the in-place ReLU after a conv cannot overwrite it
        return hook

    try:
        for name, index in taps.items():
            handles.append(model[index].register_forward_hook(keep(name)))
        model(image)
    finally:
        for handle in handles:
            handle.remove()  # leave the model as it was
    return out


# Exercise 5. L-BFGS (nstlib's: lr=1, max_iter=1) takes a first step lr·g/Σ|g| and then scales its steps by the
# curvature s·y/y·y, which a constant factor cancels — for a power of two such as 4, bit for bit. Adam divides m̂ by
# √v̂ + ε: the factor cancels between m̂ and √v̂ but not against ε, c·m̂/(c·√v̂ + ε) = m̂/(√v̂ + ε/c), so ×4 on the
# loss is Adam with ε/4 — with a pixel's small gradients the steps change in their last digits: a different image,
# though only just (torch.equal says False, the eye sees nothing). Plain gradient descent moves by lr·∇L, four times
# as far. The history holds the weighted terms: ×4.
loss_scale = {"lbfgs": "same", "adam": "different", "gradient descent": "different", "history factor": 4}


# Exercise 6. Two runs that differ only in the seed of their white noise: do they end in the same image?
# Measured at the lesson's size the two final losses are within a few per cent of each other, the pixels differ
# about as much as a styled image differs from its photo, and the 4×4 layout correlation is high: the loss has
# many minima of (nearly) the same value, which differ where the loss does not look (where each stroke falls —
# Gram matrices forget positions) and agree where it does (the layout relu4_2 pins down). So "the" result of
# style transfer is one sample among many; the seed is part of the recipe, like α/β.
def seed_experiment(content: torch.Tensor, style: torch.Tensor, **options) -> dict:
    import nstlib as nst

    runs = [nst.stylize(content, style, init="noise", seed=seed, **options) for seed in (0, 1)]
    x0, x1 = (run.image for run in runs)

    def layout(image: torch.Tensor, reference: torch.Tensor, blocks: int = 4) -> float:  # lesson 05, section 3
        a, b = (F.adaptive_avg_pool2d(nst.luminance(x.cpu())[:, :1], blocks).flatten() for x in (image, reference))
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / (a.norm() * b.norm() + 1e-12))

    return {"losses": tuple(min(run.history["total"]) for run in runs),  # the returned image is the best evaluated
            "gap": float((x0 - x1).abs().mean()),
            "layout": layout(x0, x1)}
