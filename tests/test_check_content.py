"""The lesson 03 checkers accept the model answers and name the usual mistakes (see WRONG_ANSWERS)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _solutions():
    spec = importlib.util.spec_from_file_location("lesson03_solutions", ROOT / "solutions" / "lesson03.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _solutions()


def _n_m(F: torch.Tensor) -> int:
    return F[0].numel()


def _gradient_descent(steps: int, lr: float):
    """A plain gradient-descent inversion that stops far too early (or walks uphill for lr < 0)."""

    def invert(layer, target, shape):
        x = torch.zeros(shape, requires_grad=True)
        for _ in range(steps):
            (grad,) = torch.autograd.grad(0.5 * ((layer(x) - target) ** 2).sum(), x)
            with torch.no_grad():
                x -= lr * grad
        return x.detach()

    return invert


def _no_grad_loss(F, P):
    with torch.no_grad():
        return 0.5 * ((F - P) ** 2).sum()


WRONG_ANSWERS = {
    "content_loss_by_hand": [
        (lambda F, P: ((F - P) ** 2).mean(), "the *mean* of (F − P)²"),
        (lambda F, P: 0.5 * ((F - P) ** 2).mean(), "½ × the mean"),
        (lambda F, P: ((F - P) ** 2).sum(), "the ½ is missing"),
        (lambda F, P: 0.5 * ((F - P) ** 2).sum() / (F.shape[2] * F.shape[3]), "divided by the positions"),
        (lambda F, P: 0.5 * ((F - P) ** 2).sum() / F.shape[1], "divided by the channels"),
        (lambda F, P: 0.5 * ((F[0] - P[0]) ** 2).sum(), "first image only"),
        (lambda F, P: 0.5 * ((F - P) ** 2).sum() / F.shape[0], "averages the images' losses"),
        (lambda F, P: 0.5 * ((F - P) ** 2).sum(dim=(1, 2, 3)), "shape (1,)"),
        (lambda F, P: 0.5 * (F - P) ** 2, "a loss is one number"),
        (lambda F, P: (0.5 * ((F - P) ** 2).sum()).item(), "Python float"),
        (lambda F, P: float(0.5 * ((F - P) ** 2).sum().detach()), "Python float"),
        (lambda F, P: 0.5 * ((F - P) ** 2).sum().detach(), "detached from F"),
        (_no_grad_loss, "detached from F"),
        (lambda F, P: torch.tensor(0.5 * ((F - P) ** 2).sum().item()), "detached from F"),
        (lambda F, P: 0.5 * ((F - P) ** 2).sum() + 1, "expected ½ Σ (F − P)²"),
    ],
    "mean_gradient": [
        (lambda F, P: F - P, "½ Σ convention"),
        (lambda F, P: (F - P) / _n_m(F), "the 2 that the square brings down is missing"),
        (lambda F, P: 2 * (F - P), "did not divide by the number of entries"),
        (lambda F, P: 2 * (F - P) / (F.shape[2] * F.shape[3]), "positions M = H·W only"),
        (lambda F, P: 2 * (F - P) / F.shape[1], "channels N only"),
        (lambda F, P: 2 * (P - F) / _n_m(F), "wrong sign"),
        (lambda F, P: (F - P).mean(), "shape"),
    ],
    "relu_gradient": [
        (lambda Z, P: Z.relu() - P, "left out the ReLU's derivative"),
        (lambda Z, P: Z - P, "as if there were no ReLU"),
        (lambda Z, P: (Z.relu() - P) * (P > 0), "photo's"),
        (lambda Z, P: (Z.relu() - P).relu(), "ReLU on the gradient"),
        (lambda Z, P: (P - Z.relu()) * (Z > 0), "wrong sign"),
        (lambda Z, P: 2 * (Z.relu() - P) * (Z > 0), "twice the size"),
    ],
    "invert_layer": [
        (lambda layer, target, shape: layer(torch.rand(shape)), "layer(x)"),
        (lambda layer, target, shape: torch.rand(shape[1:]), "should return an image of shape"),
        (_gradient_descent(3, 1e-3), "should match to 1%"),
        (_gradient_descent(20, -1e-2), "against* the gradient"),
    ],
    "shifted_photo": [
        ("relu5_2", "the other way round"),
        ("same", "position by position"),
        ("relu3_2", "answer with"),
    ],
}


def test_model_answers_pass_and_say_why() -> None:
    for name in ("content_loss_by_hand", "mean_gradient", "relu_gradient", "invert_layer", "shifted_photo"):
        result = getattr(nst.check, name)(getattr(SOL, name))
        assert result.ok, (name, str(result))
    assert "only 32" in str(nst.check.invert_layer(SOL.invert_layer))  # the under-determined case is reported


def test_mean_gradient_accepts_autograd_and_the_conv_spelling() -> None:
    def by_autograd(F, P):
        F = F.clone().requires_grad_(True)
        return torch.autograd.grad(nst.content_loss(F, P), F)[0]

    assert nst.check.mean_gradient(by_autograd).ok
    assert nst.check.shifted_photo(" CONV1_2 ").ok


def test_relu_gradient_accepts_the_mask_on_z_minus_p() -> None:
    # where Z > 0, relu(Z) = Z: the mask makes (Z − P)·[Z > 0] the same gradient
    assert nst.check.relu_gradient(lambda Z, P: (Z - P) * (Z > 0).float()).ok


def test_content_loss_by_hand_accepts_either_order_and_other_spellings() -> None:
    for spelling in (
        lambda F, P: 0.5 * ((P - F) ** 2).sum(),
        lambda F, P: (F - P).square().sum() / 2,
        lambda F, P: 0.5 * (F - P).pow(2).flatten().sum(),
        lambda F, P: nst.content_loss(F, P, reduction="gatys"),
    ):
        assert nst.check.content_loss_by_hand(spelling).ok


def test_content_loss_by_hand_works_is_a_silent_yes_or_no(capsys: pytest.CaptureFixture) -> None:
    works = nst.check.content_loss_by_hand.works

    def stub(F, P):
        raise NotImplementedError  # your code here

    assert works(SOL.content_loss_by_hand) is True
    assert works(stub) is False and works(None) is False and works(...) is False
    assert works(lambda F, P: ((F - P) ** 2).mean()) is False
    assert works(lambda F, P: 1 / 0) is False
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("checker", ["content_loss_by_hand", "mean_gradient", "relu_gradient", "invert_layer"])
def test_checkers_never_raise_on_garbage(checker) -> None:
    for garbage in (lambda *a: "nonsense", lambda *a: torch.zeros(2), lambda *a: 1 / 0):
        result = getattr(nst.check, checker)(garbage)
        assert not result.ok and "not answered yet" not in str(result)


def test_free_pixels_is_an_open_exercise_with_a_model_answer() -> None:
    result = nst.check.free_pixels(...)
    assert not result.ok and "solution()" in str(result)
    assert "start" in str(nst.check.free_pixels.solution())


# ---- exercise 5: shifted_photo measures the shift instead of knowing the answer
def _photo(size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=size, mode="bilinear")
    return (smooth + 0.3 * (torch.rand(1, 1, size, size, generator=g) - 0.5)).clamp(0, 1)


def test_shifted_photo_right_wrong_and_stub_with_the_lessons_kind_of_network() -> None:
    probe = nst.VGGFeatures("vgg16", layers=("relu1_2", "relu5_2"), weights="random:0", pooling="avg", device="cpu")
    photo = _photo()
    right = nst.check.shifted_photo("relu1_2", photo=photo, net=probe)
    assert right.ok and "on your photo" in str(right), str(right)
    wrong = nst.check.shifted_photo("relu5_2", photo=photo, net=probe)
    assert not wrong.ok and "the other way round" in str(wrong) and "Measured on your photo" in str(wrong)
    for stub in (..., None, ""):
        assert "not answered yet" in str(nst.check.shifted_photo(stub, photo=photo, net=probe))


def test_shifted_photo_follows_the_measurement() -> None:
    def blind_to_shifts(x: torch.Tensor) -> dict:  # relu1_2 sees only the mean colour, relu5_2 every pixel
        return {"relu1_2": x.mean(dim=(2, 3), keepdim=True) + 1.0, "relu5_2": x}

    photo = _photo()
    right = nst.check.shifted_photo("relu5_2", photo=photo, net=blind_to_shifts)
    assert right.ok and "on these features" in str(right), str(right)
    wrong = nst.check.shifted_photo("relu1_2", photo=photo, net=blind_to_shifts)
    assert not wrong.ok and "but not here" in str(wrong), str(wrong)
    broken = nst.check.shifted_photo("relu1_2", photo=photo, net=lambda x: {"conv1_1": x})
    assert not broken.ok and "could not measure" in str(broken)
