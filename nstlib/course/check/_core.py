"""Shared machinery for exercise checkers: one result type, kind and specific feedback, hints and model answers.

A checker takes the learner's answer (usually a function), tries it on cases with known answers
(oracles: torch, the papers' formulas, hand-computed numbers) and returns a :class:`CheckResult`
that prints as one friendly paragraph. It never raises on a wrong answer; it explains.

:func:`exercise` turns a checker into an :class:`Exercise`, the convention learners know from Kaggle Learn:
``nst.check.gram_by_hand(answer)`` checks, ``nst.check.gram_by_hand.hint()`` nudges, and
``nst.check.gram_by_hand.solution()`` shows the model answer kept in ``solutions/lessonNN.py``. A stub (a
function that still raises ``NotImplementedError``, or ``...``/``None``/``""`` as the answer) gets "Not yet"
and the hint, never an error message.
"""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nstlib.course.files import course_folder

__all__ = [
    "CheckResult",
    "Exercise",
    "exercise",
    "exercises",
    "passed",
    "failed",
    "call_safely",
    "close",
    "mismatch",
    "as_number",
    "generator",
    "same",
    "near",
    "rounding_floor",
    "ROUNDING",
    "NotAnswered",
    "open_exercise",
    "model_answer",
    "LEVELS",
]

LEVELS = ("one line", "a few lines", "a function", "predict and explain", "design an experiment")
# The model answers' folder. None (the default): solutions/ of the course folder, looked up each time an answer is
# needed (never at import time), so that nstlib imports wherever it is installed. A test may point it elsewhere.
SOLUTIONS: Path | None = None
_REGISTRY: dict[str, Exercise] = {}


class NotAnswered(BaseException):
    """Raised through the checker when the learner's answer is still the stub (a BaseException, so that a
    checker's own ``except Exception`` cannot mistake it for a wrong answer)."""


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
    except NotImplementedError:
        raise NotAnswered from None
    except Exception as exc:  # the learner's code may raise anything
        return None, failed(
            f"your function raised {type(exc).__name__}: {exc}",
            hint="run it on the example in the exercise and read the error message.",
        )


# Two correct computations of one tensor by different kernels (MKL or oneDNN on AMD AVX2, AMD AVX-512 or Intel AMX;
# another summation order; another memory layout) differ by some units in the last place of the *largest* terms they
# sum, not of each entry: an entry that is 0, or tiny beside its neighbours, comes out as, say, 1e-7 × the tensor's
# scale in float32. So every comparison here also allows ROUNDING[dtype] × the largest magnitude, absolutely, on top of
# its own rtol and atol (about 100 units in the last place: what summing a few thousand terms in another order gives).
ROUNDING = {torch.float64: 1e-11, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}


def rounding_floor(*tensors: torch.Tensor) -> float:
    """The absolute difference rounding alone may make between two correct computations of these tensors: the coarsest
    dtype's ``ROUNDING`` times the largest finite magnitude among them (0 for tensors that are all 0)."""
    eps = max((ROUNDING.get(t.dtype, 0.0) for t in tensors), default=0.0)
    size = 0.0
    for t in tensors:
        finite = t.detach()[torch.isfinite(t.detach())]
        if finite.numel():
            size = max(size, float(finite.abs().max()))
    return eps * size


def close(got: object, want: torch.Tensor, what: str, rtol: float = 1e-4, atol: float = 1e-6) -> CheckResult | None:
    """None when ``got`` matches ``want`` (within rtol, atol and rounding); otherwise feedback naming the worst entry."""
    if not isinstance(got, torch.Tensor):
        return failed(
            f"{what} should be a torch.Tensor, but your function returned {type(got).__name__}.",
            hint="return the tensor itself, not a number or a list.",
        )
    if tuple(got.shape) != tuple(want.shape):
        return failed(
            f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}.",
            hint="check which dimensions you reshape, multiply or reduce over.",
        )
    atol = max(atol, rounding_floor(got, want))
    got = got.detach().to(want.dtype)
    bad = ~torch.isfinite(got) & torch.isfinite(want)
    if bad.any():
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        return failed(
            f"{what} holds {float(got[idx])} at index {idx} (and {int(bad.sum())} non-finite values in all); "
            f"expected {float(want[idx]):.6g} there.",
            hint="look for a division by zero, a log or sqrt of a negative number, or an overflow.",
        )
    if not torch.allclose(got, want, rtol=rtol, atol=atol):
        excess = (got - want).abs() / (atol + rtol * want.abs()).clamp_min(torch.finfo(want.dtype).tiny)  # > 1: out
        idx = tuple(int(i) for i in torch.nonzero(excess == excess.max())[0])
        ratio = (got.flatten() @ want.flatten()) / (want.flatten() @ want.flatten() + 1e-30)
        scale_hint = (
            f" Your values look like {float(ratio):.4g} × the expected ones: check your normalising constant."
            if torch.allclose(got, want * ratio, rtol=1e-3, atol=atol) and abs(float(ratio) - 1) > 1e-3
            else ""
        )
        return failed(
            f"{what} differs from the expected value, most at index {idx}: you gave "
            f"{float(got[idx]):.6g}, expected {float(want[idx]):.6g}.{scale_hint}"
        )
    return None


