"""The lesson 02 checkers accept the reference solutions and reject typical wrong answers, saying why."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import nstlib as nst
from nstlib.check.vgg import _meta_shape, _recurrence, _vgg_stack

ROOT = Path(__file__).resolve().parents[1]


def _solutions():
    spec = importlib.util.spec_from_file_location("lesson02_solutions", ROOT / "solutions" / "lesson02.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _solutions()


@pytest.mark.parametrize("name", ["receptive_field_of", "conv_layer_params", "feature_shape"])
def test_reference_solutions_pass(name):
    result = getattr(nst.check, name)(getattr(SOL, name))
    assert result.ok, str(result)


def test_pooling_question():
    assert nst.check.pooling_question(SOL.pooling_question).ok
    assert nst.check.pooling_question("(B)").ok
    wrong = nst.check.pooling_question("c")
    assert not wrong.ok and "trained" in wrong.message
    assert "one letter" in nst.check.pooling_question("average").message


def test_unfilled_stubs_are_reported_kindly():
    def stub(*args):
        raise NotImplementedError

    for name in ("receptive_field_of", "conv_layer_params", "feature_shape"):
        result = getattr(nst.check, name)(stub)
        assert not result.ok and "NotImplementedError" in result.message


def test_oracles_agree_with_nstlib_and_analytic_values():
    # The checker's recurrence reproduces nstlib's table on every VGG-19 layer, and known values.
    for name in nst.layer_names("vgg19"):
        assert _recurrence(_vgg_stack("vgg19", name)) == nst.receptive_field("vgg19", name)
    assert _recurrence([(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)]) == (195, 32)  # AlexNet
    assert _meta_shape("vgg19", "pool5", 224, 224) == (512, 7, 7)
    assert _meta_shape("vgg19", "relu4_2", 64, 43) == (512, 8, 5)


def test_receptive_field_ignoring_the_jump_is_explained():
    def no_jump(layers):
        return 1 + sum(k - 1 for k, _ in layers), 1

    result = nst.check.receptive_field_of(no_jump)
    assert not result.ok and "jump" in result.message

    def jump_but_additive(layers):
        field = 1 + sum(k - 1 for k, _ in layers)
        jump = 1
        for _, s in layers:
            jump *= s
        return field, jump

    result = nst.check.receptive_field_of(jump_but_additive)
    assert not result.ok and "stride-2" in result.message


def test_conv_params_mistakes_are_named():
    assert "biases" in nst.check.conv_layer_params(lambda c_in, c_out, k=3: k * k * c_in * c_out).message
    assert "input" in nst.check.conv_layer_params(lambda c_in, c_out, k=3: k * k * c_out + c_out).message
    assert not nst.check.conv_layer_params(lambda c_in, c_out, k=3: 3 * 3 * c_in * c_out + c_out).ok  # ignores k


def test_feature_shape_mistakes_are_named():
    def one_pool_too_many(arch, layer, H, W):
        c, h, w = SOL.feature_shape(arch, layer, H, W)
        return c, h // 2, w // 2

    assert "too often" in nst.check.feature_shape(one_pool_too_many).message

    def rounds_up(arch, layer, H, W):
        c = SOL.feature_shape(arch, layer, H, W)[0]
        p = int(layer[4]) if layer.startswith("pool") else int(layer[4]) - 1
        return c, -(-H // 2 ** p), -(-W // 2 ** p)

    assert "rounded up" in nst.check.feature_shape(rounds_up).message
    assert "channels" in nst.check.feature_shape(lambda arch, layer, H, W: (64,) + SOL.feature_shape(arch, layer, H, W)[1:]).message
