"""The lesson-07 checkers accept the model answers, agree with nstlib, and name the usual wrong answers.

``WRONG_ANSWERS`` (read by tests/test_exercises.py) lists, for every exercise, wrong answers and the phrase the
feedback must contain; the tests below check the oracles against nstlib's own DeepDream code.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from oracle import assert_near

import nstlib as nst
from nstlib.algorithms.dream import octave_sizes
from nstlib.algorithms.dream_gradient import Tiling, dream_loss, tiled_gradient
from nstlib.errors import ImageTooSmallError

_SPEC = importlib.util.spec_from_file_location(
    "lesson07_solutions", Path(__file__).resolve().parents[1] / "solutions" / "lesson07.py"
)
lesson07 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lesson07)


# --- wrong answers, one per diagnosed mistake ---------------------------------------------------------------


def _rolled_grad(loss_fn, image, shift, back=None, dims=(2, 3)):
    rolled = torch.roll(image, shift, dims=dims).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(rolled), rolled)
    return g if back is None else torch.roll(g, back, dims=dims)


def _plain_grad(loss_fn, image, shift):
    x = image.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(x), x)
    return g


def _octaves_int(size, s, m):
    n = 0
    while int(min(size) / s**n) >= m:
        n += 1
    return n


def _octaves_log(size, s, m):
    return math.floor(math.log(min(size) / m) / math.log(s)) + 1 if min(size) >= m else 0


def _pull_weights(power: float, measure: str = "grad"):
    """Weights ∝ pull^power (power −1 is right, +1 the inverse mistake), or from loss values / layer sizes."""

    def weights(net, image, layers):
        x = image.detach().clone().requires_grad_(True)
        feats = net(x)
        if measure == "loss":
            return {n: 1.0 / float(feats[n].detach().mean()) for n in layers}
        if measure == "size":
            return {n: 1.0 / feats[n][0].numel() for n in layers}
        pull = {n: float(torch.autograd.grad(feats[n].mean(), x, retain_graph=True)[0].abs().mean()) for n in layers}
        return {n: p**power for n, p in pull.items()}

    return weights


def _step(sign: float = 1.0, norm: str = "mean", back: int = -1, clamp: bool = True, graph: bool = False):
    """A DeepDream step with one thing changed: the sign, the normalisation, the roll back, the clamp, no_grad."""

    def step(x, loss_fn, eta, shift):
        rolled = torch.roll(x.detach(), shift, dims=(2, 3)).requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(rolled), rolled)
        scale = {"mean": g.abs().mean() + 1e-8, "none": 1.0, "max": g.abs().max(), "l2": g.norm()}[norm]
        new = rolled + sign * eta * g / scale
        if not graph:
            new = new.detach()
        if back:
            new = torch.roll(new, (back * shift[0], back * shift[1]), dims=(2, 3))
        return new.clamp(0, 1) if clamp else new

    return step


def _step_on_unrolled(x, loss_fn, eta, shift):
    rolled = torch.roll(x.detach(), shift, dims=(2, 3)).requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(rolled), rolled)
    return (x + eta * g / g.abs().mean()).clamp(0, 1)


def _step_in_place(x, loss_fn, eta, shift):
    new = lesson07.dream_step(x, loss_fn, eta, shift)
    x.copy_(new)
    return new


WRONG_ANSWERS = {
    "dream_step": [
        (_step(sign=-1.0), "stepped *down* the gradient"),
        (_step(norm="none"), "did not normalise"),
        (_step(norm="max"), "largest |g|"),
        (_step(norm="l2"), "L2 norm"),
        (_step(back=0), "still rolled"),
        (_step_on_unrolled, "lands on the wrong pixel"),
        (_step(back=1), "again instead of back"),
        (_step(clamp=False), "did not clamp"),
        (_step(graph=True), "tied to the autograd graph"),
        (_step_in_place, "in place"),
        (lambda x, f, eta, s: lesson07.dream_step(x, f, eta, s)[0], "returned shape"),
        (lambda x, f, eta, s: lesson07.dream_step(x, f, eta, s).tolist(), "returned list"),
        (lambda x, f, eta, s: lesson07.dream_step(x, f, 2 * eta, s), "differs from the expected"),
    ],
    "channel_objective": [
        (lambda a, c: a.mean(dim=(1, 2, 3)), "whole layer's mean"),
        (lambda a, c: a[:, c].sum(dim=(1, 2)), "summed over"),
        (lambda a, c: a[:, c].mean(), "one number for the whole batch"),
        (lambda a, c: a[c].mean(dim=(1, 2)), "indexed the batch"),
        (lambda a, c: a[..., c].mean(dim=(1, 2)), "last dim"),
        (lambda a, c: a[:, :, c].mean(dim=(1, 2)), "dim 2"),
        (lambda a, c: a[:, c + 1].mean(dim=(1, 2)), "channel c + 1"),
        (lambda a, c: a[:, c].square().mean(dim=(1, 2)), "squares"),
        (lambda a, c: float(a[:, c].mean()), "return a tensor"),
    ],
    "jittered_gradient": [
        (lambda f, x, s: _rolled_grad(f, x, s), "still in the rolled frame"),
        (lambda f, x, s: _rolled_grad(f, x, s, back=s), "a second time"),
        (_plain_grad, "the jitter never happened"),
        (lambda f, x, s: _rolled_grad(f, x, s[::-1], back=(-s[1], -s[0])), "swapped"),
        (lambda f, x, s: _rolled_grad(f, x, s, back=(-s[0], -s[1]), dims=(1, 2)), "colour channel"),
        (lambda f, x, s: 2 * _rolled_grad(f, x, s, back=(-s[0], -s[1])), "normalising constant"),
    ],
    "max_octaves": [
        (_octaves_int, "ignores the rounding"),
        (_octaves_log, "ignores the rounding"),
        (lambda size, s, m: lesson07.max_octaves((max(size),) * 2, s, m), "long side"),
        (lambda size, s, m: max(1, lesson07.max_octaves(size, s, m)), "not even one octave"),
        (lambda size, s, m: max(0, lesson07.max_octaves(size, s, m) - 1), "one too few"),
        (lambda size, s, m: lesson07.max_octaves(size, s, m) + 1, "one too many"),
        (lambda size, s, m: lesson07.max_octaves(size, s, m) + 0.5, "whole number"),
    ],
    "l2_step_rms": [
        (lambda h, w, eta: eta, "mean|g|"),
        (lambda h, w, eta: eta / math.sqrt(h * w), "3 colour channels"),
        (lambda h, w, eta: eta / (3 * h * w), "not its square root"),
        (lambda h, w, eta: eta * math.sqrt(3 * h * w), "shrinks"),
        (lambda h, w, eta: eta**2 / (3 * h * w), "mean square"),
        (lambda h, w, eta: "small", "one number"),
    ],
    "balanced_weights": [
        (lambda net, image, layers: {n: 1.0 for n in layers}, "equal weights"),
        (_pull_weights(1.0), "proportional to its pull"),
        (_pull_weights(-1.0, "loss"), "loss values"),
        (_pull_weights(-1.0, "size"), "1 / (C·H·W)"),
        (
            lambda net, image, layers: {n: -w for n, w in lesson07.balanced_weights(net, image, layers).items()},
            "positive",
        ),
        (lambda net, image, layers: {layers[0]: 1.0}, "one weight per layer"),
        (
            lambda net, image, layers: lesson07.balanced_weights(net, torch.rand_like(image), layers),  # on noise
            "Measure each layer",
        ),
    ],
}


# --- the oracles agree with nstlib's DeepDream ----------------------------------------------------------------


def test_jittered_gradient_matches_nstlib_untiled_gradient() -> None:
    net = nst.VGGFeatures("vgg16", layers=["relu2_1"], weights="random:0")
    image = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    shift = (3, -5)
    want, _ = tiled_gradient(net, image, {"relu2_1": 1.0}, None, Tiling(None), shift)

    def loss_fn(x):
        return sum(t.sum() for t in dream_loss(net(x)).values())

    assert_near(lesson07.jittered_gradient(loss_fn, image, shift), want)
    assert nst.check.jittered_gradient(lesson07.jittered_gradient).ok


def test_max_octaves_matches_what_deepdream_accepts() -> None:
    image = torch.rand(1, 3, 60, 90)
    net = nst.VGGFeatures("vgg16", layers=["relu2_1"], weights="random:0")  # needs 2 px: every octave fits
    n = lesson07.max_octaves((60, 90), 1.4, 43)
    assert n == 2 and min(octave_sizes((60, 90), n, 1.4)[0]) >= 43 > min(octave_sizes((60, 90), n + 1, 1.4)[0])
    # nst.deepdream refuses a pyramid whose smallest octave is below the layer's minimum (relu5_1 needs 16 px)
    assert lesson07.max_octaves((60, 90), 1.4, 16) == 5
    nst.deepdream(image, "vgg16", layers="relu5_1", octaves=5, steps_per_octave=0, weights="random:0", progress=False)
    with pytest.raises(ImageTooSmallError, match="octaves=5"):
        nst.deepdream(
            image, "vgg16", layers="relu5_1", octaves=6, steps_per_octave=0, weights="random:0", progress=False
        )
    del net


def test_l2_step_rms_prediction_holds_for_a_measured_step() -> None:
    g = torch.randn(1, 3, 30, 40, generator=torch.Generator().manual_seed(1)).exp()  # any gradient will do
    step = 0.05 * g / g.norm()
    assert math.isclose(float(step.square().mean().sqrt()), lesson07.l2_step_rms(30, 40, 0.05), rel_tol=1e-5)
    assert lesson07.l2_step_rms(60, 80, 0.05) == pytest.approx(lesson07.l2_step_rms(30, 40, 0.05) / 2)


def test_balanced_weights_equalise_the_pull_and_keep_their_ratio_under_scaling() -> None:
    net = nst.VGGFeatures("vgg16", layers=["relu1_2", "relu3_3"], weights="random:3")
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    weights = lesson07.balanced_weights(net, image, ["relu1_2", "relu3_3"])
    x = image.clone().requires_grad_(True)
    feats = net(x)
    pulls = [weights[n] * torch.autograd.grad(feats[n].mean(), x, retain_graph=True)[0].abs().mean() for n in weights]
    assert torch.allclose(pulls[0], pulls[1], rtol=1e-4)
    scaled = lambda n_, i, l: {k: 7 * w for k, w in lesson07.balanced_weights(n_, i, l).items()}  # noqa: E731
    assert nst.check.balanced_weights(scaled).ok  # only the ratios matter


def test_dream_step_matches_nstlib_deepdream_and_accepts_other_spellings() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 16, 16)
    net = torch.nn.Conv2d(3, 4, 3, padding=1).requires_grad_(False)
    loss_fn = lambda img: net(img).relu().mean()  # noqa: E731
    assert_near(
        lesson07.dream_step(x, loss_fn, 0.05, (3, -2)), nst.check.dream_step.reference(x, loss_fn, 0.05, (3, -2))
    )

    def gradient_rolled_back(x, loss_fn, eta, shift):  # roll the gradient back and step the unrolled x: the same step
        rolled = torch.roll(x, shift, dims=(2, 3)).requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(rolled), rolled)
        g = torch.roll(g, (-shift[0], -shift[1]), dims=(2, 3))
        with torch.no_grad():
            return (x + eta * g / (g.abs().mean() + 1e-6)).clamp(0, 1)

    assert nst.check.dream_step(gradient_rolled_back).ok
    assert nst.check.dream_step(nst.check.dream_step.reference).ok


def test_dream_step_works_is_a_silent_yes_or_no(capsys: pytest.CaptureFixture) -> None:
    works = nst.check.dream_step.works

    def stub(x, loss_fn, step_size, shift):
        raise NotImplementedError  # your code here

    assert works(lesson07.dream_step) is True
    assert works(stub) is False and works(None) is False
    assert works(_step(sign=-1.0)) is False and works(lambda *a: 1 / 0) is False
    assert capsys.readouterr().out == ""


def test_checkers_never_raise_on_garbage() -> None:
    for name in (
        "dream_step",
        "channel_objective",
        "jittered_gradient",
        "max_octaves",
        "l2_step_rms",
        "balanced_weights",
    ):
        result = getattr(nst.check, name)(lambda *args: object())
        assert not result.ok and "not answered yet" not in str(result), (name, str(result))
