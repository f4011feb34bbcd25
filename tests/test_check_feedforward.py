"""The lesson 10 checkers accept the reference solutions and reject typical wrong answers, saying why."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch.nn.functional as F

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _load(lesson: str):
    spec = importlib.util.spec_from_file_location(f"{lesson}_solutions", ROOT / "solutions" / f"{lesson}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECKS = {"lesson10": ["instance_norm_by_hand", "transfer_net_sizes"]}


@pytest.mark.parametrize("lesson,name", [(lesson, n) for lesson, names in CHECKS.items() for n in names])
def test_reference_solutions_pass(lesson: str, name: str) -> None:
    result = getattr(nst.check, name)(getattr(_load(lesson), name))
    assert result.ok, str(result)
    assert str(result).startswith("✅")


def _fails_with(result: nst.check.CheckResult, *words: str) -> None:
    assert not result.ok, str(result)
    for word in words:
        assert word in str(result), (word, str(result))


def test_instance_norm_and_size_mistakes() -> None:
    def batch(x, eps):
        return F.batch_norm(x, None, None, training=True, eps=eps)

    def unbiased(x, eps):
        return (x - x.mean((2, 3), keepdim=True)) / (x.var((2, 3), keepdim=True) + eps).sqrt()

    _fails_with(nst.check.instance_norm_by_hand(batch), "batch normalisation")
    _fails_with(nst.check.instance_norm_by_hand(lambda x, eps: F.layer_norm(x, x.shape[1:], eps=eps)), "layer")
    _fails_with(nst.check.instance_norm_by_hand(unbiased), "unbiased")
    _fails_with(nst.check.transfer_net_sizes(lambda h: [h, h // 2, h // 4]), "rounding down")
    _fails_with(nst.check.transfer_net_sizes(lambda h: [h, h, h]), "real Conv2d")
