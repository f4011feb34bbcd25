"""nst.claim: each option decides the outcome, the line shows the numbers, strict mode raises ClaimError."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import nstlib as nst
from nstlib.course.claims import OWN_RUN, STRICT_ENV


@pytest.fixture(autouse=True)
def _lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts outside strict mode, whatever the shell that runs pytest set."""
    monkeypatch.delenv(STRICT_ENV, raising=False)


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_holds_prints_a_tick_or_a_cross(capsys: pytest.CaptureFixture[str]) -> None:
    G = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    assert nst.claim("G is symmetric", holds=torch.allclose(G, G.T)) is True
    assert lines(capsys) == ["✓ G is symmetric"]
    assert nst.claim("G is symmetric", holds=torch.allclose(G, G.triu())) is False
    assert lines(capsys) == ["✗ G is symmetric: not so on this run", OWN_RUN]


@pytest.mark.parametrize("verdict", [np.bool_(True), torch.tensor(True), torch.tensor([True]), 1])
def test_holds_takes_numpy_and_torch_bools(verdict: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert nst.claim("it holds", holds=verdict) is True
    assert (
        nst.claim(
            "it holds",
            holds=np.logical_not(verdict)
            if isinstance(verdict, np.bool_)
            else ~torch.as_tensor(verdict, dtype=torch.bool),
        )
        is False
    )


def test_holds_refuses_many_values() -> None:
    with pytest.raises(TypeError, match=r"one True/False \(use \.all\(\) or \.any\(\)\)"):
        nst.claim("all positive", holds=torch.tensor([True, False]))


@pytest.mark.parametrize(
    ("option", "bound", "good", "bad", "sign"),
    [("at_least", 0.6, 0.712, 0.412, "≥"), ("above", 0.6, 0.7, 0.6, ">"), ("at_most", 0.5, 0.5, 0.7, "≤"),
     ("below", 0.5, 0.4, 0.5, "<")],
)  # fmt: skip
def test_each_bound_is_checked_and_shown(
    option: str, bound: float, good: float, bad: float, sign: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert nst.claim("relu2_2 keeps the edges", good, **{option: bound}) is True
    assert lines(capsys) == [f"✓ relu2_2 keeps the edges: {good:.3g} {sign} {bound:.3g}"]
    assert nst.claim("relu2_2 keeps the edges", bad, **{option: bound}) is False
    assert lines(capsys) == [f"✗ relu2_2 keeps the edges: {bad:.3g}, expected {sign} {bound:.3g}", OWN_RUN]


def test_bounds_combine_and_all_must_hold(capsys: pytest.CaptureFixture[str]) -> None:
    assert nst.claim("a share", torch.tensor(0.25), above=0.0, at_most=1.0) is True
    assert lines(capsys) == ["✓ a share: 0.25 > 0 and ≤ 1"]
    assert nst.claim("a share", 1.5, above=0.0, at_most=1.0) is False
    assert lines(capsys)[0] == "✗ a share: 1.5, expected > 0 and ≤ 1"


def test_numbers_use_three_digits_or_fmt(capsys: pytest.CaptureFixture[str]) -> None:
    nst.claim("the loss fell", 0.123456, below=1)
    nst.claim("the loss fell", 0.123456, below=1, fmt=".1%")
    assert lines(capsys) == ["✓ the loss fell: 0.123 < 1", "✓ the loss fell: 12.3% < 100.0%"]


def test_nan_never_holds(capsys: pytest.CaptureFixture[str]) -> None:
    assert nst.claim("the loss is small", float("nan"), at_most=1.0) is False
    assert lines(capsys)[0] == "✗ the loss is small: nan (not a number), expected ≤ 1"
    assert nst.claim("the loss is not small", torch.tensor(float("nan")), above=1.0) is False
    assert nst.claim("by hand = nst", float("nan"), close_to=float("nan")) is False
    assert "not a number" in lines(capsys)[2]


def test_close_to_numbers_shows_both_and_the_difference(capsys: pytest.CaptureFixture[str]) -> None:
    assert nst.claim("my content loss = nst.content_loss", 6.00001, close_to=6.0) is True
    assert lines(capsys) == ["✓ my content loss = nst.content_loss: 6 ≈ 6 (difference 1e-05)"]
    assert nst.claim("my content loss = nst.content_loss", 6.1, close_to=6.0) is False
    out = lines(capsys)[0]
    assert out.startswith("✗ my content loss = nst.content_loss: 6.1, expected ≈ 6 (difference 0.1")
    assert "allowed 1e-05·|reference| + 1e-08" in out
    assert nst.claim("looser", 6.1, close_to=6.0, rtol=0.05) is True  # rtol is used
    assert nst.claim("absolute", 0.001, close_to=0.0, atol=1e-2) is True  # and atol
    assert nst.claim("absolute", 0.001, close_to=0.0) is False


def test_close_to_tensors_uses_allclose_and_the_largest_difference(capsys: pytest.CaptureFixture[str]) -> None:
    ref = torch.arange(6.0).view(2, 3)
    assert nst.claim("by hand = nst", ref * (1 + 1e-6), close_to=ref) is True
    assert lines(capsys)[0].startswith("✓ by hand = nst: (2, 3) values ≈ the reference (largest difference 4.")
    off = ref.clone()
    off[1, 2] += 0.5
    assert nst.claim("by hand = nst", off, close_to=ref) is False
    assert "largest difference 0.5" in lines(capsys)[0]
    assert nst.claim("by hand = nst", off.double(), close_to=ref, atol=0.6) is True  # dtypes are promoted
    assert nst.claim("by hand = nst", torch.ones(3), close_to=torch.ones(2)) is False  # shapes that do not broadcast
    assert nst.claim("by hand = nst", torch.ones(3, 1), close_to=torch.ones(3)) is False  # nor shapes that do
    assert nst.claim("every entry", torch.ones(3), close_to=1.0) is True  # a single number is every entry's reference
    assert nst.claim("float64", 11.25 + 2e-10, close_to=11.25, rtol=0, atol=1e-9) is True  # numbers kept in float64
    assert nst.claim("float64", 11.25 + 2e-9, close_to=11.25, rtol=0, atol=1e-9) is False
    with_nan = ref.clone()
    with_nan[0, 0] = float("nan")
    assert nst.claim("by hand = nst", with_nan, close_to=ref) is False


def test_equals_is_exact(capsys: pytest.CaptureFixture[str]) -> None:
    assert nst.claim("parameters", 143_667_240, equals=143_667_240) is True
    assert lines(capsys) == ["✓ parameters: 143667240 = 143667240"]
    assert nst.claim("parameters", 143_667_241, equals=143_667_240) is False  # close_to's rtol would let it pass
    assert nst.claim("receptive field", (3, 3), equals=(3, 3)) is True
    assert nst.claim("every output", torch.full((2, 2), -5.0), equals=-5) is True
    assert nst.claim("every output", torch.tensor([-5.0, -4.0]), equals=-5) is False
    assert nst.claim("same tensor", torch.ones(2, 2), equals=torch.ones(4)) is False  # shapes must match
    assert nst.claim("relu = relu", torch.ones(2, 3), equals=torch.ones(2, 3)) is True
    assert lines(capsys)[-1] == "✓ relu = relu: (2, 3) values = the reference"


def test_strict_mode_raises_after_printing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(STRICT_ENV, "1")
    assert nst.claim("holds", 1.0, at_least=0.5) is True  # a claim that holds never raises
    with pytest.raises(nst.ClaimError, match=r"^✗ the loss halves: 0.7, expected ≤ 0.5$") as info:
        nst.claim("the loss halves", 0.7, at_most=0.5)
    assert isinstance(info.value, nst.NSTError) and isinstance(info.value, AssertionError)
    assert lines(capsys)[-2:] == ["✗ the loss halves: 0.7, expected ≤ 0.5", OWN_RUN]
    assert nst.claim("the loss halves", 0.7, at_most=0.5, strict=False) is False  # the argument wins
    monkeypatch.setenv(STRICT_ENV, "0")
    assert nst.claim("the loss halves", 0.7, at_most=0.5) is False
    with pytest.raises(nst.ClaimError):
        nst.claim("the loss halves", 0.7, at_most=0.5, strict=True)


def test_a_claim_needs_a_condition_and_a_number() -> None:
    with pytest.raises(TypeError, match="needs something to check"):
        nst.claim("nothing", 1.0)
    with pytest.raises(TypeError, match="compares one number"):
        nst.claim("many", torch.ones(3), at_least=0)


ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lessons_state_claims_not_bare_asserts(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    asserts = [s for s in code if any(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(s)))]
    assert not asserts, f"{path.name}: check the lesson's claims with nst.claim(...), not assert:\n{asserts[0]}"
    assert any("nst.claim(" in s for s in code)


def test_the_lessons_run_with_strict_claims() -> None:
    """notebooks/conftest.py switches strict mode on for `pytest notebooks` (make test), so a ✗ fails the run."""
    conftest = ROOT / "notebooks" / "conftest.py"
    code = f"import os, runpy; runpy.run_path({str(conftest)!r}); print(os.environ[{STRICT_ENV!r}])"
    env = {k: v for k, v in os.environ.items() if k != STRICT_ENV}  # not inherited from the shell that runs pytest
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == "1"
