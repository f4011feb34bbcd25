"""The pixel-optimisation loop shared by stylize, reconstruct, texture synthesis and (with the sign flipped) deepdream.

One *step* is one evaluation of the loss and its gradient followed by one optimiser update, for
every optimiser (L-BFGS runs with ``max_iter=1`` and keeps its curvature memory between steps, so
nothing is evaluated that is not recorded). Three optimisers, by name:

* ``"lbfgs"``       torch's L-BFGS (Gatys et al.'s choice), lr 1 by default, no pixel moving by more than 0.25 in a
  step (:func:`~nstlib.optim.steps.cap_step`);
* ``"adam"``        Adam, lr 0.02 by default;
* ``"normalized"``  x ← x − η · d / mean|d|, d = the gradient, the mean taken per image (lr η 0.01 by default):
  every step changes the pixels by η on average however large the gradient is (DeepDream's step, from
  Google's original notebook; with ``maximize=True``, d = −∂L/∂x and the step climbs).

The loss comes from an :data:`Objective` (named terms; the loop calls ``backward()``), or, where the
gradient is more than one backward pass at x, from a :data:`Gradient` function that returns the
gradient and the terms itself: DeepDream's evaluates the loss at a randomly rolled (jittered) copy
of x, tile by tile, and rolls the gradient back. DeepDream then runs, once per octave::

    optimize_pixels(image, None, steps, optimizer="normalized", lr=η, maximize=True,
                    gradient=jittered_gradient, keep="last")

``keep="best"`` (the default) returns, per image, the evaluated version with the lowest loss;
``keep="last"`` returns the image after the last step (DeepDream's losses are measured on jittered
copies, so they cannot say which image is best). ``steps_before`` and ``steps_total`` number the
progress reports and messages when one call is a part of a longer run (DeepDream's octaves).
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from tqdm.auto import tqdm

from nstlib.errors import InputError
from nstlib.optim.steps import DEFAULT_MAX_STEP, NormalizedStep, cap_step

__all__ = ["Progress", "TransferResult", "optimize_pixels", "cap_step", "DEFAULT_MAX_STEP", "Objective", "Gradient"]

# An objective maps the current image (B, 3, H, W) to named, already-weighted loss terms, each of
# shape (B,): "content:relu4_2", "style:relu1_1", "tv", … The group is the part before the colon.
Objective = Callable[[torch.Tensor], dict[str, torch.Tensor]]

# A gradient function maps the current image (B, 3, H, W, no autograd history) to the gradient ∂L/∂x
# of the loss (same shape) and the loss terms, as an objective names them. The loop calls no backward().
Gradient = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]

_MAX_RECOVERIES = 5
_DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02, "normalized": 0.01}


@dataclass
class Progress:
    """What a callback receives after every step."""

    step: int  # steps done so far (1-based)
    steps: int  # steps requested
    loss: float  # total loss of the image just evaluated
    losses: dict[str, float]  # every recorded component at this step
    image: torch.Tensor  # the image just evaluated, detached (B, 3, H, W)
    elapsed: float  # seconds since the loop started


@dataclass
class TransferResult:
    """The outcome of an optimisation: the image, and how it got there."""

    image: torch.Tensor  # (B, 3, H, W) in [0, 1]: per image of the batch, the evaluated one with the lowest loss
    history: dict[str, list[float]]  # per-step lists: "total", group totals, and one per layer (summed over the batch)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)  # step -> image (on the CPU)
    settings: dict[str, Any] = field(default_factory=dict)  # the options the run used
    steps_done: int = 0
    interrupted: bool = False  # True if stopped by Ctrl-C / the kernel's stop button
    seconds: float = 0.0
    recoveries: int = 0  # how many times a NaN/Inf loss was undone
    image_history: list[dict[str, list[float]]] = field(default_factory=list)  # one ``history`` per image of the batch

    def split(self) -> list[TransferResult]:
        """One result per image of the batch, each with its own image (1, 3, H, W) and history.

        >>> result = TransferResult(image=torch.zeros(2, 3, 4, 4), history={"total": [3.0]},
        ...                         image_history=[{"total": [1.0]}, {"total": [2.0]}])
        >>> [r.history["total"][-1] for r in result.split()], result.split()[0].image.shape
        ([1.0, 2.0], torch.Size([1, 3, 4, 4]))
        """
        histories = self.image_history or [self.history]
        return [
            TransferResult(
                image=self.image[i : i + 1],
                history=histories[i] if i < len(histories) else {},
                snapshots={k: v[i : i + 1] for k, v in self.snapshots.items()},
                settings=dict(self.settings),
                steps_done=self.steps_done,
                interrupted=self.interrupted,
                seconds=self.seconds,
                recoveries=self.recoveries,
                image_history=[histories[i]] if i < len(histories) else [],
            )
            for i in range(self.image.shape[0])
        ]

    def __repr__(self) -> str:
        last = self.history["total"][-1] if self.history.get("total") else float("nan")
        flag = ", interrupted" if self.interrupted else ""
        return (
            f"TransferResult(image={tuple(self.image.shape)}, steps_done={self.steps_done}, "
            f"final_loss={last:.4g}, seconds={self.seconds:.1f}{flag})"
        )


def _total(terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The one number the optimiser sees: every term summed over the batch, then over the terms."""
    return cast(torch.Tensor, sum(t.sum() for t in terms.values()))  # sum() starts from 0; torch's stubs miss it


