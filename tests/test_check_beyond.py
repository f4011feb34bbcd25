"""The lesson 08 checkers accept the model answers and reject typical wrong answers, saying why.

``WRONG_ANSWERS`` is read by tests/test_exercises.py (each answer must fail with the phrase in its feedback);
the tests below cover what that table cannot: answers that are right in another way, and speed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("lesson08_model", ROOT / "solutions" / "lesson08.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _load()


def _yiq_mix(y_from, iq_from):
    return nst.yiq_to_rgb(torch.cat([nst.rgb_to_yiq(y_from)[:, :1], nst.rgb_to_yiq(iq_from)[:, 1:]], dim=1))


def _power(cov, p):
    values, vectors = torch.linalg.eigh(cov)
    return vectors @ torch.diag(values**p) @ vectors.T


def _recolour(make_a, unbiased=False, shift=True):
    """A colour transfer x' = A(x − μ_S) + μ_T with A = make_a(Σ_S, Σ_T)."""

    def answer(source, target):
        xs, xt = source[0].flatten(1).double(), target[0].flatten(1).double()
        ms, mt = xs.mean(1, keepdim=True), xt.mean(1, keepdim=True)
        cs = (xs - ms) @ (xs - ms).T / (xs.shape[1] - unbiased)
        ct = (xt - mt) @ (xt - mt).T / (xt.shape[1] - unbiased)
        return (make_a(cs, ct) @ (xs - ms) + (mt if shift else ms)).float().reshape(source.shape)

    return answer


def _per_channel(source, target):
    ms, mt = source.mean((2, 3), keepdim=True), target.mean((2, 3), keepdim=True)
    ss, st = source.std((2, 3), keepdim=True, unbiased=False), target.std((2, 3), keepdim=True, unbiased=False)
    return (source - ms) / ss * st + mt


def _gram_with(resize=None, square=False, mass="T", divide_n=True):
    def answer(feats, mask):
        t = resize(mask, feats.shape[-2:]) if resize else F.interpolate(mask, size=feats.shape[-2:], mode="area")
        f, w = feats.flatten(2), t.flatten(2)
        left = f * w
        right = f * w if square else f
        norm = {"T": w.sum(), "T2": w.square().sum(), "M": torch.tensor(float(w.numel()))}[mass]
        return left @ right.transpose(1, 2) / ((feats.shape[1] if divide_n else 1) * norm)

    return answer


def _nearest(mask, size):
    return F.interpolate(mask, size=size, mode="nearest")


def _bilinear(mask, size):
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False)


def _grey(**changes):
    return {**SOL.grey_photo, **changes}


