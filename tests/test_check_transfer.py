"""The lesson-05 checkers accept the reference answers and explain the usual wrong ones."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

import nstlib as nst

_SPEC = importlib.util.spec_from_file_location(
    "lesson05_solutions", Path(__file__).resolve().parents[1] / "solutions" / "lesson05.py")
lesson05 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lesson05)


def test_total_variation_accepts_solution_and_library() -> None:
    assert nst.check.total_variation(lesson05.total_variation).ok
    assert nst.check.total_variation(lambda x: nst.tv_loss(x, p=1)).ok
    assert nst.check.total_variation(lambda x: float(lesson05.total_variation(x))).ok


def test_total_variation_solution_is_exact_on_a_checkerboard() -> None:
    yy, xx = torch.meshgrid(torch.arange(4), torch.arange(6), indexing="ij")
    board = ((yy + xx) % 2).float().expand(1, 3, 4, 6)
    assert lesson05.total_variation(board).item() == 1.0


def test_total_variation_names_mistakes() -> None:
    def squared(x):
        return nst.tv_loss(x, p=2)

    result = nst.check.total_variation(squared)
    assert not result.ok and "p = 2" in result.message

    def no_half(x):
        return 2 * lesson05.total_variation(x)

    result = nst.check.total_variation(no_half)
    assert not result.ok and "½" in result.message

    def rolled(x):
        return 0.5 * ((x.roll(1, 2) - x).abs().mean() + (x.roll(1, 3) - x).abs().mean())

    result = nst.check.total_variation(rolled)
    assert not result.ok and "wrap" in result.message

    def one_direction(x):
        return (x[:, :, 1:] - x[:, :, :-1]).abs().mean()

    result = nst.check.total_variation(one_direction)
    assert not result.ok and "vertical" in result.message


def test_total_variation_stub_and_garbage() -> None:
    def stub(x):
        raise NotImplementedError

    assert "NotImplementedError" in nst.check.total_variation(stub).message
    assert not nst.check.total_variation(lambda x: "small").ok
    assert not nst.check.total_variation(lambda x: x).ok


def test_loss_conventions_accepts_solution() -> None:
    result = nst.check.loss_conventions(lesson05.content_factor, lesson05.style_factor)
    assert result.ok, str(result)


def test_loss_conventions_names_mistakes() -> None:
    result = nst.check.loss_conventions(lambda n, m: n * m, lesson05.style_factor)
    assert not result.ok and "½" in result.message and "content_factor" in result.message
    result = nst.check.loss_conventions(lesson05.content_factor, lambda n, m: n**2)
    assert not result.ok and "¼" in result.message and "style_factor" in result.message
    result = nst.check.loss_conventions(lesson05.content_factor, lambda n, m: n**2 * m**2 / 4)
    assert not result.ok and "M² cancels" in result.message
    result = nst.check.loss_conventions(lesson05.content_factor, lambda n, m: 4 / n**2)
    assert not result.ok and "upside down" in result.message


def test_loss_conventions_stub() -> None:
    def stub(n, m):
        raise NotImplementedError

    result = nst.check.loss_conventions(stub, stub)
    assert not result.ok and "NotImplementedError" in result.message
