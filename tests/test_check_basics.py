"""The lesson 01 checkers accept the reference solutions and reject typical wrong answers, saying why."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _solutions():
    spec = importlib.util.spec_from_file_location("lesson01_solutions", ROOT / "solutions" / "lesson01.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _solutions()


@pytest.mark.parametrize("name", ["conv_output_size", "conv2d_by_hand", "max_pool_by_hand", "stacked_3x3"])
def test_reference_solutions_pass(name):
    result = getattr(nst.check, name)(getattr(SOL, name))
    assert result.ok, str(result)
    assert str(result).startswith("✅")


def test_unfilled_stub_is_reported_kindly():
    def stub(*args):
        raise NotImplementedError

    for name in ("conv_output_size", "conv2d_by_hand", "max_pool_by_hand", "stacked_3x3"):
        result = getattr(nst.check, name)(stub)
        assert not result.ok
        assert "NotImplementedError" in result.message


@pytest.mark.parametrize("wrong, phrase", [
    (lambda W, F, P, S: (W - F) // S + 1, "padding was left out"),
    (lambda W, F, P, S: (W - F + P) // S + 1, "counted once"),
    (lambda W, F, P, S: -(-(W - F + 2 * P) // S) + 1, "rounded up"),
    (lambda W, F, P, S: (W - F + 2 * P) // S, "+ 1 is missing"),
    (lambda W, F, P, S: (W - F + 2 * P) / S + 1, "float"),
])
def test_conv_output_size_names_the_mistake(wrong, phrase):
    result = nst.check.conv_output_size(wrong)
    assert not result.ok
    assert phrase in result.message


def test_conv2d_flipped_kernel_is_called_out():
    def true_convolution(image, kernel, stride=1):
        return SOL.conv2d_by_hand(image, kernel.flip(0, 1), stride)

    result = nst.check.conv2d_by_hand(true_convolution)
    assert not result.ok and "cross-correlation" in result.message


def test_conv2d_ignoring_stride_fails_on_shape():
    result = nst.check.conv2d_by_hand(lambda image, kernel, stride=1: SOL.conv2d_by_hand(image, kernel, 1))
    assert not result.ok and "shape" in result.message


def test_max_pool_average_is_called_out():
    def average(x, size=2, stride=2):
        return torch.nn.functional.avg_pool2d(x[None, None], size, stride)[0, 0]

    result = nst.check.max_pool_by_hand(average)
    assert not result.ok and "average" in result.message


def test_max_pool_min_fails():
    result = nst.check.max_pool_by_hand(lambda x, size=2, stride=2: -SOL.max_pool_by_hand(-x, size, stride))
    assert not result.ok and "differs" in result.message


def test_stacked_3x3_wrong_counts():
    assert "2n + 1" in nst.check.stacked_3x3(lambda C, n: (3 * n, 9 * n * C * C, 9 * n * n * C * C)).hint
    bias_counted = nst.check.stacked_3x3(lambda C, n: (2 * n + 1, n * (9 * C * C + C), (2 * n + 1) ** 2 * C * C))
    assert not bias_counted.ok and "stacked weights" in bias_counted.message
    wrong_single = nst.check.stacked_3x3(lambda C, n: (2 * n + 1, 9 * n * C * C, (2 * n + 1) * C * C))
    assert not wrong_single.ok and "one " in wrong_single.message


def test_nan_in_an_answer_is_named_not_a_crash():
    def with_nan(image, kernel, stride=1):
        out = SOL.conv2d_by_hand(image, kernel, stride)
        out[0, 0] = float("nan")
        return out

    result = nst.check.conv2d_by_hand(with_nan)
    assert not result.ok
    assert "nan" in str(result).lower() and "(0, 0)" in str(result)
