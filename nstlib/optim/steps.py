"""What one optimiser step does beyond torch's own optimisers: DeepDream's normalised step, and L-BFGS's step cap.

* :class:`NormalizedStep` — x ← x − lr · d / mean|d| (the loop's ``optimizer="normalized"``);
* :func:`cap_step` — shorten a step of torch's L-BFGS so that no pixel moves by more than ``max_step``
  (the loop does it after every L-BFGS step, :data:`DEFAULT_MAX_STEP` unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["DEFAULT_MAX_STEP", "NormalizedStep", "cap_step"]

# The most any pixel may change in one L-BFGS step (colour range 0-1). Without it, torch's L-BFGS overshoots at
# its second or third step, by up to two orders of magnitude of loss; 0.25 removed every jump and was the best of
# the caps and line searches measured (BENCHMARKS.md, "An optimiser that does not overshoot").
DEFAULT_MAX_STEP = 0.25


class NormalizedStep(torch.optim.Optimizer):
    """x ← x − lr · d / (mean|d| + 1e-8) with d = x.grad, the mean over each image's (C, H, W).

    The step's size is lr in mean absolute pixel change, whatever the gradient's scale (the 1e-8
    only guards a zero gradient). It has no state: each step depends on this gradient alone.
    """

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad  # (B, C, H, W)
                mean_abs = d.abs().mean(dim=tuple(range(1, d.dim())), keepdim=True)  # (B, 1, 1, 1)
                p.sub_(group["lr"] * (d / (mean_abs + 1e-8)))
        return loss


def cap_step(opt: torch.optim.Optimizer, x: torch.Tensor, before: torch.Tensor, max_step: float) -> float:
    """Shorten the step an L-BFGS ``opt`` just took from ``before`` to ``x`` so that no pixel moved by more than
    ``max_step``; returns the factor the step was multiplied by (1.0: it was short enough).

    L-BFGS learns the curvature from the pairs (step taken, change of gradient), and it computes the step it
    took as its direction times its step length ``t``, kept in ``opt.state[x]``. A shortened step therefore
    also scales ``t``, so that the next pair is the step really taken.

    >>> x = torch.zeros(4, requires_grad=True)
    >>> opt = torch.optim.LBFGS([x], lr=1, max_iter=1)
    >>> def closure():
    ...     opt.zero_grad(); loss = ((x - torch.tensor([0.0, 1.0, 2.0, 4.0])) ** 2).sum(); loss.backward()
    ...     return loss
    >>> before = x.detach().clone(); _ = opt.step(closure); _ = opt.step(closure)   # the second step is long
    >>> before = x.detach().clone(); _ = opt.step(closure)
    >>> factor = cap_step(opt, x, before, 0.25); bool((x - before).abs().max() <= 0.25 + 1e-6)
    True
    """
    with torch.no_grad():
        move = x - before
        largest = float(move.abs().max())
        if not largest > max_step:
            return 1.0
        factor = max_step / largest
        x.copy_(before + move * factor)
        opt.state[x]["t"] = opt.state[x]["t"] * factor
        return factor
