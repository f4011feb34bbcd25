"""The lesson-04 checkers accept the reference answers and explain the usual wrong ones."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

import nstlib as nst

_SPEC = importlib.util.spec_from_file_location(
    "lesson04_solutions", Path(__file__).resolve().parents[1] / "solutions" / "lesson04.py")
lesson04 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lesson04)


def test_gram_matrix_accepts_solution_and_library() -> None:
    assert nst.check.gram_matrix(lesson04.gram_matrix).ok
    assert nst.check.gram_matrix(nst.gram_matrix).ok


def test_gram_matrix_rejects_unfilled_stub_kindly() -> None:
    def stub(features):
        raise NotImplementedError

    result = nst.check.gram_matrix(stub)
    assert not result.ok and "NotImplementedError" in result.message


def test_gram_matrix_names_ftf() -> None:
    def ftf(features):
        b, n, h, w = features.shape
        flat = features.reshape(b, n, h * w)
        return flat.transpose(1, 2) @ flat

    result = nst.check.gram_matrix(ftf)
    assert not result.ok and "FᵀF" in result.message


def test_gram_matrix_names_batch_mixing_of_the_tutorial() -> None:
    def tutorial(features):
        b, n, h, w = features.shape
        flat = features.reshape(b * n, h * w)
        return flat @ flat.T

    result = nst.check.gram_matrix(tutorial)
    assert not result.ok and "batch" in result.message


def test_gram_matrix_names_the_normalisation() -> None:
    result = nst.check.gram_matrix(lambda f: nst.gram_matrix(f, normalize="chw"))
    assert not result.ok and "N·M" in result.message
    result = nst.check.gram_matrix(lambda f: nst.gram_matrix(f, normalize="hw"))
    assert not result.ok and "M = H·W" in result.message


def test_style_layer_loss_accepts_solution_and_library_route() -> None:
    assert nst.check.style_layer_loss(lesson04.style_layer_loss).ok

    def via_library(f, s):
        return nst.style_loss(nst.gram_matrix(f, "gatys"), nst.gram_matrix(s, "gatys"), reduction="gatys")

    assert nst.check.style_layer_loss(via_library).ok
    assert nst.check.style_layer_loss(lambda f, s: float(lesson04.style_layer_loss(f, s))).ok


def test_style_layer_loss_names_common_mistakes() -> None:
    def no_quarter(f, s):
        return 4 * lesson04.style_layer_loss(f, s)

    result = nst.check.style_layer_loss(no_quarter)
    assert not result.ok and "¼" in result.message

    def mean_convention(f, s):
        return nst.style_loss(nst.gram_matrix(f, "chw"), nst.gram_matrix(s, "chw"), reduction="mean")

    result = nst.check.style_layer_loss(mean_convention)
    assert not result.ok and "torchvision-era" in result.message

    def not_squared(f, s):
        _, n, h, w = f.shape
        return (lesson04.gram_matrix(f) - lesson04.gram_matrix(s)).abs().sum() / (4 * n**2 * (h * w) ** 2)

    result = nst.check.style_layer_loss(not_squared)
    assert not result.ok and "squared" in result.message


def test_style_layer_loss_catches_the_seed_formula_applied_to_different_sizes() -> None:
    def seeds_formula_as_is(f, s):
        _, n, h, w = f.shape
        return ((lesson04.gram_matrix(f) - lesson04.gram_matrix(s)) ** 2).sum() / (4 * n**2 * (h * w) ** 2)

    result = nst.check.style_layer_loss(seeds_formula_as_is)
    assert not result.ok and "generated image's M" in result.message


def test_style_layer_loss_oracle_matches_the_library() -> None:
    """nst's "gatys" Gram normalisation divides by each map's own M, so it is the same generalised E_l."""
    g = torch.Generator().manual_seed(0)
    f, s = torch.rand(1, 6, 4, 5, generator=g), torch.rand(1, 6, 7, 3, generator=g)
    lib = nst.style_loss(nst.gram_matrix(f, "gatys"), nst.gram_matrix(s, "gatys"), reduction="gatys")
    assert torch.allclose(lesson04.style_layer_loss(f, s), lib, rtol=1e-5)


def test_style_layer_loss_rejects_per_entry_tensor() -> None:
    def per_entry(f, s):
        return (lesson04.gram_matrix(f) - lesson04.gram_matrix(s)) ** 2

    result = nst.check.style_layer_loss(per_entry)
    assert not result.ok and "shape" in result.message


def test_checkers_never_raise_on_garbage() -> None:
    for checker in (nst.check.gram_matrix, nst.check.style_layer_loss):
        result = checker(lambda *args: "nonsense")
        assert not result.ok
        result = checker(lambda *args: torch.zeros(2))
        assert not result.ok
