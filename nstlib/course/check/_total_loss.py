"""Lesson 05's first exercise, the total loss by hand: its checker and ``.works``, which the lesson uses to decide
whether its L-BFGS loop (and Appendix B's comparison) runs the learner's function or nstlib's pieces.

Oracle: nstlib's mean conventions, the ones the lesson's loop and :func:`nstlib.stylize` use,
α·content_loss(F, P) + β·Σ_l w_l·style_loss(gram_matrix(S_l, "chw"), A_l) + γ·tv_loss(x, p=1), each summed over
the images of a batch, and autograd's gradients of it with respect to the features and the pixels. The cases have
α, β, γ, the w_l, N, M and N·M all different, a batch of two images and pixels outside [0, 1], so that each usual
slip (the ½-sum convention, a Gram matrix of the batch, a wrong N·M, β twice, w_l ignored, no TV, TV with α,
clamping inside the graph …) gives its own number.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.course.check._core import CheckResult, call_safely, close, exercise, failed, generator, not_a_loss, passed
from nstlib.loss.functional import content_loss, gram_matrix, style_loss, tv_loss

__all__ = ["total_loss_by_hand"]

_Case = tuple[torch.Tensor, torch.Tensor, dict, dict, dict, torch.Tensor, float, float, float]


def _cases() -> list[_Case]:
    g = generator(50)
    cases: list[_Case] = []
    for b, spread in ((1, 1.0), (1, 1.4), (2, 1.0)):  # the second: pixels a little outside [0, 1]; the third: a batch
        F = torch.randn(b, 6, 3, 5, generator=g)
        P = torch.randn(1, 6, 3, 5, generator=g)
        S = {"s1": torch.randn(b, 4, 6, 7, generator=g).relu(), "s2": torch.randn(b, 8, 2, 3, generator=g).relu()}
        A = {k: gram_matrix(torch.randn(1, *v.shape[1:], generator=g).relu(), normalize="chw") for k, v in S.items()}
        w = {"s1": 0.3, "s2": 0.7}
        x = torch.rand(b, 3, 9, 11, generator=g) * spread - (spread - 1) / 2
        cases.append((F, P, S, A, w, x, 1.7, 23.0, 0.6))
    return cases


def _total(
    F: torch.Tensor,
    P: torch.Tensor,
    S: dict,
    A: dict,
    w: dict,
    x: torch.Tensor,
    alpha: float,
    beta: float,
    gamma: float,
    content: str = "mean",
    gram: str = "chw",
    style: str = "mean",
    weights: str = "w",
    tv: str = "gamma",
) -> torch.Tensor:
    """The total loss, and, by its options, the usual slips."""
    L_c = content_loss(F, P, reduction="gatys" if content == "half-sum" else content)  # type: ignore[arg-type]

    def G(f: torch.Tensor) -> torch.Tensor:
        if gram == "batch":  # one Gram matrix of all the images' positions together
            b, n, h, ww = f.shape
            flat = f.transpose(0, 1).reshape(n, b * h * ww)
            return (flat @ flat.T / (n * h * ww))[None]
        return gram_matrix(f, normalize=None if gram == "raw" else gram)  # type: ignore[arg-type]

    E = {k: style_loss(G(S[k]), A[k], reduction=style) for k in S}  # type: ignore[arg-type]
    L_s = sum((E[k] if weights == "none" else w[k] * E[k]) for k in S)
    if weights == "twice":
        L_s = beta * L_s
    L_tv = tv_loss(x.clamp(0, 1) if tv == "clamped" else x, p=1)
    tv_weight = {"gamma": gamma, "alpha": alpha, "none": 0.0, "clamped": gamma}[tv]
    return alpha * L_c + beta * L_s + tv_weight * L_tv


_SLIPS = [
    (
        dict(content="half-sum"),
        "uses Gatys' ½ Σ (F − P)² for the content term. The lesson's loop and its α, β, γ use nstlib's *mean* "
        "conventions: the mean of (F − P)² (nst.content_loss's default), as in section 1's total_loss",
    ),
    (dict(content="sum"), "uses Σ (F − P)² for the content term; the lesson's convention is the mean of (F − P)²"),
    (
        dict(style="sum"),
        "sums (G − A)² over the N_l² entries of each Gram matrix; the lesson's convention is their *mean* "
        "(nst.style_loss's default)",
    ),
    (
        dict(gram="raw"),
        "compares raw Gram matrices F Fᵀ with targets divided by N·M: divide yours by N_l·M_l too "
        '(nst.gram_matrix(f, normalize="chw"), or section 1\'s gram_chw)',
    ),
    (
        dict(gram="hw"),
        "divides the Gram matrices by M_l = H·W only; the targets A_l are F Fᵀ/(N_l·M_l), divide by N_l·M_l",
    ),
    (
        dict(gram="gatys"),
        "divides the Gram matrices by 2·N_l·M_l (Gatys' normalisation); the targets A_l are F Fᵀ/(N_l·M_l)",
    ),
    (
        dict(gram="batch"),
        "makes one Gram matrix of the whole batch, mixing the images' positions; each image needs its own "
        "(B, N, N) Gram matrix: reshape to (B, N, M), not (N, B·M)",
    ),
    (dict(weights="twice"), "applies β twice (β·Σ β·w_l·E_l): β multiplies the style sum once"),
    (dict(weights="none"), "ignores the layer weights w_l: the style term is Σ_l w_l·E_l, not Σ_l E_l"),
    (dict(tv="none"), "has no TV term: add γ·L_TV, the total variation of the image x"),
    (dict(tv="alpha"), "weights the TV term with α; its weight is γ"),
    (
        dict(tv="clamped"),
        "clamps the image inside the loss: pixels outside [0, 1] then get no gradient, and the loss is not the "
        "one L-BFGS minimises. The loop clamps x after each step, outside the graph; the loss takes x as it is",
    ),
]


def _slip(got: float, case: _Case, want: float) -> str | None:
    for options, text in _SLIPS:
        value = float(_total(*case, **options))  # type: ignore[arg-type]
        if abs(value - want) > 1e-6 * abs(want) and abs(got - value) <= 1e-5 * abs(value):
            return text
    if case[0].shape[0] > 1:
        b = case[0].shape[0]
        if abs(got - want / b) <= 1e-5 * abs(want):
            return (
                "averages the images' losses; nstlib's losses of a batch are the *sum* of its images' losses "
                "(then one image's loss does not depend on how many others share its batch)"
            )
        first = float(
            _total(case[0][:1], case[1], {k: v[:1] for k, v in case[2].items()}, *case[3:5], case[5][:1], *case[6:])
        )
        if abs(got - first) <= 1e-5 * abs(first):
            return "gives the loss of the first image only; sum over every image of the batch"
    return None


@exercise(
    lesson=5,
    number=1,
    title="the total loss",
    level="one line",
    hint="α times the content loss at relu4_2 (nst.content_loss(F, P), the mean), plus β times Σ_l w[l] times "
    'the style loss of layer l (nst.style_loss(nst.gram_matrix(S[l], normalize="chw"), A[l])), plus γ times '
    "nst.tv_loss(x, p=1). Keep it a torch tensor computed from F, S and x: no .item(), no .detach(), no clamp.",
)
def total_loss_by_hand(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(F, P, S, A, w, x, alpha, beta, gamma)`` = α·L_content + β·Σ_l w_l·E_l + γ·L_TV in nstlib's
    mean conventions, a differentiable 0-d tensor; S, A and w are dicts keyed by the style layers."""
    for case in _cases():
        F, P, S, A, w, x, alpha, beta, gamma = case
        where = (
            "for a batch of two images"
            if F.shape[0] > 1
            else "for one image" + (" with pixels outside [0, 1]" if float(x.min()) < 0 else "")
        )
        want = _total(*case)
        F_probe, x_probe = F.clone().requires_grad_(True), x.clone().requires_grad_(True)
        S_probe = {k: v.clone().requires_grad_(True) for k, v in S.items()}
        args = (F_probe, P.clone(), S_probe, {k: v.clone() for k, v in A.items()}, dict(w), x_probe)
        got, error = call_safely(fn, *args, alpha, beta, gamma)
        if error is not None:
            return error
        problem = not_a_loss(got, where, "the images of the batch and the layers", "the features and the image")
        if problem is not None:
            return problem
        assert isinstance(got, torch.Tensor)
        value, target = float(got.detach()), float(want)
        if abs(value - target) > 1e-5 * abs(target):
            why = _slip(value, case, target)
            if why is not None:
                return failed(f"{where} your total loss {why}.")
            return failed(
                f"{where} your total loss is {value:.6g}, expected α·L_content + β·Σ w_l·E_l + γ·L_TV = "
                f"{target:.6g} ({value / target:.4g} × the expected value)."
            )
        leaves = [F_probe, *S_probe.values(), x_probe]
        grads = torch.autograd.grad(got, leaves, allow_unused=True)
        oracle = [leaf.detach().clone().requires_grad_(True) for leaf in leaves]
        keys = list(S)
        expected = _total(oracle[0], P, dict(zip(keys, oracle[1:-1])), A, w, oracle[-1], alpha, beta, gamma)
        wants = torch.autograd.grad(expected, oracle)
        names = ["F", *(f"S[{k!r}]" for k in keys), "x"]
        for name, grad, right in zip(names, grads, wants):
            if grad is None:
                return failed(f"{where} your loss does not depend on {name}: autograd finds no path back to it.")
            if (
                name == "x"
                and float(x.min()) < 0
                and bool((grad[x < 0] == 0).all())
                and bool((right[x < 0] != 0).any())
            ):
                return failed(f"{where} your total loss {_SLIPS[-1][1]}.")
            problem = close(grad, right, f"{where} autograd's ∂(your loss)/∂{name}")
            if problem is not None:
                return problem
    return passed(
        "α·mean (F − P)² + β·Σ_l w_l·mean (G_l − A_l)² + γ·L_TV, with G_l = F Fᵀ/(N_l·M_l) per image: section 1's "
        "total loss in nstlib's mean conventions, differentiable in the features and the pixels. The lesson's "
        "L-BFGS loop below now minimises your function."
    )
