"""Lesson 05's second exercise, the closure L-BFGS calls: its checker and ``.works``, which the lesson uses to decide
whether its L-BFGS loop runs the learner's closure or the lesson's own.

Oracle: torch's own ``torch.optim.LBFGS`` on a tiny fixed objective (48 pixels, a least-squares fit plus a quartic
term, whose minimum lies partly outside [0, 1]), driven by a reference closure — zero the gradient, the loss of x,
backward, return the loss — in two loops: the lesson's (one evaluation per step, the step capped at 0.25, x clamped
after each step under ``torch.no_grad()``) and torch's defaults (``max_iter=20``: several evaluations per step, at
points outside [0, 1]). Every call of the learner's closure is watched: how often it evaluates the objective,
whether backward reached the loss and x, what it leaves in ``x.grad``, whether it moved x, what it returns.

Measured with torch (tests/test_check_transfer.py keeps the list honest), these mistakes change what L-BFGS does,
and each has its own message: no zero_grad (gradients add up across calls), zero_grad after backward or no backward
(x.grad empty: L-BFGS stops), the loss of a detached copy of x, a clamp in the graph (clamp passes no gradient to a
pixel at 0 or 1, so a clamped pixel never comes back), clamping x inside the closure (harmless in the lesson's loop,
wrong as soon as L-BFGS evaluates more than once per step), an in-place clamp where autograd is on (torch refuses),
``optimizer.step`` inside the closure, the loss computed once outside the closure, two evaluations per call, and
returning nothing. Returning ``loss.item()`` or ``loss.detach()`` is *not* one of them: L-BFGS only ever calls
``float()`` on what the closure returns, and the path is the same to the last bit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.course.check._core import CheckResult, NotAnswered, call_safely, exercise, failed, generator, passed

__all__ = ["make_closure"]

MAX_STEP = 0.25  # the lesson's cap on one step (section 2)


def _problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = generator(7)
    weights = torch.randn(40, 48, generator=g) / 48**0.5
    target = torch.randn(40, generator=g) * 2  # far enough that the unconstrained minimum leaves [0, 1]
    start = torch.rand(1, 3, 4, 4, generator=g)
    return weights, target, start


_W, _B, _START = _problem()


def _loss(x: torch.Tensor) -> torch.Tensor:
    """The tiny objective: mean (W x − b)² + 0.05 Σ (x − ½)⁴, a 0-d tensor."""
    v = x.flatten()
    return (_W @ v - _B).square().mean() + 0.05 * (v - 0.5).pow(4).sum()


def _gradient(x: torch.Tensor, clamped: bool = False) -> torch.Tensor:
    probe = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(_loss(probe.clamp(0, 1) if clamped else probe), probe)
    return grad


class _Verdict(BaseException):
    """Stops a run with a diagnosis (a BaseException: the learner's ``except Exception`` cannot swallow it)."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result


class _StepInside(BaseException):
    """Raised when the learner's closure calls ``optimizer.step``."""


class _Backward(torch.autograd.Function):
    """The identity, noting when a backward pass goes through it (did the closure call backward on the loss?)."""

    @staticmethod
    def forward(ctx, loss: torch.Tensor, seen: list) -> torch.Tensor:
        ctx.seen = seen
        return loss.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        ctx.seen.append(True)
        return grad, None


class _WatchedLBFGS(torch.optim.LBFGS):
    """torch's L-BFGS, refusing a step from inside its own closure (instead of recursing until Python gives up)."""

    in_closure = False

    def step(self, closure=None):  # untyped, as torch's own LBFGS.step
        if self.in_closure:
            raise _StepInside
        return super().step(closure)


_SETTINGS = {
    "lesson": dict(lr=1, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0),
    "torch": dict(lr=1),  # torch's defaults: max_iter=20, so several evaluations per step
}
_STEPS = {"lesson": 6, "torch": 2}
_WHERE = {
    "lesson": "in the lesson's loop (one evaluation per step)",
    "torch": "with torch's default L-BFGS (max_iter=20: several evaluations per step, as in the PyTorch tutorial)",
}


def _reference(x: torch.Tensor, optimizer: torch.optim.Optimizer, objective: Callable) -> Callable[[], torch.Tensor]:
    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective(x)
        loss.backward()
        return loss

    return closure


def _raised(exc: Exception, during_call: int, at_make: int) -> CheckResult:
    """What an exception from the learner's closure means."""
    text = str(exc)
    if during_call == 0 and at_make > 0:
        return failed(
            "your closure computes the loss once, when make_closure runs, and reuses it at every call "
            f"({type(exc).__name__}: {text.splitlines()[0]}). L-BFGS moves x between calls: each call must compute "
            "objective(x) anew, inside closure()."
        )
    if "leaf Variable that requires grad" in text:
        return failed(
            "your closure changes x in place (x.clamp_(0, 1)?) where autograd is on: L-BFGS calls the closure with "
            "gradients enabled, and torch refuses an in-place change of a leaf that requires grad. Clamping is the "
            "loop's job, after opt.step, under torch.no_grad(); the closure leaves x as L-BFGS put it."
        )
    if "does not require grad" in text:
        return failed(
            "your closure computes the loss without a graph (under torch.no_grad(), or of x.data or x.detach()), "
            "so backward() has nothing to go back through. Compute objective(x) with autograd on: L-BFGS "
            "switches it on for the closure."
        )
    if "'NoneType' object has no attribute 'zero_'" in text:
        return failed(
            "x.grad is None until the first backward(), so x.grad.zero_() fails at the first call. "
            "optimizer.zero_grad() (or x.grad = None) works at every call."
        )
    if "'float' object has no attribute 'backward'" in text:
        return failed(
            "your closure calls backward() on a Python number: .item() (or float()) keeps the value but not the "
            "graph. Call backward() on the loss tensor; return that tensor (returning loss.item() afterwards "
            "would also do: L-BFGS only calls float() on it)."
        )
    return failed(f"your closure raised {type(exc).__name__}: {text}")


def _run(fn: Callable | None, kind: str) -> tuple[torch.Tensor, list[float]]:
    """Minimise the tiny objective with torch's L-BFGS in the ``kind`` loop, the closure made by ``fn`` (None: the
    reference). Raises _Verdict at the first call that goes wrong."""
    x = _START.clone().requires_grad_(True)
    optimizer = _WatchedLBFGS([x], **_SETTINGS[kind])  # type: ignore[arg-type]
    calls: list[torch.Tensor] = []
    backward_seen: list[bool] = []
    x_seen: list[bool] = []
    x.register_hook(lambda grad: x_seen.append(True))

    def objective(image: torch.Tensor) -> torch.Tensor:
        calls.append(image)
        loss = _loss(image)
        return _Backward.apply(loss, backward_seen) if loss.requires_grad else loss

    if fn is None:
        closure = _reference(x, optimizer, objective)
    else:
        made, error = call_safely(fn, x, optimizer, objective)
        if error is not None:
            raise _Verdict(error)
        if isinstance(made, (torch.Tensor, int, float)):
            raise _Verdict(
                failed(
                    f"make_closure returned {type(made).__name__}, a loss: it should return the function closure "
                    "itself (return closure, without parentheses), for L-BFGS to call whenever it needs the loss."
                )
            )
        if not callable(made):
            raise _Verdict(failed(f"make_closure returned {type(made).__name__}; return the function closure."))
        closure = made
    at_make = len(calls)

    def watched() -> object:
        x_in = x.detach().clone()
        before = None if x.grad is None else x.grad.detach().clone()
        n0, b0, s0 = len(calls), len(backward_seen), len(x_seen)
        optimizer.in_closure = True
        try:
            out = closure()
        except NotImplementedError:
            raise NotAnswered from None
        except _StepInside:
            raise _Verdict(
                failed(
                    "your closure calls optimizer.step: it is the other way round. The loop calls opt.step(closure) "
                    "once per step, and L-BFGS calls the closure (once or several times) to get the loss and its "
                    "gradient; a step inside the closure would start a step inside a step, for ever."
                )
            ) from None
        except Exception as exc:  # the learner's code may raise anything
            raise _Verdict(_raised(exc, len(calls) - n0, at_make)) from None
        finally:
            optimizer.in_closure = False
        _diagnose(out, x, x_in, before, len(calls) - n0, at_make, len(backward_seen) > b0, len(x_seen) > s0, kind)
        return out

    history: list[float] = []
    for _ in range(_STEPS[kind]):
        start = x.detach().clone()
        loss = optimizer.step(watched)
        with torch.no_grad():
            if kind == "lesson":  # the lesson's cap (nst.cap_step), then the clamp
                largest = (x - start).abs().max()
                if largest > MAX_STEP:
                    x.copy_(start + (x - start) * (MAX_STEP / largest))
                    optimizer.state[x]["t"] *= float(MAX_STEP / largest)
            x.clamp_(0, 1)
            history.append(float(loss))
    return x.detach(), history


def _diagnose(
    out: object,
    x: torch.Tensor,
    x_in: torch.Tensor,
    before: torch.Tensor | None,
    evaluations: int,
    at_make: int,
    backward: bool,
    reached_x: bool,
    kind: str,
) -> None:
    """Raise _Verdict when one call of the learner's closure did something L-BFGS cannot use."""
    where = _WHERE[kind]
    if evaluations == 0:
        stale = " It computed the loss once, in make_closure, and reuses it." if at_make else ""
        raise _Verdict(
            failed(
                "your closure never calls objective: L-BFGS moves x between calls, so each call must compute "
                f"objective(x) anew, at the current x.{stale}"
            )
        )
    if evaluations > 1:
        raise _Verdict(
            failed(
                f"your closure evaluates the objective {evaluations} times per call; once is enough (return the loss "
                "you called backward() on). L-BFGS takes the same steps either way, but in the lesson every "
                f"evaluation is a pass through VGG: {evaluations} times the time for each step."
            )
        )
    if out is None:
        raise _Verdict(
            failed(
                "your closure returns nothing (None): L-BFGS calls float() on what the closure returns, to compare "
                "the losses of its steps. Return the loss."
            )
        )
    if not backward:
        raise _Verdict(
            failed(
                "your closure never calls backward() on the loss: x.grad stays empty, L-BFGS reads a zero "
                "gradient, concludes it has arrived and never moves x. Call loss.backward() before returning."
            )
        )
    if not reached_x:
        raise _Verdict(
            failed(
                "your closure computes the loss of a copy of x that autograd does not connect to x (x.detach().clone(), "
                "a new tensor …): backward() fills the copy's .grad, x.grad stays empty, and L-BFGS never moves x. "
                "Compute objective(x) itself."
            )
        )
    if not torch.equal(x.detach(), x_in):
        clamp = torch.equal(x.detach(), x_in.clamp(0, 1))
        raise _Verdict(
            failed(
                f"{where}, your closure {'clamps' if clamp else 'changes'} x. L-BFGS evaluates "
                "the loss at points it chose and keeps track of where x is; moving x behind its back makes it learn "
                "from steps it never took. (In the lesson's loop, one evaluation per step, a clamp there happens "
                "to change nothing, because the loop has just clamped.) Leave x alone in the closure: the loop "
                "clamps after opt.step, under torch.no_grad()."
            )
        )
    with torch.no_grad():
        try:
            value = float(out)  # type: ignore[arg-type]  # what L-BFGS does with it
        except (TypeError, ValueError, RuntimeError):
            raise _Verdict(
                failed(f"your closure returns {type(out).__name__}, which float() cannot read: return the loss.")
            ) from None
    want = float(_loss(x_in))
    grad, right = x.grad, _gradient(x_in)
    if grad is None or not bool(grad.any()):
        raise _Verdict(
            failed(
                "your closure leaves x.grad empty although backward() reached x: it clears the gradient after "
                "backward() (zero_grad at the end instead of the start?). L-BFGS reads x.grad after the closure "
                "returns; finding zeros, it stops."
            )
        )
    if before is not None and bool(before.any()) and torch.allclose(grad, before + right, rtol=1e-4, atol=1e-6):
        raise _Verdict(
            failed(
                f"{where}, x.grad after your closure is this call's gradient plus the previous ones: without "
                "optimizer.zero_grad() at the start, backward() adds to what is already in x.grad, and L-BFGS steps "
                "along the sum of old and new gradients. Zero the gradient first."
            )
        )
    clamped = _gradient(x_in, clamped=True)
    if not torch.equal(clamped, right) and torch.allclose(grad, clamped, rtol=1e-4, atol=1e-6):
        raise _Verdict(
            failed(
                f"{where}, your closure clamps x inside the graph (objective(x.clamp(0, 1))): clamp passes no "
                "gradient to a pixel at 0 or 1 (or beyond), so a pixel the loop has clamped gets a zero gradient "
                "and never comes back. Compute objective(x); the loop clamps x after the step, outside the graph."
            )
        )
    if not torch.allclose(grad, right, rtol=1e-4, atol=1e-6):
        worst = float((grad - right).abs().max())
        raise _Verdict(
            failed(
                f"{where}, x.grad after your closure is not the gradient of objective(x) (off by up to {worst:.3g})."
            )
        )
    if abs(value - want) > 1e-5 * abs(want):
        raise _Verdict(failed(f"{where}, your closure returns {value:.6g}; the loss at x is {want:.6g}."))


@exercise(
    lesson=5,
    number=2,
    title="the closure L-BFGS calls",
    level="a few lines",
    hint="Four lines inside closure(): optimizer.zero_grad(); loss = objective(x); loss.backward(); return loss. "
    "No clamp and no optimizer.step in there: the loop does both, around opt.step(closure).",
)
def make_closure(fn: Callable[..., Callable[[], object]]) -> CheckResult:
    """Exercise: ``fn(x, optimizer, objective)`` returns the closure L-BFGS calls: it zeroes the gradient, computes
    ``objective(x)``, calls backward and returns the loss. Run by torch's LBFGS, in the lesson's loop and with
    torch's defaults, against the reference closure."""
    for kind in ("lesson", "torch"):
        try:
            got_x, got = _run(fn, kind)
        except _Verdict as verdict:
            return verdict.result
        want_x, want = _run(None, kind)
        if not torch.allclose(got_x, want_x, rtol=1e-4, atol=1e-6) or not all(
            abs(a - b) <= 1e-5 * abs(b) for a, b in zip(got, want)
        ):
            return failed(
                f"{_WHERE[kind]}, L-BFGS with your closure ends elsewhere than with the reference closure "
                f"(losses {', '.join(f'{v:.4g}' for v in got)} against {', '.join(f'{v:.4g}' for v in want)})."
            )
    return passed(
        "zero the gradient, the loss of x, backward, return the loss — and nothing else: the same path as the "
        "reference closure, in the lesson's loop and with torch's defaults (max_iter=20). The lesson's L-BFGS loop "
        "below now runs your closure."
    )
