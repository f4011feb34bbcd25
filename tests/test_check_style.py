"""The lesson 04 checkers accept the model answers and name the usual mistakes (see WRONG_ANSWERS)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from oracle import assert_near

import nstlib as nst

_SPEC = importlib.util.spec_from_file_location(
    "lesson04_solutions", Path(__file__).resolve().parents[1] / "solutions" / "lesson04.py"
)
lesson04 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lesson04)


# ---- exercise 1: style_loss_by_hand
def _raw_gram(F):
    b, n, h, w = F.shape
    flat = F.reshape(b, n, h * w)
    return flat @ flat.transpose(1, 2)


def _nm(F):
    return F.shape[1], F.shape[2] * F.shape[3]


def _el(F, A, divisor=None):
    """Σ (G − A)² / divisor (default 4·N²·M², the right E_l)."""
    n, m = _nm(F)
    return ((_raw_gram(F) - A) ** 2).sum() / (4 * n**2 * m**2 if divisor is None else divisor)


def _first_image(F, A):  # sections 2 and 3 took features[0]
    n, m = _nm(F)
    f = F[0].reshape(n, m)
    return ((f @ f.T - A[0]) ** 2).sum() / (4 * n**2 * m**2)


def _batch_mixed(F, A):  # one Gram matrix of all the images' positions: an (N, B·M) reshape
    n, m = _nm(F)
    f = F.transpose(0, 1).reshape(n, -1)
    return ((f @ f.T - A) ** 2).sum() / (4 * n**2 * m**2)


def _batch_reshaped(F, A):  # the same, with a plain reshape (which even mixes channels) and M = B·H·W
    n = F.shape[1]
    f = F.reshape(n, -1)
    return ((f @ f.T - A) ** 2).sum() / (4 * n**2 * f.shape[1] ** 2)


def _loss_tutorial(F, A):  # the PyTorch tutorial's (B·N, M): one (B·N)×(B·N) matrix, which A cannot be subtracted from
    b, n, h, w = F.shape
    f = F.reshape(b * n, h * w)
    return ((f @ f.T - A) ** 2).sum() / (4 * n**2 * (h * w) ** 2)


def _loss_ftf(F, A):
    b, n, h, w = F.shape
    flat = F.reshape(b, n, h * w)
    return ((flat.transpose(1, 2) @ flat - A) ** 2).sum() / (4 * n**2 * (h * w) ** 2)


def _gatys_normalised_g(F, A):  # nstlib's route, with A left raw
    return nst.style_loss(nst.gram_matrix(F, normalize="gatys"), A, reduction="gatys")


def _chw_normalised_g(F, A):
    n, m = _nm(F)
    return ((nst.gram_matrix(F, normalize="chw") - A) ** 2).sum() / (4 * n**2 * m**2)


def _mean_convention(F, A):
    n, m = _nm(F)
    return nst.style_loss(nst.gram_matrix(F, normalize="chw"), A / (n * m))


def _half_detached(F, A):  # the right value, but autograd sees only one of the two F's in F Fᵀ
    b, n, h, w = F.shape
    flat = F.reshape(b, n, h * w)
    return ((flat @ flat.detach().transpose(1, 2) - A) ** 2).sum() / (4 * n**2 * (h * w) ** 2)


def _no_grad_e(F, A):
    with torch.no_grad():
        return _el(F, A)


# ---- exercise 2: batch_gram
def _ftf(features):
    b, n, h, w = features.shape
    flat = features.reshape(b, n, h * w)
    return flat.transpose(1, 2) @ flat


def _tutorial(features):
    b, n, h, w = features.shape
    flat = features.reshape(b * n, h * w)
    return flat @ flat.T


# ---- exercise 3: loss_without_gram
def _sides(F, S):
    _, n, h, w = F.shape
    f, s = F[0].reshape(n, h * w), S[0].reshape(n, h * w)
    return n, h * w, (f.T @ f).square().sum(), (f.T @ s).square().sum(), (s.T @ s).square().sum()


def _no_two(F, S):
    n, m, a, b, c = _sides(F, S)
    return (a - b + c) / (4 * n**2 * m**2)


def _unsquared(F, S):
    n, m, a, b, c = _sides(F, S)
    return (a.sqrt() - 2 * b.sqrt() + c.sqrt()) / (4 * n**2 * m**2)


def _no_quarter(F, S):
    n, m, a, b, c = _sides(F, S)
    return (a - 2 * b + c) / (n**2 * m**2)


def _via_gram(F, S):  # the right value, the N×N way
    n, m = F.shape[1], F.shape[2] * F.shape[3]
    return torch.linalg.matrix_norm(nst.gram_matrix(F)[0] - nst.gram_matrix(S)[0]) ** 2 / (4 * n**2 * m**2)


# ---- exercise 4: same_gram
def _rows_mixed(F):
    q, _ = torch.linalg.qr(torch.randn(F.shape[0], F.shape[0], generator=torch.Generator().manual_seed(0)))
    return q @ F


def _not_orthogonal(F):
    return F @ torch.randn(F.shape[1], F.shape[1], generator=torch.Generator().manual_seed(0))


def _shuffled(F):
    return -F[:, torch.randperm(F.shape[1], generator=torch.Generator().manual_seed(0))]


# ---- exercise 6: crop_experiment
def _e(f, s):
    return nst.style_loss(nst.gram_matrix(f, "gatys"), nst.gram_matrix(s, "gatys"), reduction="gatys")


def _crops(net, image, other, layer, s):
    return (net(image[..., :s, :s])[layer], net(image[..., :s, s : 2 * s])[layer], net(other[..., :s, :s])[layer])


def _same_crop(net, image, other, layer, sizes):
    return {s: float(_e(net(image[..., :s, :s])[layer], net(image[..., :s, :s])[layer])) for s in sizes}


def _upside_down(net, image, other, layer, sizes):
    return {s: float(_e(a, c) / _e(a, b)) for s in sizes for a, b, c in [_crops(net, image, other, layer, s)]}


def _no_yardstick(net, image, other, layer, sizes):
    return {s: float(_e(a, b)) for s in sizes for a, b, c in [_crops(net, image, other, layer, s)]}


def _content(net, image, other, layer, sizes):
    return {
        s: float(nst.content_loss(a, b) / nst.content_loss(a, c))
        for s in sizes
        for a, b, c in [_crops(net, image, other, layer, s)]
    }


def _below(net, image, other, layer, sizes):  # b under a instead of beside it: another piece, another number
    return {
        s: float(
            _e(net(image[..., :s, :s])[layer], net(image[..., s : 2 * s, :s])[layer])
            / _e(net(image[..., :s, :s])[layer], net(other[..., :s, :s])[layer])
        )
        for s in sizes[:1]
    } | {s: 0.5 for s in sizes[1:]}


WRONG_ANSWERS = {
    "style_loss_by_hand": [
        (lambda F, A: _el(F, A, _nm(F)[0] ** 2 * _nm(F)[1] ** 2), "the ¼ is missing"),
        (lambda F, A: _el(F, A, 2 * _nm(F)[0] ** 2 * _nm(F)[1] ** 2), "the factor is ¼, not ½"),
        (lambda F, A: _el(F, A, 4 * _nm(F)[0] ** 2 * _nm(F)[1]), "square M too"),
        (lambda F, A: _el(F, A, 4 * _nm(F)[0] * _nm(F)[1] ** 2), "square N too"),
        (lambda F, A: _el(F, A, 4 * _nm(F)[0] * _nm(F)[1]), "N·M once instead of squared"),
        (lambda F, A: _el(F, A, 4 * _nm(F)[1] ** 2), "the N² is missing"),
        (lambda F, A: _el(F, A, 4 * _nm(F)[0] ** 2), "the M² is missing"),
        (lambda F, A: _el(F, A, 1), "Σ (G − A)² itself"),
        (lambda F, A: _el(F, A, 4), "divide by N²·M² too"),
        (
            lambda F, A: ((_raw_gram(F) - A) ** 2).mean() / (4 * _nm(F)[0] ** 2 * _nm(F)[1] ** 2),
            "the *mean* of (G − A)²",
        ),
        (_mean_convention, "C·H·W-mean convention"),
        (_gatys_normalised_g, "compares G/(2·N·M) with the raw target A"),
        (_chw_normalised_g, "compares G/(N·M) with the raw target A"),
        (_first_image, "first image only"),
        (lambda F, A: _el(F, A) / F.shape[0], "averages the images' E_l"),
        (_batch_mixed, "one Gram matrix of the whole batch"),
        (_batch_reshaped, "one Gram matrix of the whole batch"),
        (lambda F, A: _el(F, A) / F.shape[0] ** 2, "of *one* image, not of the whole batch"),
        (_loss_tutorial, "keep the images of the batch apart"),
        (_loss_ftf, "not FᵀF"),
        (lambda F, A: ((_raw_gram(F) - A) ** 2).sum(dim=(1, 2)) / (4 * _nm(F)[0] ** 2 * _nm(F)[1] ** 2), "shape (1,)"),
        (lambda F, A: (_raw_gram(F) - A) ** 2, "a loss is one number"),
        (lambda F, A: _el(F, A).item(), "Python float"),
        (lambda F, A: float(_el(F, A).detach()), "Python float"),
        (lambda F, A: _el(F, A).detach(), "detached from F"),
        (_no_grad_e, "detached from F"),
        (lambda F, A: torch.tensor(_el(F, A).item()), "detached from F"),
        (lambda F, A: _el(F.detach(), A) + 0 * F.sum(), "zero everywhere"),
        (_half_detached, "one of the two factors of G = F Fᵀ is detached"),
        (lambda F, A: _el(F, A) + 1, "expected E_l"),
    ],
    "batch_gram": [
        (_ftf, "FᵀF"),
        (_tutorial, "flattened together"),
        (lambda f: torch.einsum("bihw,bjhw->ij", f, f), "summed over the batch"),
        (lambda f: nst.gram_matrix(f, normalize="chw"), "N·M"),
        (lambda f: nst.gram_matrix(f, normalize="hw"), "M = H·W"),
    ],
    "loss_without_gram": [
        (_no_two, "needs a 2"),
        (_unsquared, "not squared"),
        (_no_quarter, "¼ is missing"),
        (_via_gram, "formed a 300×300 matrix"),
        (lambda F, S: torch.zeros(2), "one number"),
    ],
    "same_gram": [
        (lambda F: F @ F.T, "Gram matrix G itself"),
        (lambda F: F.T, "rows"),
        (_rows_mixed, "mixes the channels"),
        (lambda F: 2 * F, "scaling features"),
        (_not_orthogonal, "orthogonal"),
        (_shuffled, "section 7's shuffle"),
        (lambda F: F.clone(), "section 7's shuffle"),
    ],
    "rolled_or_flipped": [
        ("rolled", "half of it"),
        ("flipped", "so is the rolled one"),
        ("neither", "far closer"),
        ("the cat", "answer with"),
    ],
    "crop_experiment": [
        (_same_crop, "the same pixels"),
        (_upside_down, "upside down"),
        (_no_yardstick, "yardstick"),
        (_content, "position by position"),
        (_below, "Check the crops"),
        (lambda *args: [0.1, 0.2, 0.3], "dict"),
    ],
}


def test_model_answers_pass() -> None:
    for name in WRONG_ANSWERS:
        result = getattr(nst.check, name)(getattr(lesson04, name))
        assert result.ok, (name, str(result))


def test_style_loss_by_hand_accepts_other_right_spellings() -> None:
    for spelling in (
        lesson04.style_loss_by_hand,
        lambda F, A: _el(F, A),
        lambda F, A: ((A - torch.einsum("bihw,bjhw->bij", F, F)) ** 2).sum() / (4 * _nm(F)[0] ** 2 * _nm(F)[1] ** 2),
        lambda F, A: torch.linalg.matrix_norm(nst.gram_matrix(F) - A).square().sum() / (2 * _nm(F)[0] * _nm(F)[1]) ** 2,
        lambda F, A: nst.style_loss(
            nst.gram_matrix(F, normalize="gatys"), A / (2 * _nm(F)[0] * _nm(F)[1]), reduction="gatys"
        ),
        lambda F, A: 0.25 * (nst.gram_matrix(F) - A).pow(2).flatten().sum() / _nm(F)[0] ** 2 / _nm(F)[1] ** 2,
    ):
        result = nst.check.style_loss_by_hand(spelling)
        assert result.ok, str(result)


def test_style_loss_by_hand_model_answer_is_nstlibs_e_l() -> None:
    g = torch.Generator().manual_seed(1)
    F, S = torch.rand(2, 7, 3, 5, generator=g, requires_grad=True), torch.rand(1, 7, 3, 5, generator=g)
    want = nst.style_loss(nst.gram_matrix(F, "gatys"), nst.gram_matrix(S, "gatys"), reduction="gatys")
    got = lesson04.style_loss_by_hand(F, nst.gram_matrix(S))
    assert got.dim() == 0
    assert_near(got, want, rtol=1e-5)
    (grad_got,) = torch.autograd.grad(got, F)
    (grad_want,) = torch.autograd.grad(want, F)
    assert torch.allclose(grad_got, grad_want, rtol=1e-4, atol=1e-7)
    one = sum(lesson04.style_loss_by_hand(F[i : i + 1], nst.gram_matrix(S)) for i in range(2))
    assert_near(got, one, rtol=1e-5)  # a batch's E_l is the sum of its images'


def test_style_loss_by_hand_works_is_a_silent_yes_or_no(capsys: pytest.CaptureFixture) -> None:
    works = nst.check.style_loss_by_hand.works

    def stub(F, A):
        raise NotImplementedError  # your code here

    assert works(lesson04.style_loss_by_hand) is True
    assert works(stub) is False and works(None) is False and works(...) is False
    assert works(_first_image) is False and works(_mean_convention) is False
    assert works(lambda F, A: 1 / 0) is False
    assert capsys.readouterr().out == ""


def test_style_loss_by_hand_stub_is_not_yet_with_the_hint() -> None:
    def stub(F, A):
        raise NotImplementedError  # your code here

    for answer in (stub, ..., None):
        result = nst.check.style_loss_by_hand(answer)
        assert not result.ok and "not answered yet" in str(result) and "flat.transpose(1, 2)" in str(result)


def test_batch_gram_accepts_the_library_and_bmm() -> None:
    assert nst.check.batch_gram(nst.gram_matrix).ok

    def bmm(features):
        b, n, h, w = features.shape
        flat = features.reshape(b, n, h * w)
        return torch.bmm(flat, flat.transpose(1, 2))

    assert nst.check.batch_gram(bmm).ok


def test_loss_without_gram_accepts_traces_and_floats() -> None:
    def traces(F, S):
        n, m = F.shape[1], F.shape[2] * F.shape[3]
        f, s = F[0].reshape(n, m), S[0].reshape(n, m)
        ff, fs, ss = f.T @ f, f.T @ s, s.T @ s
        return float(torch.trace(ff @ ff) - 2 * torch.trace(fs @ fs.T) + torch.trace(ss @ ss)) / (4 * n**2 * m**2)

    assert nst.check.loss_without_gram(traces).ok


def test_loss_without_gram_oracle_is_the_seed_formula() -> None:
    g = torch.Generator().manual_seed(0)
    f, s = torch.rand(1, 6, 4, 5, generator=g), torch.rand(1, 6, 4, 5, generator=g)
    seed = ((nst.gram_matrix(f) - nst.gram_matrix(s)) ** 2).sum() / (4 * 6**2 * 20**2)
    # the trace form subtracts terms ~50x larger than the loss: its rounding scales with them, not with the loss
    gf, gs = nst.gram_matrix(f), nst.gram_matrix(s)
    cancelling = float((gf.square().sum() + 2 * (gf * gs).sum() + gs.square().sum()) / (4 * 6**2 * 20**2))
    assert_near(lesson04.loss_without_gram(f, s), seed, atol=1e-6 * cancelling)
    assert torch.allclose(
        nst.style_loss(nst.gram_matrix(f, "gatys"), nst.gram_matrix(s, "gatys"), reduction="gatys"), seed, rtol=1e-4
    )


def test_same_gram_accepts_a_cholesky_factor() -> None:
    result = nst.check.same_gram(lambda F: torch.linalg.cholesky(F @ F.T))
    assert result.ok and "Cholesky" in str(result)


@pytest.mark.parametrize(
    "checker", ["style_loss_by_hand", "batch_gram", "loss_without_gram", "same_gram", "crop_experiment"]
)
def test_checkers_never_raise_on_garbage(checker) -> None:
    for garbage in (lambda *a: "nonsense", lambda *a: torch.zeros(2), lambda *a: 1 / 0, lambda *a: {1: "x"}):
        result = getattr(nst.check, checker)(garbage)
        assert not result.ok and "not answered yet" not in str(result)


# ---- exercise 5: rolled_or_flipped measures the copies instead of knowing the answer
def _sawtooth(height: int = 48, width: int = 48, period: int = 8) -> torch.Tensor:
    """Slow ramps up, sudden drops: its mirror image has slow ramps down and sudden rises."""
    row = (torch.arange(width) % period).float() / period
    return row.expand(1, 3, height, width).clone()


def _rising_edges(x: torch.Tensor) -> dict:
    """A 'network' that sees only rising edges, circularly: blind to a roll, not to a mirror."""
    f = torch.relu(x.roll(-1, 3) - x)
    return {layer: f for layer in ("relu1_1", "relu2_1", "relu3_1")}


def test_rolled_or_flipped_right_wrong_and_stub_on_the_lessons_kind_of_tensors() -> None:
    g = torch.Generator().manual_seed(0)
    blur = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 52, 68, generator=g), 5, stride=1)  # (1, 3, 48, 64)
    style, cat = blur, 0.5 * blur.flip(1) + 0.3
    vgg = nst.VGGFeatures(
        "vgg16", layers=("relu1_1", "relu2_1", "relu3_1", "relu4_2"), weights="random:0", device="cpu"
    )
    right = nst.check.rolled_or_flipped("both", style=style, other=cat, net=vgg)
    assert right.ok and "on your images" in str(right), str(right)
    for answer, phrase in (("rolled", "half of it"), ("flipped", "so is the rolled one"), ("neither", "far closer")):
        wrong = nst.check.rolled_or_flipped(answer, style=style, other=cat, net=vgg)
        assert not wrong.ok and phrase in str(wrong) and "Measured on your images" in str(wrong), str(wrong)
    for stub in (..., None, ""):
        assert "not answered yet" in str(nst.check.rolled_or_flipped(stub, style=style, other=cat, net=vgg))


def test_rolled_or_flipped_follows_the_measurement() -> None:
    saw, flat = _sawtooth(), torch.full((1, 3, 48, 48), 0.5)
    right = nst.check.rolled_or_flipped("rolled", style=saw, other=flat, net=_rising_edges)
    assert right.ok and "on these images" in str(right), str(right)
    wrong = nst.check.rolled_or_flipped("both", style=saw, other=flat, net=_rising_edges)
    assert not wrong.ok and "the answer is 'rolled'" in str(wrong), str(wrong)
    broken = nst.check.rolled_or_flipped("both", style=saw, other=flat, net=lambda x: {"relu9_9": x})
    assert not broken.ok and "could not measure" in str(broken)
