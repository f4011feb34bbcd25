"""The lesson 01 checkers: the model answers pass (tests/test_exercises.py), and each usual mistake is named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from oracle import assert_near

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _solutions():
    spec = importlib.util.spec_from_file_location("lesson01_solutions", ROOT / "solutions" / "lesson01.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _solutions()
N_IN, N_OUT = 3 * 224 * 224, 64 * 224 * 224


def _pool_average(x, size=2, stride=2):
    return F.avg_pool2d(x[None, None], size, stride)[0, 0]


def _pool_stride_one(x, size=2, stride=2):
    return F.max_pool2d(x[None, None], size, 1)[0, 0]


def _pool_ceil(x, size=2, stride=2):
    return F.max_pool2d(x[None, None], size, stride, ceil_mode=True)[0, 0]


def _kernel_flipped(x, y):
    return SOL.recover_kernel(x, y).flip(0, 1)


def _kernel_transposed(x, y):
    return SOL.recover_kernel(x, y).T


def _kernel_always_3x3(x, y):
    return SOL.recover_kernel(x, y)[:3, :3]


def _kernel_nine_equations(x, y):
    k = x.shape[0] - y.shape[0] + 1
    patches = F.unfold(x[None, None], k)[0].T
    return torch.linalg.solve(patches[: k * k], y.reshape(-1)[: k * k]).reshape(k, k)


def _sharing_with(**changes):
    def experiment(train, test):
        result = SOL.sharing_experiment(train, test)
        result.update({k: (v(train, test) if callable(v) else v) for k, v in changes.items()})
        return result

    return experiment


def _unshared_on_train(train, test):
    return SOL.sharing_experiment(train, train)["unshared_test"]


def _unshared_absolute(train, test):
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    y_test = F.conv2d(test[None, None], sobel[None, None])
    return SOL.sharing_experiment(train, test)["unshared_test"] * float(y_test.norm())


WRONG_ANSWERS = {
    "fc_params": [
        (N_IN * N_OUT, "left out the biases"),
        (N_IN * N_OUT + 64, "one bias per feature map"),
        (N_IN, "ONE output neuron"),
        (224 * 224 * N_OUT + N_OUT, "one input channel"),
        (N_IN * 224 * 224 + 224 * 224, "one output map"),
        (1792, "conv1_1 itself"),
        ("a lot", "as a number"),
        (12345, "does not have"),
    ],
    "max_pool_by_hand": [
        (_pool_average, "average"),
        (lambda x, size=2, stride=2: -SOL.max_pool_by_hand(-x, size, stride), "smallest"),
        (_pool_stride_one, "one pixel at a time"),
        (_pool_ceil, "hanging over the edge"),
        (lambda x, size=2, stride=2: SOL.max_pool_by_hand(x, size, stride) + 1, "differs"),
    ],
    "recover_kernel": [
        (_kernel_flipped, "upside down"),
        (_kernel_transposed, "transposed"),
        (_kernel_always_3x3, "shape"),
        (_kernel_nine_equations, "least-squares"),
    ],
    "shift_commuters": [
        ("abcde", "does NOT commute"),
        ("a", "(e) a 1×1 convolution from 3 to 8 channels DOES commute"),
        ("aef", "zero border"),
        ("ab", "every other position"),
        ("ad", "unshared parameter"),
        ("z", "letters a to f"),
    ],
    "sharing_experiment": [
        (_sharing_with(unshared_params=9), "That is one kernel"),
        (_sharing_with(unshared_params=9 * 12 * 14), "per INPUT pixel"),
        (_sharing_with(shared_params=10), "9 parameters"),
        (_sharing_with(unshared_test=_unshared_on_train), "as if it had seen it"),
        (_sharing_with(unshared_test=_unshared_absolute), "absolute error"),
        (_sharing_with(shared_test=0.5), "least squares finds it exactly"),
        (_sharing_with(unshared_train=0.3), "fit the training image exactly"),
        (lambda train, test: {"shared_params": 9}, "lacks"),
        (lambda train, test: [0.0] * 6, "dict"),
    ],
}


def test_fc_params_wants_the_exact_count():
    assert nst.check.fc_params(float(N_IN * N_OUT + N_OUT)).ok
    result = nst.check.fc_params(4.834e11)
    assert not result.ok and "exact count" in str(result)


def test_shift_commuters_reads_letters_in_any_form():
    for answer in ("ae", "a, e", "(a) and (e)", ["a", "e"], "EA"):
        assert nst.check.shift_commuters(answer).ok, answer


def test_shift_commuters_measures_the_layers_it_describes():
    from nstlib.course.check.basics import _shift_layers

    x = torch.rand(1, 3, 16, 16)
    errors = {k: float((f(x.roll(1, -1)) - f(x).roll(1, -1)).norm() / f(x).norm()) for k, f in _shift_layers().items()}
    assert {k for k, e in errors.items() if e < 1e-5} == {"a", "e"}
    # the stride-2 layers do commute with a 2-pixel shift (1 pixel on their output)
    for k in ("b", "c"):
        f = _shift_layers()[k]
        assert_near(f(x.roll(2, -1)), f(x).roll(1, -1))


def test_nan_in_a_pooled_map_is_named_not_a_crash():
    def with_nan(x, size=2, stride=2):
        out = SOL.max_pool_by_hand(x, size, stride)
        out[0, 0] = float("nan")
        return out

    result = nst.check.max_pool_by_hand(with_nan)
    assert not result.ok and "nan" in str(result).lower() and "(0, 0)" in str(result)


def test_the_sharing_oracle_is_the_model_answer():
    from nstlib.course.check._basics_sharing import _sharing_oracle

    g = torch.Generator().manual_seed(0)
    train, test = torch.rand(20, 20, generator=g), torch.rand(20, 20, generator=g)
    want, got = _sharing_oracle(train, test), SOL.sharing_experiment(train, test)
    assert got["unshared_params"] == want["unshared_params"] == 9 * 18 * 18
    assert abs(got["unshared_test"] - want["unshared_test"]) < 1e-4 and want["unshared_test"] > 0.5
    assert want["shared_test"] < 1e-6
