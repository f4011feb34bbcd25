"""Shared machinery for exercise checkers: one result type, kind and specific feedback.

A checker takes the learner's answer (usually a function), tries it on cases with known answers
(oracles: torch, the seeds' formulas, hand-computed numbers) and returns a :class:`CheckResult`
that prints as one friendly paragraph. It never raises on a wrong answer; it explains.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["CheckResult", "passed", "failed", "call_safely", "close"]


@dataclass
class CheckResult:
    ok: bool
    message: str
    hint: str = ""
    details: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = "✅ Correct! " if self.ok else "❌ Not yet. "
        tail = f"\nHint: {self.hint}" if self.hint and not self.ok else ""
        return head + self.message + tail

    def _repr_markdown_(self) -> str:  # Jupyter shows the feedback, not a dataclass repr
        return str(self).replace("\n", "  \n")

    __repr__ = __str__


def passed(message: str) -> CheckResult:
    return CheckResult(True, message)


def failed(message: str, hint: str = "", **details: object) -> CheckResult:
    return CheckResult(False, message, hint, dict(details))


def call_safely(fn: Callable, *args: object, **kwargs: object) -> tuple[object, CheckResult | None]:
    """Call the learner's function; turn an exception into feedback instead of a traceback."""
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:  # the learner's code may raise anything
        return None, failed(f"your function raised {type(exc).__name__}: {exc}",
                            hint="run it on the example in the exercise and read the error message.")


def close(got: object, want: torch.Tensor, what: str, rtol: float = 1e-4, atol: float = 1e-6) -> CheckResult | None:
    """None when ``got`` matches ``want``; otherwise feedback naming the first difference."""
    if not isinstance(got, torch.Tensor):
        return failed(f"{what} should be a torch.Tensor, but your function returned {type(got).__name__}.",
                      hint="return the tensor itself, not a number or a list.")
    if tuple(got.shape) != tuple(want.shape):
        return failed(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}.",
                      hint="check which dimensions you reshape, multiply or reduce over.")
    got = got.detach().to(want.dtype)
    bad = ~torch.isfinite(got) & torch.isfinite(want)
    if bad.any():
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        return failed(f"{what} holds {float(got[idx])} at index {idx} (and {int(bad.sum())} non-finite values in all); "
                      f"expected {float(want[idx]):.6g} there.",
                      hint="look for a division by zero, a log or sqrt of a negative number, or an overflow.")
    if not torch.allclose(got, want, rtol=rtol, atol=atol):
        diff = (got - want).abs()
        idx = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0])
        ratio = (got.flatten() @ want.flatten()) / (want.flatten() @ want.flatten() + 1e-30)
        scale_hint = f" Your values look like {float(ratio):.4g} × the expected ones: check your normalising constant." \
            if torch.allclose(got, want * ratio, rtol=1e-3, atol=atol) and abs(float(ratio) - 1) > 1e-3 else ""
        return failed(f"{what} differs from the expected value, most at index {idx}: you gave "
                      f"{float(got[idx]):.6g}, expected {float(want[idx]):.6g}.{scale_hint}")
    return None