def _make_optimizer(kind: str, x: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    if kind == "lbfgs":
        # No line search and one iteration per step(): exactly one evaluation per step. The
        # tolerances are off so tiny (but useful) gradients never end the run silently.
        return torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0)
    if kind == "adam":
        return torch.optim.Adam([x], lr=lr)
    if kind == "normalized":
        return NormalizedStep([x], lr=lr)
    raise InputError(f"optimizer must be 'lbfgs', 'adam' or 'normalized', got {kind!r}.")


def _group_totals(terms: dict[str, float]) -> dict[str, float]:
    groups: dict[str, float] = defaultdict(float)
    for name, value in terms.items():
        groups[name.split(":", 1)[0]] += value
    return {"total": sum(groups.values()), **groups, **{k: v for k, v in terms.items() if ":" in k}}


def _per_image_totals(terms: dict[str, torch.Tensor], batch: int) -> list[dict[str, float]]:
    """``_group_totals`` for each image: terms of shape (B,) are split, scalar terms shared out evenly."""
    out: list[dict[str, float]] = []
    for b in range(batch):
        values = {name: float(t[b]) if t.numel() == batch else float(t.sum()) / batch for name, t in terms.items()}
        out.append(_group_totals(values))
    return out


@dataclass
class _Evaluation:
    """The latest evaluation's loss terms: each one per image (float64, on the CPU), and summed over the batch."""

    each: dict[str, torch.Tensor] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)


def _closure(
    x: torch.Tensor,
    objective: Objective | None,
    gradient: Gradient | None,
    sign: float,
    loss_scale: float,
    last: _Evaluation,
) -> Callable[[], torch.Tensor]:
    """What the optimiser's ``step()`` calls: evaluate the loss at ``x``, leave its gradient in ``x.grad``, keep
    the terms in ``last``, return the (signed) loss. ``sign`` is −1 to maximise."""

    def closure() -> torch.Tensor:
        x.grad = None  # a fresh gradient every evaluation (the optimiser's zero_grad(set_to_none=True))
        if gradient is not None:  # the gradient function did the backward passes
            grad, terms = gradient(x.detach())
            x.grad = grad if sign == 1.0 else -grad
            total = _total(terms)
        else:
            assert objective is not None  # exactly one of the two, checked by optimize_pixels
            terms = objective(x)
            total = _total(terms)
            if loss_scale != 1.0:
                (sign * loss_scale * total).backward()
                if x.grad is not None:
                    x.grad.div_(loss_scale)
            else:
                (sign * total).backward()
        # One device-to-host copy for all terms (a GPU waits once per step, not once per term).
        flat = [t.detach().reshape(-1) for t in terms.values()]
        values = torch.cat(flat).double().cpu().split([f.numel() for f in flat]) if flat else ()
        last.each = dict(zip(terms, values))
        last.sums = {name: float(t.sum()) for name, t in last.each.items()}
        return sign * total

    return closure