def mismatch(got: object, want: torch.Tensor, what: str, rtol: float = 1e-4, atol: float = 1e-6) -> CheckResult:
    """The feedback for an answer already known to be wrong: :func:`close`'s diagnosis, or a plain "differs".

    (Not ``close(...) or failed(...)``: a failed result is falsy, so that would throw the diagnosis away.)
    """
    problem = close(got, want, what, rtol=rtol, atol=atol)
    return (
        problem
        if problem is not None
        else failed(
            f"{what} differs from the expected value only just beyond the tolerance (rtol={rtol:g}, atol={atol:g})."
        )
    )


def not_a_loss(got: object, where: str, dims: str, source: str = "F") -> CheckResult | None:
    """What is wrong with a returned loss that is not a differentiable 0-d tensor (None when it is one).

    ``dims`` names what the loss sums over (for the message about a non-scalar), ``source`` what it must be
    computed from."""
    if isinstance(got, (float, int)) and not isinstance(got, bool):
        return failed(
            f"{where} your function returned a Python {type(got).__name__} ({got:.6g}). The optimiser needs a "
            "torch tensor that remembers how it was computed, to backpropagate through it: drop the .item() or "
            "float() and return the tensor itself."
        )
    if not isinstance(got, torch.Tensor):
        return failed(f"{where} your function returned {type(got).__name__}; it should return a torch tensor.")
    if got.dim() != 0:
        return failed(
            f"{where} your loss has shape {tuple(got.shape)}; a loss is one number, a 0-d tensor (shape ()). "
            f"Sum over every dimension — {dims} — not over some."
        )
    if not got.requires_grad:
        return failed(
            f"{where} your loss is a tensor detached from {source} (requires_grad is False): autograd cannot "
            f"carry its gradient back to the pixels. Compute it from {source} with torch operations only — no "
            ".detach(), no torch.no_grad(), no NumPy, no torch.tensor(...) around a result."
        )
    return None


def as_number(answer: object) -> float | None:
    """The learner's answer as a float (an int, a float, a 0-d tensor), or None when it is not one (a bool is not)."""
    if isinstance(answer, bool):
        return None
    try:
        return float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        return None


def generator(seed: int) -> torch.Generator:
    """A CPU generator with this seed: checkers draw their cases from it, so every run tries the same ones."""
    return torch.Generator().manual_seed(seed)


def same(got: object, want: torch.Tensor, atol: float = 1e-5) -> bool:
    """True when ``got`` is a tensor of ``want``'s shape with the same values (float64 comparison, rtol 1e-4, and
    ``atol`` or rounding's floor, whichever is larger)."""
    return (
        isinstance(got, torch.Tensor)
        and tuple(got.shape) == tuple(want.shape)
        and torch.allclose(got.detach().double(), want.double(), rtol=1e-4, atol=max(atol, rounding_floor(got, want)))
    )


def near(got: float, want: float, rtol: float = 1e-6) -> bool:
    """True when the number ``got`` is ``want`` to ``rtol`` of ``want`` (1e-6: an answer computed in float32 passes)."""
    return abs(got - want) <= rtol * abs(want)


@dataclass
class _Text:
    """A hint or a model answer: prints as text, shows as Markdown in Jupyter."""

    text: str
    code: bool = False

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        return f"```python\n{self.text}\n```" if self.code else self.text.replace("\n", "  \n")


def _is_stub(answer: object) -> bool:
    return answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip())


def _guard(answer: object) -> object:
    """Wrap a plain function so that its NotImplementedError passes through any checker as NotAnswered."""
    if not inspect.isfunction(answer):
        return answer

    @functools.wraps(answer)
    def guarded(*args: object, **kwargs: object) -> object:
        try:
            return answer(*args, **kwargs)
        except NotImplementedError:
            raise NotAnswered from None

    return guarded


