"""Claims a lesson makes, checked so that a learner can read them: one line, ✓ or ✗, with the numbers.

A bare ``assert`` fails with an ``AssertionError`` that reads as the learner's mistake, although on the learner's own
images another number may be fine. Under ``make test`` the notebooks run with ``NSTLIB_STRICT_CLAIMS=1`` (set in
``notebooks/conftest.py``), and a claim that does not hold raises :class:`~nstlib.errors.ClaimError`.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from nstlib.errors import ClaimError

__all__ = ["claim", "STRICT_ENV"]

STRICT_ENV = "NSTLIB_STRICT_CLAIMS"  # "1": a claim that does not hold raises ClaimError (the notebooks under pytest)
OWN_RUN = "  (On your own images or settings another number may be fine: the claim is about the lesson's example.)"


def claim(
    text: str,
    value: Any = None,
    *,
    equals: Any = None,
    close_to: Any = None,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    holds: Any = None,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    fmt: str = ".3g",
    strict: bool | None = None,
) -> bool:
    """Print ``✓ text: the numbers`` when the claim holds, ``✗ text: …, expected …`` when not; return which.

    ``value`` must meet every bound given: ``equals`` (exactly; every entry for tensors), ``close_to`` (``|value −
    close_to| ≤ atol + rtol·|close_to|`` as ``torch.allclose``, but shapes must match unless ``close_to`` is one
    number), ``above`` (>), ``at_least`` (≥), ``below`` (<), ``at_most`` (≤); the four compare one number (a float,
    a numpy scalar, a one-element tensor), ``equals`` and ``close_to`` also tensors, lists and tuples. ``holds`` is a
    claim already decided (a bool, a numpy bool, a one-element tensor). NaN never holds. Numbers are shown with
    ``fmt``, integers exactly. ``strict`` (default: ``NSTLIB_STRICT_CLAIMS=1`` in the environment) raises
    :class:`~nstlib.errors.ClaimError` after printing a claim that does not hold. In a notebook, end a cell's last
    claim with ``;``, or Jupyter shows the returned ``True`` as well.

        >>> G = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
        >>> nst.claim("G is symmetric", holds=torch.equal(G, G.T))
        ✓ G is symmetric
        True
        >>> nst.claim("relu2_2 keeps the photo's edges", 0.7123, at_least=0.6)
        ✓ relu2_2 keeps the photo's edges: 0.712 ≥ 0.6
        True
        >>> nst.claim("G by hand = nst.gram_matrix", G @ G.T, close_to=nst.gram_matrix(G.view(1, 2, 1, 2))[0])
        ✓ G by hand = nst.gram_matrix: (2, 2) values ≈ the reference (largest difference 0)
        True
        >>> nst.claim("the loss halves", 0.7, at_most=0.5, strict=False)
        ✗ the loss halves: 0.7, expected ≤ 0.5
          (On your own images or settings another number may be fine: the claim is about the lesson's example.)
        False
    """
    checks: list[tuple[bool, str]] = []  # (held, the bound in words: "≥ 0.6")
    shown = "" if value is None else _show(value, fmt)
    if equals is not None:
        many = isinstance(equals, torch.Tensor) and equals.numel() != 1
        checks.append((_equal(value, equals), f"= {'the reference' if many else _show(equals, fmt)}"))
    if close_to is not None:
        ok, shown, expected = _close(value, close_to, rtol, atol, fmt)
        checks.append((ok, expected))
    order = {">": above, "≥": at_least, "<": below, "≤": at_most}
    if any(bound is not None for bound in order.values()):
        number = _one(value, text, float)
        compare = {">": float.__gt__, "≥": float.__ge__, "<": float.__lt__, "≤": float.__le__}
        limits = {s: float(b) for s, b in order.items() if b is not None}
        exact = all(x.is_integer() for x in (number, *limits.values()))  # counts and sizes: shown as integers
        word = lambda x: str(int(x)) if exact else format(x, fmt)
        shown = word(number) + (" (not a number)" if math.isnan(number) else "")
        checks += [(compare[s](number, b), f"{s} {word(b)}") for s, b in limits.items()]
    if holds is not None:
        checks.append((_one(holds, text, bool), ""))
    if not checks:
        raise TypeError(f"claim({text!r}) needs something to check: equals=, close_to=, above=, … or holds=")
    held = all(ok for ok, _ in checks)
    bounds = " and ".join(b for _, b in checks if b)
    line = f"✓ {text}" + (f": {shown} {bounds}".rstrip() if shown else "")
    if not held:
        line = (
            f"✗ {text}"
            + (f": {shown}" if shown else "")
            + (f", expected {bounds}" if bounds else ": not so on this run")
        )
    print(line if held else f"{line}\n{OWN_RUN}")
    if not held and (os.environ.get(STRICT_ENV, "") == "1" if strict is None else strict):
        raise ClaimError(line)
    return held


def _show(x: Any, fmt: str) -> str:
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            return f"{tuple(x.shape)} values"
        x = x.item()
    if hasattr(x, "item") and getattr(x, "size", 1) == 1:  # a numpy scalar
        x = x.item()
    if isinstance(x, float):
        return format(x, fmt)
    if isinstance(x, (tuple, list)):
        inner = ", ".join(_show(v, fmt) for v in x)
        return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
    return str(x)  # bools, integers (counts and sizes, exactly), text


def _one(x: Any, text: str, what: type[float] | type[bool]) -> Any:
    """``x`` (a number, a numpy scalar, a one-element tensor) as one float or bool; a TypeError that says so if not."""
    try:
        return what(x.item() if hasattr(x, "item") else x)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"claim({text!r}) compares one number or one True/False (use .all() or .any()), got {x!r}"
        ) from None


def _equal(value: Any, expected: Any) -> bool:
    if not (isinstance(value, torch.Tensor) or isinstance(expected, torch.Tensor)):
        return bool(value == expected)
    a = torch.as_tensor(value)
    b = torch.as_tensor(expected, device=a.device)
    return (b.dim() == 0 or a.shape == b.shape) and bool((a == b).all())  # a plain number: every entry equals it


def _close(value: Any, expected: Any, rtol: float, atol: float, fmt: str) -> tuple[bool, str, str]:
    """Whether ``value`` is within tolerance of ``expected``; the value shown; the expectation in words."""
    a, b = (
        x.detach() if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float64) for x in (value, expected)
    )
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)
    a, b = a.to(dtype), b.to(a.device, dtype)
    if a.shape != b.shape and b.numel() != 1:  # a reference of another shape would broadcast and hide a mistake
        return False, f"{tuple(a.shape)} values", f"≈ {tuple(b.shape)} values (shapes that do not match)"
    ok, gap = bool(torch.allclose(a, b, rtol=rtol, atol=atol)), float((a - b).abs().max()) if a.numel() else 0.0
    scalar = a.numel() == 1 and b.numel() == 1
    shown = _show(a, fmt) + ("" if not a.isnan().any() else " (not a number)" if scalar else " (some NaN)")
    tolerance = "" if ok else f"; allowed {rtol:g}·|reference| + {atol:g}"
    target, gap_name = (_show(b, fmt), "difference") if scalar else ("the reference", "largest difference")
    return ok, shown, f"≈ {target} ({gap_name} {gap:.2g}{tolerance})"