class _Kept:
    """What the loop keeps of a run: every step's losses (summed over the batch, and each image's own), the image
    it will return, and the snapshots.

    The image to return is, per image of the batch, the evaluated version with the lowest loss (``keep="best"``),
    or the image after the latest step (``keep="last"``); a NaN/Inf goes back to it.
    """

    def __init__(self, x: torch.Tensor, sign: float, keep: str, snapshot_every: int | None) -> None:
        batch = x.shape[0]
        self.sign, self.keep, self.snapshot_every = sign, keep, snapshot_every
        self.history: dict[str, list[float]] = defaultdict(list)
        self.image_history: list[dict[str, list[float]]] = [defaultdict(list) for _ in range(batch)]
        self.best_each = torch.full((batch,), math.inf, dtype=torch.float64)  # each image's lowest (signed) loss
        self.image = x.detach().clone()
        self.snapshots: dict[int, torch.Tensor] = {}

    def add(
        self,
        step: int,
        record: dict[str, float],
        each: dict[str, torch.Tensor],
        evaluated: torch.Tensor,
        x: torch.Tensor,
    ) -> torch.Tensor:
        """Keep step ``step``: its losses (``record`` for the batch, ``each`` per image) and, where better, the
        image ``evaluated`` at (``x``: after the step). Returns the image the progress report shows."""
        for name, value in record.items():
            self.history[name].append(value)
        per_image = _per_image_totals(each, len(self.image_history))
        for mine, image_record in zip(self.image_history, per_image):
            for name, value in image_record.items():
                mine[name].append(value)
        if self.keep == "last":
            self.image = shown = x.detach().clone()  # the image this step made
        else:
            shown = evaluated  # the image whose loss was just recorded
            loss = torch.tensor([r["total"] for r in per_image], dtype=torch.float64) * self.sign
            better = loss < self.best_each
            if better.all():
                self.image = evaluated
            elif better.any():
                self.image = self.image.clone()
                self.image[better.to(self.image.device)] = evaluated[better.to(evaluated.device)]
            self.best_each = torch.where(better, loss, self.best_each)
        if self.snapshot_every and step % self.snapshot_every == 0:
            self.snapshots[step] = shown.cpu()
        return shown