class Exercise:
    """One exercise of one lesson: call it with your answer to check it; ``.hint()`` and ``.solution()`` on request."""

    def __init__(
        self,
        checker: Callable[..., CheckResult] | None,
        *,
        name: str,
        lesson: int,
        number: int,
        title: str,
        level: str,
        hint: str,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        self.checker, self.name, self.lesson, self.number = checker, name, lesson, number
        self.title, self.level, self._hint = title, level, hint
        if checker is not None:
            functools.update_wrapper(self, checker)

    @property
    def checked(self) -> bool:
        """False for an open question or design task: it has a model answer but no automatic check."""
        return self.checker is not None

    def __call__(self, answer: object = None, *args: object, **kwargs: object) -> CheckResult:
        if self.checker is None:
            return CheckResult(
                False,
                "This exercise has no automatic check: it asks for an experiment or an argument. "
                f"When you have yours, compare it with the model answer: "
                f"nst.check.{self.name}.solution().",
                self._hint,
            )
        if _is_stub(answer):
            return self._not_yet()
        try:
            result = self.checker(_guard(answer), *args, **kwargs)
        except (NotAnswered, NotImplementedError):
            return self._not_yet()
        if not result.ok and not result.hint:
            result.hint = self._hint
        return result

    check = __call__

    def works(self, answer: object) -> bool:
        """True when ``answer`` passes the check, silently. A lesson with a core exercise then runs the
        learner's function for its pictures instead of nstlib's, and says which it runs."""
        return self.checker is not None and bool(self(answer))

    def _not_yet(self) -> CheckResult:
        return CheckResult(
            False,
            "You have not answered yet: fill in the cell above (replace the "
            "`raise NotImplementedError` or the `...`) and run this check again.",
            self._hint,
            {"stub": True},
        )

    def hint(self) -> _Text:
        """A nudge towards the answer, without giving it away."""
        return _Text(f"Hint (exercise {self.number} of lesson {self.lesson:02d}): {self._hint}")

    def solution(self) -> _Text:
        """The model answer from ``solutions/lessonNN.py`` (kept for instructors; shown only when you ask)."""
        source = model_answer(self.lesson, self.name)
        if source is None:
            return _Text(
                f"The model answer is `{self.name}` in solutions/lesson{self.lesson:02d}.py of the nst-kit "
                f"repository (not found at {_solutions_folder()})."
            )
        return _Text(source, code=True)

    def __repr__(self) -> str:
        kind = "" if self.checked else ", no automatic check"
        return f"<exercise {self.number} of lesson {self.lesson:02d}: {self.title} ({self.level}{kind})>"


def _solutions_folder() -> Path:
    return SOLUTIONS if SOLUTIONS is not None else course_folder() / "solutions"


def model_answer(lesson: int, name: str) -> str | None:
    """The source of the top-level definition or assignment ``name`` in ``solutions/lessonNN.py``, comments included.

    None when that file or name is not there; :class:`~nstlib.errors.InputError` (saying to set ``NSTLIB_COURSE``)
    when the course folder itself cannot be found (:func:`nstlib.course.files.course_folder`).
    """
    path = _solutions_folder() / f"lesson{lesson:02d}.py"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for node in ast.parse(text).body:
        names = (
            [node.name]
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))
            else [t.id for t in getattr(node, "targets", [getattr(node, "target", None)]) if isinstance(t, ast.Name)]
        )
        if name in names:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
            while start > 0 and lines[start - 1].lstrip().startswith("#"):
                start -= 1  # the comment block just above belongs to the answer
            return "\n".join(lines[start : node.end_lineno])
    return None


def exercise(
    *, lesson: int, number: int, title: str, level: str, hint: str, name: str | None = None
) -> Callable[[Callable[..., CheckResult]], Exercise]:
    """Register a checker as exercise ``number`` of ``lesson`` (decorator)."""

    def register(checker: Callable[..., CheckResult]) -> Exercise:
        ex = Exercise(
            checker, name=name or checker.__name__, lesson=lesson, number=number, title=title, level=level, hint=hint
        )
        _REGISTRY[ex.name] = ex
        return ex

    return register


def open_exercise(
    name: str, *, lesson: int, number: int, title: str, hint: str, level: str = "design an experiment"
) -> Exercise:
    """Register an exercise without an automatic check (a design task or open question): hint and model answer."""
    ex = Exercise(None, name=name, lesson=lesson, number=number, title=title, level=level, hint=hint)
    _REGISTRY[name] = ex
    return ex


def exercises(lesson: int | None = None) -> list[Exercise]:
    """Every registered exercise (of one lesson), in lesson and exercise order."""
    found = [ex for ex in _REGISTRY.values() if lesson is None or ex.lesson == lesson]
    return sorted(found, key=lambda ex: (ex.lesson, ex.number))
