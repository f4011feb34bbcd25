"""The lesson 03 checkers accept the reference solutions and reject typical wrong answers, saying why."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _solutions():
    spec = importlib.util.spec_from_file_location("lesson03_solutions", ROOT / "solutions" / "lesson03.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _solutions()


@pytest.mark.parametrize("name", ["content_loss_by_hand", "content_gradient", "most_detail_layer"])
def test_reference_solutions_pass(name):
    result = getattr(nst.check, name)(getattr(SOL, name))
    assert result.ok, str(result)


def test_unfilled_stubs_are_reported_kindly():
    def stub(*args):
        raise NotImplementedError

    for name in ("content_loss_by_hand", "content_gradient"):
        result = getattr(nst.check, name)(stub)
        assert not result.ok and "NotImplementedError" in result.message
    assert "answer with one of" in nst.check.most_detail_layer("").message


@pytest.mark.parametrize("wrong, phrase", [
    (lambda F, P: ((F - P) ** 2).sum(), "½ in front of the sum is missing"),
    (lambda F, P: ((F - P) ** 2).mean(), "mean convention"),
    (lambda F, P: 0.5 * ((F - P) ** 2).mean(), "½ × the mean"),
    (lambda F, P: 0.25 * ((F - P) ** 2).sum(), "halve twice"),
    (lambda F, P: 0.5 * (F - P).abs().sum(), "|F − P|"),
    (lambda F, P: (F - P).norm(), "Euclidean norm"),
    (lambda F, P: (0.5 * ((F - P) ** 2).sum()).item(), "Python number"),
    (lambda F, P: 0.5 * ((F.detach() - P) ** 2).sum(), "autograd"),
])
def test_content_loss_mistakes_are_named(wrong, phrase):
    result = nst.check.content_loss_by_hand(wrong)
    assert not result.ok
    assert phrase in result.message


def test_content_loss_checker_uses_the_gatys_reduction():
    # The oracle really is ½ Σ (F − P)²: nst.content_loss's default (mean) must not pass.
    assert not nst.check.content_loss_by_hand(lambda F, P: nst.content_loss(F, P)).ok
    assert nst.check.content_loss_by_hand(lambda F, P: nst.content_loss(F, P, reduction="gatys")).ok


@pytest.mark.parametrize("wrong, phrase", [
    (lambda F, P: P - F, "wrong sign"),
    (lambda F, P: 2 * (F - P), "cancels the 2"),
    (lambda F, P: (F - P).clamp(min=0), "differs"),
])
def test_content_gradient_mistakes_are_named(wrong, phrase):
    result = nst.check.content_gradient(wrong)
    assert not result.ok and phrase in result.message


def test_most_detail_layer_feedback():
    assert nst.check.most_detail_layer(" CONV1_2 ").ok
    wrong = nst.check.most_detail_layer("conv4_2")
    assert not wrong.ok and "arrangement" in wrong.message
