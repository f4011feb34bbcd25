"""The lesson 09 checkers accept the reference solutions and reject typical wrong answers, saying why."""
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


CHECKS = {"lesson09": ["mean_cov_by_hand", "w2_by_hand", "sqrtm_by_hand"]}


@pytest.mark.parametrize("lesson,name", [(lesson, n) for lesson, names in CHECKS.items() for n in names])
def test_reference_solutions_pass(lesson: str, name: str) -> None:
    result = getattr(nst.check, name)(getattr(_load(lesson), name))
    assert result.ok, str(result)
    assert str(result).startswith("✅")


def _fails_with(result: nst.check.CheckResult, *words: str) -> None:
    assert not result.ok, str(result)
    for word in words:
        assert word in str(result), (word, str(result))


def test_mean_cov_mistakes() -> None:
    _fails_with(nst.check.mean_cov_by_hand(lambda f: (f.mean(1), torch.cov(f))), "M − 1")
    _fails_with(nst.check.mean_cov_by_hand(lambda f: (f.mean(1), f @ f.T / f.shape[1])), "μμᵀ")
    _fails_with(nst.check.mean_cov_by_hand(lambda f: (f.mean(0), torch.cov(f, correction=0))), "over the channels")
    _fails_with(nst.check.mean_cov_by_hand(lambda f: f.mean(1)), "two things")


def test_w2_and_sqrtm_mistakes() -> None:
    sol = _load("lesson09")

    def naive(m1, s1, m2, s2):
        return (m1 - m2).square().sum() + (sol.sqrtm_by_hand(s1) - sol.sqrtm_by_hand(s2)).square().sum()

    _fails_with(nst.check.w2_by_hand(naive), "commute")
    _fails_with(nst.check.w2_by_hand(lambda *a: sol.w2_by_hand(*a).sqrt()), "square")
    _fails_with(nst.check.w2_by_hand(lambda m1, s1, m2, s2: sol.w2_by_hand(m1, s1, m2, s2) - (m1 - m2).square().sum()),
                "mean term")
    _fails_with(nst.check.sqrtm_by_hand(torch.sqrt), "every entry")
    _fails_with(nst.check.sqrtm_by_hand(torch.linalg.cholesky), "not symmetric")
    _fails_with(nst.check.sqrtm_by_hand(lambda s: -sol.sqrtm_by_hand(s)), "negative")
