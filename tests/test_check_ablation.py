"""The lesson-06 checkers accept the reference answers and explain the usual wrong ones."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nstlib as nst

_SPEC = importlib.util.spec_from_file_location(
    "lesson06_solutions", Path(__file__).resolve().parents[1] / "solutions" / "lesson06.py")
lesson06 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lesson06)


def test_style_coverage_solution_matches_library_everywhere() -> None:
    for layer in nst.layer_names("vgg19"):
        assert lesson06.style_coverage(layer, 100) == nst.receptive_field("vgg19", layer)[0] / 100, layer


def test_style_coverage_accepts_solution_and_library() -> None:
    assert nst.check.style_coverage(lesson06.style_coverage).ok
    assert nst.check.style_coverage(lambda layer, side: nst.receptive_field("vgg19", layer)[0] / side).ok


def test_style_coverage_names_mistakes() -> None:
    result = nst.check.style_coverage(lambda layer, side: nst.receptive_field("vgg19", layer)[1] / side)
    assert not result.ok and "stride" in result.message
    result = nst.check.style_coverage(lambda layer, side: side / nst.receptive_field("vgg19", layer)[0])
    assert not result.ok and "upside down" in result.message
    result = nst.check.style_coverage(lambda layer, side: min(1.0, nst.receptive_field("vgg19", layer)[0] / side))
    assert not result.ok and "cap" in result.message

    def no_pools(layer, side):
        names = nst.layer_names("vgg19")[: nst.layer_index("vgg19", layer) + 1]
        return (1 + 2 * sum(n.startswith("conv") for n in names)) / side

    result = nst.check.style_coverage(no_pools)
    assert not result.ok and "pooling" in result.message


def test_style_coverage_stub_and_garbage() -> None:
    def stub(layer, side):
        raise NotImplementedError

    assert "NotImplementedError" in nst.check.style_coverage(stub).message
    assert not nst.check.style_coverage(lambda layer, side: "big").ok


def test_balanced_layer_weights_accepts_solution() -> None:
    result = nst.check.balanced_layer_weights(lesson06.balanced_layer_weights)
    assert result.ok, str(result)


def test_balanced_layer_weights_names_mistakes() -> None:
    def proportional(losses):
        total = sum(losses.values())
        return {k: v / total for k, v in losses.items()}

    result = nst.check.balanced_layer_weights(proportional)
    assert not result.ok and "proportional to the losses" in result.message

    result = nst.check.balanced_layer_weights(lambda losses: {k: 1 / v for k, v in losses.items()})
    assert not result.ok and "add up to" in result.message

    result = nst.check.balanced_layer_weights(lambda losses: {k: 1 / len(losses) for k in losses})
    assert not result.ok and "do not contribute equally" in result.message

    result = nst.check.balanced_layer_weights(lambda losses: [1 / v for v in losses.values()])
    assert not result.ok and "dict" in result.message

    result = nst.check.balanced_layer_weights(lambda losses: {"relu1_1": 1.0})
    assert not result.ok and "layers" in result.message


def test_balanced_layer_weights_stub() -> None:
    def stub(losses):
        raise NotImplementedError

    assert "NotImplementedError" in nst.check.balanced_layer_weights(stub).message