WRONG_ANSWERS = {
    "keep_colours": [
        (lambda result, content: _yiq_mix(content, result), "the other way round"),
        (
            lambda result, content: torch.cat([nst.rgb_to_yiq(result)[:, :1], nst.rgb_to_yiq(content)[:, 1:]], 1),
            "still in YIQ",
        ),
        (lambda result, content: result, "stylised result unchanged"),
        (
            lambda result, content: content + result.mean(1, keepdim=True) - content.mean(1, keepdim=True),
            "mean of R, G, B",
        ),
    ],
    "colour_transfer_sym": [
        (lambda s, t: nst.match_colour(s, t, "cholesky", eps=0.0, clamp=False), "Cholesky map of the lesson"),
        (_recolour(lambda cs, ct: _power(ct, 0.5) @ _power(cs, 0.5)), "Σ_S^{+1/2}"),
        (_recolour(lambda cs, ct: _power(cs, -0.5) @ _power(ct, 0.5)), "order is reversed"),
        (_recolour(lambda cs, ct: _power(ct, 0.5) @ _power(cs, -0.5), unbiased=True), "n − 1"),
        (_recolour(lambda cs, ct: _power(ct, 0.5) @ _power(cs, -0.5), shift=False), "mean colour does not"),
        (_per_channel, "scaling the channels one by one"),
        (_recolour(lambda cs, ct: ct.sqrt() @ torch.linalg.inv(cs.sqrt())), "NaN"),
        (
            _recolour(
                lambda cs, ct: _power(cs, -0.5) @ _power(_power(cs, 0.5) @ ct @ _power(cs, 0.5), 0.5) @ _power(cs, -0.5)
            ),
            "the cheapest one",
        ),
    ],
    "soft_region_gram": [
        (_gram_with(square=True, mass="T2"), "lesson's guided Gram"),
        (
            lambda feats, mask: nst.masked_gram_matrix(feats, F.interpolate(mask, size=feats.shape[-2:], mode="area")),
            "lesson's guided Gram",
        ),
        (_gram_with(square=True, mass="T"), "both factors"),
        (_gram_with(mass="M"), "N·M"),
        (_gram_with(resize=_nearest), "mode='nearest'"),
        (_gram_with(resize=_bilinear), "mode='bilinear'"),
        (_gram_with(resize=lambda m, size: F.adaptive_max_pool2d(m, size)), "maximum of the mask"),
        (_gram_with(divide_n=False), "normalising constant"),
        (lambda feats, mask: _gram_with()(feats, mask.expand(-1, -1, -1, -1)[..., :4, :6]), "differs"),
    ],
    "grey_photo": [
        (_grey(luminance_chroma=0.3), "luminance_chroma"),
        (_grey(covariance_rank=3), "grey line"),
        (_grey(covariance_rank=0), "Only a constant image"),
        (_grey(recoloured_style_grey=False), "recoloured_style_grey"),
        (_grey(plain_transfer_grey=True), "paints colour in"),
        (_grey(plain_transfer_grey=...), "still missing"),
        ([0, 1, True, False], "answer with a dict"),
    ],
    "stroke_size": [
        (lambda image: float(image.shape[-1]), "measures the image"),
        (lambda image: SOL.stroke_size(image) ** 2, "area"),
        (lambda image: 1.0 / SOL.stroke_size(image), "frequency"),
        (lambda image: float(nst.rgb_to_yiq(image)[:, 0].std()) * SOL.stroke_size(image), "contrast"),
        (lambda image: 3.0, "hardly notices"),
        (lambda image: -1.0, "positive"),
        (lambda image: [1.0, 2.0], "one number"),
    ],
}


def test_every_valid_answer_of_the_colour_exercises_passes() -> None:
    # nstlib's own functions are right answers too
    assert nst.check.keep_colours(nst.combine_luminance)
    assert nst.check.colour_transfer_sym(lambda s, t: nst.match_colour(s, t, "eigen", eps=0.0, clamp=False))
    assert nst.check.keep_colours(lambda r, c: SOL.keep_colours(r, c).clamp(0, 1))


def test_the_soft_gram_is_the_guided_gram_for_hard_masks() -> None:
    # for a 0/1 mask aligned with the feature grid the two normalisations agree: the exercise generalises the lesson
    feats = torch.rand(1, 4, 3, 5, dtype=torch.float64)
    mask = torch.zeros(1, 1, 6, 10, dtype=torch.float64)
    mask[..., :, :4] = 1.0
    t = F.interpolate(mask, size=(3, 5), mode="area")
    assert torch.allclose(SOL.soft_region_gram(feats, mask), nst.masked_gram_matrix(feats, t))
    assert torch.allclose(SOL.soft_region_gram(feats, 0.3 * mask), SOL.soft_region_gram(feats, mask))


def test_the_model_stroke_size_tracks_a_resize() -> None:
    image = nst.load_image(ROOT / "images" / "style_waves.jpg", size=96)
    ratio = SOL.stroke_size(nst.resize_image(image, 192)) / SOL.stroke_size(image)
    assert 1.6 < ratio < 2.5, ratio


def test_the_untouched_prediction_cell_is_not_yet_answered() -> None:
    result = nst.check.grey_photo({key: ... for key in SOL.grey_photo})
    assert not result.ok and "not answered yet" in str(result)
