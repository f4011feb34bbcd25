"""The lesson-07 checkers accept the reference answers and explain the usual wrong ones."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

import nstlib as nst
from nstlib.dream import dream_loss, octave_sizes

_SPEC = importlib.util.spec_from_file_location(
    "lesson07_solutions", Path(__file__).resolve().parents[1] / "solutions" / "lesson07.py")
lesson07 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lesson07)


def _stub(*args):
    raise NotImplementedError


def test_checkers_are_exported_and_stubs_get_kind_feedback() -> None:
    for name in ("dream_objective", "dream_step", "octave_pyramid", "carry_detail"):
        checker = getattr(nst.check, name)
        result = checker(_stub)
        assert not result.ok and "NotImplementedError" in result.message
        assert str(result).startswith("❌")


# --- exercise 1 -------------------------------------------------------------------------------


def test_dream_objective_accepts_solution_and_library() -> None:
    assert nst.check.dream_objective(lesson07.dream_objective).ok
    assert nst.check.dream_objective(lambda f: sum(dream_loss(f).values()).sum()).ok


def test_dream_objective_names_sums_pooling_and_averaging() -> None:
    result = nst.check.dream_objective(lambda f: sum(a.sum() for a in f.values()))
    assert not result.ok and "raw sums" in result.message
    result = nst.check.dream_objective(lambda f: torch.cat([a.flatten() for a in f.values()]).mean())
    assert not result.ok and "pooled together" in result.message
    result = nst.check.dream_objective(lambda f: sum(a.mean() for a in f.values()) / len(f))
    assert not result.ok and "averaged the layers" in result.message
    result = nst.check.dream_objective(lambda f: next(iter(f.values())).mean())
    assert not result.ok and "only the layer 'small'" in result.message
    result = nst.check.dream_objective(lambda f: sum(a.mean(dim=(0, 2, 3)).sum() for a in f.values()))
    assert not result.ok


# --- exercise 2 -------------------------------------------------------------------------------


def test_dream_step_accepts_solution() -> None:
    assert nst.check.dream_step(lesson07.dream_step).ok


def test_dream_step_names_descent_missing_normalisation_std_and_clip() -> None:
    result = nst.check.dream_step(lambda x, g, s: lesson07.dream_step(x, -g, s))
    assert not result.ok and "downhill" in result.message
    result = nst.check.dream_step(lambda x, g, s: (x + s * g).clamp(0, 1))
    assert not result.ok and "not normalised" in result.message
    result = nst.check.dream_step(lambda x, g, s: (x + s * g / g.std(dim=(1, 2, 3), keepdim=True)).clamp(0, 1))
    assert not result.ok and "standard deviation" in result.message
    result = nst.check.dream_step(lambda x, g, s: x + s * g / g.abs().mean(dim=(1, 2, 3), keepdim=True))
    assert not result.ok and "clipped" in result.message
    result = nst.check.dream_step(lambda x, g, s: (x + s * g / g.abs().mean()).clamp(0, 1))
    assert not result.ok and "whole batch" in result.message


# --- exercise 3 -------------------------------------------------------------------------------


def test_octave_pyramid_accepts_solution_and_library() -> None:
    assert nst.check.octave_pyramid(lesson07.octave_pyramid).ok
    assert nst.check.octave_pyramid(octave_sizes).ok


def test_octave_pyramid_names_order_truncation_and_count() -> None:
    result = nst.check.octave_pyramid(lambda size, n, s: lesson07.octave_pyramid(size, n, s)[::-1])
    assert not result.ok and "large to small" in result.message
    result = nst.check.octave_pyramid(
        lambda size, n, s: [(int(size[0] / s**k), int(size[1] / s**k)) for k in range(n - 1, -1, -1)])
    assert not result.ok and "int()" in result.message
    result = nst.check.octave_pyramid(
        lambda size, n, s: [(round(size[0] / s**k), round(size[1] / s**k)) for k in range(n, -1, -1)])
    assert not result.ok and "one per octave" in result.message


# --- exercise 4 -------------------------------------------------------------------------------


def test_carry_detail_accepts_solution() -> None:
    assert nst.check.carry_detail(lesson07.carry_detail).ok


def test_carry_detail_names_whole_image_clamped_resize_and_missing_base() -> None:
    def whole(dreamed, base, next_base):
        return F.interpolate(dreamed, size=next_base.shape[-2:], mode="bilinear", align_corners=False)

    result = nst.check.carry_detail(whole)
    assert not result.ok and "whole dreamed image" in result.message
    result = nst.check.carry_detail(
        lambda d, b, n: (n + nst.resize_image(d - b, tuple(n.shape[-2:]))).clamp(0, 1))
    assert not result.ok and "negative half" in result.message
    result = nst.check.carry_detail(
        lambda d, b, n: F.interpolate(d - b, size=n.shape[-2:], mode="bilinear", align_corners=False))
    assert not result.ok and "add it to next_base" in result.message
