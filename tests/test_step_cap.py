"""The L-BFGS step cap (nstlib.optim.loop.cap_step, optimize_pixels' max_step): oracles on small analytic losses."""

from __future__ import annotations

import pytest
import torch

import nstlib as nst
from nstlib.errors import InputError
from nstlib.optim.loop import DEFAULT_MAX_STEP, cap_step, optimize_pixels

TARGET = torch.linspace(0.05, 0.95, 48).view(1, 3, 4, 4)  # pixels far from the start, 0.5


def _loss(x: torch.Tensor) -> dict[str, torch.Tensor]:
    # a quadratic with curvatures 1 … 4 per pixel: L-BFGS's second step is (nearly) Newton's, far longer than 0.25
    weights = torch.linspace(1.0, 4.0, 48).view(1, 3, 4, 4)
    return {"fit": (weights * (x - TARGET) ** 2).flatten(1).sum(1)}


def _plain_lbfgs(steps: int, max_step: float | None) -> tuple[list[float], list[torch.Tensor]]:
    """The loop by hand, as lesson 5 writes it: torch's L-BFGS, the cap, the clamp. Losses and images evaluated."""
    x = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0)
    losses, images = [], []
    for _ in range(steps):

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = _loss(x)["fit"].sum()
            loss.backward()
            return loss

        before = x.detach().clone()
        images.append(before)
        losses.append(float(opt.step(closure).detach()))  # type: ignore[union-attr]
        if max_step is not None:
            cap_step(opt, x, before, max_step)
        with torch.no_grad():
            x.clamp_(0, 1)
    return losses, images


def test_cap_step_shortens_the_step_in_its_direction_and_keeps_the_curvature_pair_exact() -> None:
    x = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _loss(x)["fit"].sum()
        loss.backward()
        return loss

    opt.step(closure)  # type: ignore[arg-type]  # the first step: tiny (lr / Σ|g|)
    before = x.detach().clone()
    opt.step(closure)  # type: ignore[arg-type]
    long_move = (x - before).detach().clone()
    assert long_move.abs().max() > 0.3  # the uncapped second step
    factor = cap_step(opt, x, before, 0.25)
    move = (x - before).detach()
    assert factor == pytest.approx(0.25 / float(long_move.abs().max()))
    assert float(move.abs().max()) == pytest.approx(0.25, rel=1e-6)
    torch.testing.assert_close(move, long_move * factor)  # the same direction, shorter
    state = opt.state[x]  # L-BFGS's next curvature pair uses d·t as the step it took: it must be the real one
    torch.testing.assert_close((state["d"] * state["t"]).view_as(move), move, rtol=1e-5, atol=1e-7)
    # a step that is short enough is left alone
    before = x.detach().clone()
    with torch.no_grad():
        x.add_(0.1)
    assert cap_step(opt, x, before, 0.25) == 1.0 and torch.allclose(x - before, torch.full_like(x, 0.1))


@pytest.mark.parametrize("max_step", [None, 0.25, 0.1])
def test_optimize_pixels_follows_the_loop_by_hand_with_and_without_the_cap(max_step: float | None) -> None:
    losses, images = _plain_lbfgs(8, max_step)
    seen: list[torch.Tensor] = []
    result = optimize_pixels(
        torch.full((1, 3, 4, 4), 0.5),
        _loss,
        steps=8,
        progress=False,
        max_step=max_step,
        callback=lambda p: seen.append(p.image.clone()) and None,
    )
    torch.testing.assert_close(torch.tensor(result.history["total"]), torch.tensor(losses), rtol=1e-5, atol=1e-7)
    for mine, theirs in zip(seen, images):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    moves = [float((b - a).abs().max()) for a, b in zip(seen, seen[1:])]
    if max_step is None:
        assert max(moves) > 0.3  # without the cap the option would be ignored unnoticed: make sure it bites
    else:
        assert max(moves) <= max_step + 1e-6
    assert result.settings["max_step"] == max_step


def test_the_cap_is_on_by_default_and_applies_to_lbfgs_only() -> None:
    seen: list[torch.Tensor] = []
    optimize_pixels(
        torch.full((1, 3, 4, 4), 0.5), _loss, steps=6, progress=False, callback=lambda p: seen.append(p.image)
    )
    assert max(float((b - a).abs().max()) for a, b in zip(seen, seen[1:])) <= DEFAULT_MAX_STEP + 1e-6
    # Adam's steps are lr-sized: a cap of 1e-4 must not touch them (Adam's first step moves every pixel by lr)
    free = optimize_pixels(torch.full((1, 3, 4, 4), 0.5), _loss, steps=3, optimizer="adam", lr=0.05, progress=False)
    capped = optimize_pixels(
        torch.full((1, 3, 4, 4), 0.5), _loss, steps=3, optimizer="adam", lr=0.05, progress=False, max_step=1e-4
    )
    assert free.history["total"] == capped.history["total"]


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan")])
def test_a_cap_that_is_not_positive_is_refused(bad: float) -> None:
    with pytest.raises(InputError, match="max_step"):
        optimize_pixels(torch.full((1, 3, 4, 4), 0.5), _loss, steps=1, progress=False, max_step=bad)


def test_stylize_and_reconstruct_run_with_the_cap() -> None:
    img = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    kw = dict(weights="random:0", arch="vgg11", device="cpu", progress=False)
    assert nst.stylize(img, img.flip(-1), steps=2, **kw).settings["max_step"] == DEFAULT_MAX_STEP
    assert nst.reconstruct(img, "relu2_1", steps=2, **kw).settings["max_step"] == DEFAULT_MAX_STEP
