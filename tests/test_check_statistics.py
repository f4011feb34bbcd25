"""The lesson 09 checkers accept the model answers and reject typical wrong answers, saying why.

``WRONG_ANSWERS`` is read by tests/test_exercises.py (each answer must fail with the phrase in its feedback);
the tests below cover what that table cannot: other right answers, the facts the checkers rely on, and speed.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("lesson09_model", ROOT / "solutions" / "lesson09.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _load()


def _power(s, p):
    values, vectors = torch.linalg.eigh(s.double())
    return vectors @ torch.diag(values**p) @ vectors.T


def _map_with(make_a):
    def answer(m1, s1, m2, s2):
        a = make_a(s1.double(), s2.double())
        return a, m2.double() - a @ m1.double()

    return answer


def _flip_some_signs(f):
    signs = torch.ones(f.shape[1], dtype=f.dtype)
    signs[::3] = -1
    return f * signs


def _vanish(**changes):
    return {**SOL.which_vanish, **changes}


def _floor_with(split="lr", gap_whole=False, root=False, itself=False, pieces="halves"):
    def answer(feature_fn, style, other):
        def gaussian(image):
            mu, cov = nst.mean_covariance(feature_fn(image))
            return mu[0], cov[0]

        h, w = style.shape[-2:]
        if itself:
            a = b = style
        elif pieces == "corners":
            a, b = style[..., : h // 2, : w // 2], style[..., h // 2 :, w // 2 :]
        elif split == "lr":
            a, b = style[..., : w // 2], style[..., w // 2 :]
        else:
            a, b = style[..., : h // 2, :], style[..., h // 2 :, :]
        floor = nst.gaussian_w2(*gaussian(a), *gaussian(b), squared=not root)
        gap = nst.gaussian_w2(
            *gaussian(style if gap_whole else a), *gaussian(other if gap_whole else other[..., : other.shape[-1] // 2])
        )
        return float(floor), float(gap)

    return answer


WRONG_ANSWERS = {
    "w2_to_zero": [
        (lambda mu, cov: (mu.square().sum() + torch.trace(cov)).sqrt(), "W₂ itself"),
        (lambda mu, cov: torch.trace(cov), "mean term is missing"),
        (lambda mu, cov: mu.square().sum(), "only the mean term"),
        (lambda mu, cov: mu.square().sum() + cov.norm(), "Frobenius"),
        (lambda mu, cov: mu.square().sum() + cov.sum(), "summed every entry"),
        (lambda mu, cov: mu.norm() + torch.trace(cov), "should be squared"),
        (lambda mu, cov: mu.square().sum() + torch.trace(_power(cov, 0.5)), "tr Σ^{1/2}"),
        (lambda mu, cov: mu.square().sum() + torch.trace(cov) - 2 * torch.trace(_power(cov, 0.5)), "Σ₁ = 0 inside"),
        (lambda mu, cov: [1.0, 2.0], "one number"),
    ],
    "same_gaussian": [
        (lambda f: f[:, torch.randperm(f.shape[1])], "reordered or repeated"),
        (lambda f: f.clone(), "reordered or repeated"),
        (lambda f: -f, "Gram matrix but not its mean"),
        (_flip_some_signs, "Gram matrix but not its mean"),
        (lambda f: f - 1.0, "mean moved"),
        (lambda f: f.mean(1, keepdim=True) + (f - f.mean(1, keepdim=True)).flip(0), "the covariance does not"),
        (lambda f: f.T, "rows (channels)"),
    ],
    "w2_map": [
        (_map_with(lambda s1, s2: torch.linalg.cholesky(s2) @ torch.linalg.inv(torch.linalg.cholesky(s1))), "Cholesky"),
        (_map_with(lambda s1, s2: _power(s2, 0.5) @ _power(s1, -0.5)), "symmetric-root map"),
        (_map_with(lambda s1, s2: torch.diag((s2.diagonal() / s1.diagonal()).sqrt())), "each coordinate on its own"),
        (
            _map_with(
                lambda s1, s2: _power(s1, -0.5) @ _power(_power(s1, 0.5) @ s2 @ _power(s1, 0.5), 0.5) @ _power(s1, 0.5)
            ),
            "does not produce",
        ),
        (lambda m1, s1, m2, s2: (SOL.w2_map(m1, s1, m2, s2)[0], m2 - m1), "b = μ₂ − A μ₁"),
        (lambda m1, s1, m2, s2: SOL.w2_map(m1, s1, m2, s2)[0], "two things"),
    ],
    "which_vanish": [
        (_vanish(shuffled={"w2"}), "reordering them changes none"),
        (_vanish(negated={"gram", "mean_cov", "w2"}), "the mean flips"),
        (_vanish(negated=set()), "cannot tell F from −F"),
        (_vanish(rotated={"gram"}), "isotropic cloud"),
        (_vanish(w2_negated=5.0), "4‖μ‖²"),
        (_vanish(w2_rotated=0.0), "does move it"),
        (_vanish(rotated={"gramm"}), "give a set of statistic names"),
        (_vanish(w2_rotated=...), "still missing"),
        (["gram"], "answer with a dict"),
    ],
    "floor_and_gap": [
        (_floor_with(itself=True), "compare the whole style with itself"),
        (_floor_with(pieces="corners"), "halves of the style is"),
        (_floor_with(root=True), "W₂, not W₂²"),
        (_floor_with(gap_whole=True), "Compare halves with halves"),
        (lambda feature_fn, style, other: (1.0, 2.0), "four identical tiles"),
        (lambda feature_fn, style, other: 1.0, "two numbers"),
    ],
}


def test_other_right_answers_pass() -> None:
    def whitened_rotation(f):  # μ + Σ^{1/2} Q Σ^{-1/2} (x − μ) with Q a reflection of the whitened cloud
        mu = f.mean(1, keepdim=True)
        cov = (f - mu) @ (f - mu).T / f.shape[1]
        q = torch.eye(f.shape[0], dtype=f.dtype)
        q[0, 0] = -1
        return mu + _power(cov, 0.5) @ q @ _power(cov, -0.5) @ (f - mu)

    assert nst.check.same_gaussian(whitened_rotation)
    assert nst.check.w2_to_zero(lambda mu, cov: nst.gaussian_w2(torch.zeros_like(mu), torch.zeros_like(cov), mu, cov))
    assert nst.check.floor_and_gap(_floor_with(split="tb"))
    assert nst.check.which_vanish({**SOL.which_vanish, "negated": ["gram"], "shuffled": ("gram", "mean-cov", "W2")})


def test_the_facts_the_checkers_teach() -> None:
    # W₂² to an empty map is N·tr Ĝ; the optimal map costs exactly W₂²; the Gaussian of 2μ − F is F's
    f = torch.rand(1, 4, 5, 6, dtype=torch.float64)
    mu, cov = nst.mean_covariance(f)
    assert math.isclose(float(SOL.w2_to_zero(mu[0], cov[0])), 4 * float(torch.trace(nst.gram_matrix(f, "chw")[0])))
    m1, s1, m2, s2 = torch.zeros(2), torch.tensor([[2.0, 0.9], [0.9, 1.0]]), torch.ones(2), torch.eye(2) * 3
    a, b = SOL.w2_map(m1, s1, m2, s2)
    cost = (a @ m1.double() + b - m1.double()).square().sum() + torch.trace(
        (a - torch.eye(2)) @ s1.double() @ (a - torch.eye(2)).T
    )
    w2 = nst.gaussian_w2(m1.double(), s1.double(), m2.double(), s2.double())
    assert math.isclose(float(cost), float(w2), rel_tol=1e-9)
    assert math.isclose(
        float(
            nst.gaussian_w2(
                torch.zeros(2),
                torch.diag(torch.tensor([4.0, 1.0])),
                torch.zeros(2),
                torch.diag(torch.tensor([1.0, 4.0])),
            )
        ),
        2.0,
        rel_tol=1e-6,
    )


def test_the_untouched_prediction_cell_is_not_yet_answered() -> None:
    result = nst.check.which_vanish({key: ... for key in SOL.which_vanish})
    assert not result.ok and "not answered yet" in str(result)
