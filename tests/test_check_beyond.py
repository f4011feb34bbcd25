"""The lesson 08 checkers accept the reference solutions and reject typical wrong answers, saying why."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _load(lesson: str):
    spec = importlib.util.spec_from_file_location(f"{lesson}_solutions", ROOT / "solutions" / f"{lesson}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECKS = {"lesson08": ["luminance_by_hand", "colour_transfer_by_hand", "masked_gram_by_hand"]}


@pytest.mark.parametrize("lesson,name", [(lesson, n) for lesson, names in CHECKS.items() for n in names])
def test_reference_solutions_pass(lesson: str, name: str) -> None:
    result = getattr(nst.check, name)(getattr(_load(lesson), name))
    assert result.ok, str(result)
    assert str(result).startswith("✅")


def _fails_with(result: nst.check.CheckResult, *words: str) -> None:
    assert not result.ok, str(result)
    for word in words:
        assert word in str(result), (word, str(result))


def test_luminance_mistakes() -> None:
    _fails_with(nst.check.luminance_by_hand(lambda x: x.mean(1, keepdim=True)), "equally")
    _fails_with(nst.check.luminance_by_hand(
        lambda x: 0.299 * x[:, 2:] + 0.587 * x[:, 1:2] + 0.114 * x[:, :1]), "B, G, R")
    _fails_with(nst.check.luminance_by_hand(lambda x: x * 0.5), "three channels")


def _cov(x):
    return x.flatten(1) @ x.flatten(1).T / x[0].numel()


def test_colour_transfer_mistakes() -> None:
    def mean_only(s, t):
        return s - s.mean((2, 3), keepdim=True) + t.mean((2, 3), keepdim=True)

    def per_channel(s, t):
        ms, mt = s.mean((2, 3), keepdim=True), t.mean((2, 3), keepdim=True)
        ss, st = s.std((2, 3), keepdim=True, unbiased=False), t.std((2, 3), keepdim=True, unbiased=False)
        return (s - ms) / ss * st + mt

    def swapped(s, t):  # A = L_S L_T⁻¹: the order reversed
        xs, xt = s[0].flatten(1).double(), t[0].flatten(1).double()
        ms, mt = xs.mean(1, keepdim=True), xt.mean(1, keepdim=True)
        ls = torch.linalg.cholesky((xs - ms) @ (xs - ms).T / xs.shape[1])
        lt = torch.linalg.cholesky((xt - mt) @ (xt - mt).T / xt.shape[1])
        return (ls @ torch.linalg.inv(lt) @ (xs - ms) + mt).float().reshape(s.shape)

    def no_shift(s, t):
        sol = _load("lesson08").colour_transfer_by_hand(s, t)
        return sol - t.mean((2, 3), keepdim=True)

    _fails_with(nst.check.colour_transfer_by_hand(mean_only), "mean colour matches but the covariance")
    _fails_with(nst.check.colour_transfer_by_hand(per_channel), "correlations between channels")
    _fails_with(nst.check.colour_transfer_by_hand(swapped), "order")
    _fails_with(nst.check.colour_transfer_by_hand(no_shift), "covariance matches but the mean")
    # the eigen ("image analogies") map is also right, and the checker says it is not Cholesky's
    eigen = nst.check.colour_transfer_by_hand(lambda s, t: nst.match_colour(s, t, "eigen", eps=0.0, clamp=False))
    assert eigen.ok and "not Cholesky" in str(eigen)


def test_masked_gram_mistakes() -> None:
    def all_positions(f, t):
        g = (f * t).flatten(2)
        return g @ g.transpose(1, 2) / (f.shape[1] * f.shape[2] * f.shape[3])

    def once(f, t):
        return (f * t).flatten(2) @ f.flatten(2).transpose(1, 2) / (f.shape[1] * t.sum())

    _fails_with(nst.check.masked_gram_by_hand(all_positions), "N·M")
    _fails_with(nst.check.masked_gram_by_hand(once), "weighted by T once")
    _fails_with(nst.check.masked_gram_by_hand(lambda f, t: nst.gram_matrix(f, "chw")), "differs")