def optimize_pixels(
    init: torch.Tensor,
    objective: Objective | None,
    steps: int,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
    desc: str = "optimising",
    maximize: bool = False,
    loss_scale: float = 1.0,
    *,
    gradient: Gradient | None = None,
    keep: str = "best",
    steps_before: int = 0,
    steps_total: int | None = None,
    max_step: float | None = DEFAULT_MAX_STEP,
) -> TransferResult:
    """Minimise (or with ``maximize=True`` maximise) ``objective`` over the pixels of ``init``.

    After every update the image is clamped to [0, 1] under ``torch.no_grad()``. A non-finite loss
    rolls back to the last good image and halves the step size (with a warning). Ctrl-C returns the
    best image so far instead of losing the run. ``callback`` may return True to stop early.

    The terms may be per image (shape (B,)); the loss minimised is their sum. ``result.history``
    holds batch sums, ``result.image_history[b]`` image b's own curves, and ``result.image`` keeps,
    for each image separately, the evaluated version with its lowest loss. Adam updates every pixel
    on its own, so a batch of B images optimised together follows exactly the B separate runs;
    L-BFGS shares one curvature estimate (inner products over the whole batch), so it does not.

    With ``optimizer="lbfgs"``, no pixel changes by more than ``max_step`` in one step (:func:`cap_step`; the
    colour range is 0-1); ``max_step=None`` takes torch's L-BFGS steps as they come. The other optimisers'
    steps are ``lr``-sized already, and ``max_step`` does not apply to them.

    ``loss_scale`` multiplies the loss before ``backward()`` and divides the gradient after it
    (static loss scaling for float16 autocast, whose small gradients would otherwise underflow).

    For DeepDream (see the module's docstring): ``optimizer="normalized"`` takes steps of a fixed mean
    size; ``gradient`` (instead of ``objective``, which is then None) computes the gradient and the
    terms itself; ``keep="last"`` returns the image after the last step instead of the best one (it is
    also what the progress reports and snapshots show, and what a NaN/Inf rolls back to); and
    ``steps_before`` / ``steps_total`` make progress reports and messages count steps of a whole run of
    which this call is one part (step ``steps_before + 1`` of ``steps_total`` first).
    """
    if steps < 0:
        raise InputError(f"steps must be >= 0, got {steps}.")
    if (objective is None) == (gradient is None):
        raise InputError("Give optimize_pixels either an objective or a gradient function (exactly one of them).")
    if max_step is not None and not max_step > 0:
        raise InputError(f"max_step must be a positive number or None, got {max_step}.")
    if keep not in ("best", "last"):
        raise InputError(f"keep must be 'best' or 'last', got {keep!r}.")
    lr = _DEFAULT_LR.get(optimizer, 0.02) if lr is None else float(lr)
    sign = -1.0 if maximize else 1.0
    x = init.detach().clone().clamp_(0.0, 1.0).requires_grad_(True)
    opt = _make_optimizer(optimizer, x, lr)
    kept = _Kept(x, sign, keep, snapshot_every)
    last = _Evaluation()
    closure = _closure(x, objective, gradient, sign, loss_scale, last)
    recoveries, interrupted, done = 0, False, 0
    total_steps = steps_before + steps if steps_total is None else steps_total  # what reports count up to
    # What a NaN/Inf goes back to, and what Ctrl-C or giving up returns, in the warnings' words.
    if keep == "best":
        back = returned = "the best image so far"
    else:
        back, returned = "the image before that step", "the image so far"
    start = time.perf_counter()
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=True)
    try:
        while done < steps:
            evaluated = x.detach().clone()
            opt.step(closure)  # type: ignore[arg-type]  # torch's stubs say () -> float; a loss tensor works
            if optimizer == "lbfgs" and max_step is not None:
                cap_step(opt, x, evaluated, max_step)
            record = _group_totals(last.sums)
            if not math.isfinite(record["total"]) or not torch.isfinite(x).all():
                recoveries += 1
                with torch.no_grad():
                    x.copy_(kept.image)
                lr *= 0.5
                opt = _make_optimizer(optimizer, x, lr)
                warnings.warn(
                    f"The loss became NaN/Inf at step {steps_before + done + 1}: went back to {back} and "
                    f"halved the step size to lr={lr:g}.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                if recoveries > _MAX_RECOVERIES:
                    warnings.warn(
                        f"Giving up after repeated NaN/Inf losses; returning {returned}.", RuntimeWarning, stacklevel=2
                    )
                    break
                continue
            with torch.no_grad():
                x.clamp_(0.0, 1.0)
            done += 1
            shown = kept.add(done, record, last.each, evaluated, x)
            bar.update(1)
            if done % 10 == 0 or done == steps:
                bar.set_postfix(loss=f"{record['total']:.4g}")
            if callback is not None:
                elapsed = time.perf_counter() - start
                if callback(Progress(steps_before + done, total_steps, record["total"], record, shown, elapsed)):
                    break
    except KeyboardInterrupt:
        interrupted = True
        warnings.warn(
            f"Interrupted after {steps_before + done} of {total_steps} steps: returning {returned} "
            "(result.interrupted is True).",
            RuntimeWarning,
            stacklevel=2,
        )
    finally:
        bar.close()
    if done == 0:
        kept.image = x.detach().clone()
    return TransferResult(
        image=kept.image.detach(),
        history=dict(kept.history),
        snapshots=kept.snapshots,
        steps_done=done,
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
        recoveries=recoveries,
        settings={"optimizer": optimizer, "lr": lr, "steps": steps, "max_step": max_step},
        image_history=[dict(h) for h in kept.image_history],
    )
