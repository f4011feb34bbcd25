"""Checkers for lesson 10 (feed-forward transfer): what a residual block costs, conditional and adaptive instance
normalisation, what the transfer network is blind to, and when training a network pays off.

Oracles: real ``TransferNet`` modules (parameter counts, the network's response to changed inputs),
the instance-norm statistics written out (mean and biased variance over H and W), and hand-computed numbers
for the break-even analysis.
Each checker also recognises the usual wrong answers and says which one it saw.

Exercises 2 and 3 (the normalisations) live in :mod:`._feedforward_norms`; this module exports them with
the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, SupportsFloat, SupportsIndex

import torch

from nstlib.algorithms.texnet import ResidualBlock, TransferNet
from nstlib.course.check._core import CheckResult, NotAnswered, as_number, call_safely, exercise, failed, passed
from nstlib.course.check._feedforward_norms import adain, cond_instance_norm

__all__ = ["residual_params", "cond_instance_norm", "adain", "network_invariances", "pays_off"]


# ---------------------------------------------------------------- exercise 1: parameters of a residual block


def _block_params(c: int) -> int:
    return sum(p.numel() for p in ResidualBlock(c).parameters())  # the block TransferNet is built from


_PARAM_MISTAKES = [  # (formula, diagnosis)
    (
        lambda c: 18 * c * c,
        "you counted only the convolution weights (18·C²): each convolution also has C biases, "
        "and each instance norm learns γ and β (2C), so 6C are missing.",
    ),
    (
        lambda c: 18 * c * c + 2 * c,
        "you counted the weights and the biases, but not the instance norms' γ and β: "
        "InstanceNorm2d(affine=True) learns two numbers per channel, in both halves.",
    ),
    (
        lambda c: 18 * c * c + 4 * c,
        "you counted the weights and the instance norms' γ and β, but not the convolutions' biases (C each).",
    ),
    (lambda c: 9 * c * c + 3 * c, "that is one convolution with its instance norm: a residual block has two of them."),
    (
        lambda c: 9 * c * c + 2 * c,
        "that is one convolution with its bias: a residual block has two, and each is "
        "followed by an instance norm with γ and β.",
    ),
    (
        lambda c: 2 * c * c + 6 * c,
        "you forgot the kernel's area: a 3×3 kernel has 9 weights for every pair of input and output channels.",
    ),
    (
        lambda c: 18 * c + 6 * c,
        "your count grows like C, not C²: every output channel has a 3×3 kernel for *each* "
        "of the C input channels, 9·C·C weights per convolution.",
    ),
    (
        lambda c: 18 * c * c + 6 * c + 2 * c,
        "you counted three instance norms; a block has two (the second half has no ReLU, but still its norm).",
    ),
]


@exercise(
    lesson=10,
    number=1,
    title="what one residual block costs",
    level="one line",
    hint="a block is two 3×3 convolutions C→C (weights and a bias per output channel), each followed by an "
    "instance norm with a learned γ and β per channel; write the count as a polynomial in C.",
)
def residual_params(fn: Callable[[int], int]) -> CheckResult:
    """Exercise: ``fn(C)`` returns the number of learned parameters of one residual block with C channels."""
    channels = (1, 3, 16, 128)
    got = {}
    for c in channels:
        value, error = call_safely(fn, c)
        if error is not None:
            return error
        try:
            if not isinstance(value, (SupportsFloat, SupportsIndex, str, bytes)):
                raise TypeError  # as float() would; checking first lets mypy see a number below
            got[c] = float(value)
        except (TypeError, ValueError):
            return failed(f"return one number (an int); for C = {c} you returned {type(value).__name__}.")
    want = {c: _block_params(c) for c in channels}
    if all(got[c] == want[c] for c in channels):
        paper = TransferNet()
        share = 5 * want[128] / sum(p.numel() for p in paper.parameters())
        return passed(
            f"2·(9C² + C) + 2·2C = 18C² + 6C: {want[128]:,} for C = 128. The paper's five blocks hold "
            f"{share:.0%} of its {sum(p.numel() for p in paper.parameters()):,} parameters — the "
            "network's capacity sits at a quarter of the resolution, where it is cheap to run."
        )
    for formula, diagnosis in _PARAM_MISTAKES:
        if all(got[c] == formula(c) for c in channels):
            return failed(diagnosis)
    c = next(c for c in channels if got[c] != want[c])
    return failed(f"for C = {c} you count {got[c]:g} parameters; the real block has {want[c]:,}.")


# ---------------------------------------------------------------- exercise 4: what the network is blind to

_CASES = {  # name -> (changed input, how to compare: undo on the output)
    "lower contrast": (lambda x: 0.5 * x + 0.25, lambda y: y),
    "inverted": (lambda x: 1.0 - x, lambda y: y),
    "tinted": (lambda x: x * torch.tensor([1.0, 0.6, 0.8]).view(1, 3, 1, 1), lambda y: y),
    "mirrored": (lambda x: x.flip(-1), lambda y: y.flip(-1)),
}
_WHY = {
    "lower contrast": "0.5·x + 0.25 changes the first convolution's output to 0.5·(W∗x) plus a constant per channel "
    "(the input's 2x − 1, the bias and the reflection padding keep constants constant); instance "
    "norm subtracts the constant and divides the 0.5 out, so everything after it sees the same "
    "numbers — up to ε = 1e-5",
    "inverted": "1 − x flips the sign of the first convolution's output: instance norm removes the size of a scale "
    "factor, not its sign (IN(−z) = −IN(z)), and γ, β and the ReLU that follow are not odd functions",
    "tinted": "scaling R, G and B by different factors is not one factor per feature channel: every first-layer filter "
    "mixes the three colours with its own weights, so the patterns it sees change, not just their size",
    "mirrored": "convolutions commute with shifts, not with mirror images: the learned (and the random) 9×9 and 3×3 "
    "kernels are not left–right symmetric",
}


def _measured() -> dict[str, bool]:
    """True where a (random, seeded) transfer network's output is unchanged by the case."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        net = TransferNet(width=4, n_residual=1).eval()
    h, w = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 32), indexing="ij")
    x = torch.stack([0.5 + 0.4 * torch.sin(7 * w * h + 1), w**2, 0.3 + 0.6 * h * (1 - w)])[None]  # asymmetric
    out = {}
    with torch.no_grad():
        y = net(x)
        for name, (change, undo) in _CASES.items():
            out[name] = float((undo(net(change(x))) - y).abs().max()) < 1e-2
    return out


def _verdict(value: object) -> bool | None:
    if value is True or value is False:
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word.startswith(("same", "ident", "unchanged", "equal")):
            return True
        if word.startswith(("diff", "changed", "not")):
            return False
    return None


@exercise(
    lesson=10,
    number=4,
    title="what the network cannot see",
    level="predict and explain",
    hint="follow the input through the first layer: 2x − 1, a convolution (linear, plus a bias), then instance "
    "norm, which removes a per-channel constant and a per-channel positive factor — and nothing else.",
)
def network_invariances(predictions: dict) -> CheckResult:
    """Exercise: ``predictions`` maps each change of the photo to "same" or "different": is the transfer network's
    output (undone for the mirror) unchanged? Checked against a real network."""
    if not isinstance(predictions, dict):
        return failed(
            f"give a dict {{case: 'same' or 'different'}} for the cases {list(_CASES)}; got "
            f"{type(predictions).__name__}."
        )
    answers = {k.strip().lower() if isinstance(k, str) else k: v for k, v in predictions.items()}
    if all(v is Ellipsis or v is None or v == "" for v in answers.values()):
        raise NotAnswered
    missing = [name for name in _CASES if answers.get(name, ...) in (Ellipsis, None, "")]
    if missing:
        return failed(
            f"you have not predicted {', '.join(repr(m) for m in missing)} yet.",
            hint="fill in every case with 'same' or 'different'.",
        )
    verdicts = {name: _verdict(answers[name]) for name in _CASES}
    unclear = [name for name, v in verdicts.items() if v is None]
    if unclear:
        return failed(f"write 'same' or 'different' for {', '.join(repr(u) for u in unclear)}.")
    truth = _measured()
    for name in _CASES:
        if verdicts[name] != truth[name]:
            said = "same" if verdicts[name] else "different"
            real = "the same" if truth[name] else "different"
            return failed(
                f"'{name}': you predicted {said}, but the output is {real}. Why: {_WHY[name]}.",
                hint="predict each case again with that reasoning; the others may hold the same trap.",
            )
    return passed(
        "all four right, measured on a real TransferNet. The network is blind to the photo's overall "
        "brightness and contrast (one positive factor and one offset shared by R, G and B, which the first "
        "instance norm divides out) and to none of the other changes: a dim or washed-out photo is "
        "stylised like a crisp one, an inverted, tinted or mirrored one is not."
    )


# ---------------------------------------------------------------- exercise 5: when training pays off


class _PayCase(NamedTuple):
    """One break-even case: the arguments ``fn`` gets, and two of the answers."""

    args: tuple[float, float, list[float], list[float], float]  # net_seconds, net_loss, opt_times, opt_losses, train
    steps: int  # the first step at the network's quality
    opt_seconds: float  # the time elapsed then


_PAY_CASES = [
    _PayCase(
        args=(
            0.3,
            100.0,
            [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
            [400.0, 250.0, 150.0, 110.0, 95.0, 80.0, 70.0, 65.0],
            75.0,
        ),
        steps=5,
        opt_seconds=2.5,
    ),
    _PayCase(args=(0.02, 500.0, [0.4, 0.8, 1.2], [450.0, 300.0, 200.0], 30.0), steps=1, opt_seconds=0.4),
    _PayCase(
        args=(0.5, 100.0, [0.1, 0.2, 0.3, 0.4, 0.5], [300.0, 200.0, 120.0, 90.0, 60.0], 10.0), steps=4, opt_seconds=0.4
    ),
]


@exercise(
    lesson=10,
    number=5,
    title="when does training pay off?",
    level="design an experiment",
    hint="compare at equal quality: the first step whose loss is at or below the network's, and the time "
    "elapsed then; the network wins from the first whole N with train + N·t_net ≤ N·t_opt — and never "
    "when t_opt ≤ t_net.",
)
def pays_off(fn: Callable[..., dict]) -> CheckResult:
    """Exercise: ``fn(net_seconds, net_loss, opt_times, opt_losses, train_seconds)`` returns a dict with "steps"
    (first 1-based step of the optimisation whose loss ≤ net_loss), "opt_seconds" (elapsed then), "speedup"
    (opt_seconds / net_seconds) and "break_even" (smallest whole N with train + N·t_net ≤ N·t_opt; math.inf if
    never)."""
    for case in _PAY_CASES:
        net_s, net_loss, times, losses, train = case.args
        got, error = call_safely(fn, net_s, net_loss, list(times), list(losses), train)
        if error is not None:
            return error
        if not isinstance(got, dict):
            return failed(
                f"return a dict with 'steps', 'opt_seconds', 'speedup' and 'break_even'; got {type(got).__name__}."
            )
        lacking = [key for key in ("steps", "opt_seconds", "speedup", "break_even") if key not in got]
        if lacking:
            return failed(f"your dict lacks {', '.join(repr(key) for key in lacking)}.")
        steps, opt_s = case.steps, case.opt_seconds
        gap = opt_s - net_s
        want_n = math.inf if gap <= 0 else max(1, math.ceil(train / gap))
        label = (
            f"with t_net = {net_s} s, the network's loss {net_loss:g}, training {train:g} s and the optimisation's "
            f"losses {losses}"
        )
        g_steps, g_opt, g_speed, g_n = (
            as_number(got[key]) for key in ("steps", "opt_seconds", "speedup", "break_even")
        )
        if g_steps != steps:
            if g_steps == len(losses):
                return failed(
                    f"{label}: you took the last step of the run ({len(losses)}). A fair comparison is at "
                    f"equal quality: the optimisation already matched the network at step {steps}."
                )
            if g_steps == steps - 1:
                return failed(
                    f"{label}: you gave step {g_steps:g}, the list index; steps count from 1 "
                    f"(opt_losses[k] is step k + 1), so it is step {steps}."
                )
            return failed(
                f"{label}: 'steps' should be {steps}, the first step whose loss is at most {net_loss:g}; "
                f"you gave {got['steps']!r}."
            )
        if g_opt is None or abs(g_opt - opt_s) > 1e-9:
            if g_opt is not None and abs(g_opt - times[-1]) < 1e-9:
                return failed(
                    f"{label}: 'opt_seconds' is the time of the whole run; at equal quality it is the time "
                    f"elapsed at step {steps}, {opt_s} s."
                )
            return failed(
                f"{label}: 'opt_seconds' should be opt_times[{steps - 1}] = {opt_s} s; you gave {got['opt_seconds']!r}."
            )
        if g_speed is None or abs(g_speed - opt_s / net_s) > 1e-6 * opt_s / net_s:
            if g_speed is not None and abs(g_speed - net_s / opt_s) < 1e-9:
                return failed(f"{label}: your speed-up is upside down: t_opt / t_net = {opt_s / net_s:.4g}.")
            return failed(
                f"{label}: 'speedup' should be t_opt / t_net = {opt_s / net_s:.4g}; you gave {got['speedup']!r}."
            )
        if want_n == math.inf:
            if g_n != math.inf:
                return failed(
                    f"{label}: at equal quality the optimisation takes {opt_s} s per photo and the network "
                    f"{net_s} s, so the network never pays for its {train:g} s of training: break_even is "
                    "math.inf here, not " + repr(got["break_even"]) + "."
                )
            continue
        if g_n == want_n:
            continue
        raw = train / gap
        if g_n is not None and abs(g_n - raw) < 1e-9:
            return failed(f"{label}: {raw:.4g} photos is not a whole number: round up, to {want_n}.")
        if g_n is not None and g_n == math.floor(raw):
            return failed(
                f"{label}: you rounded down; with {g_n:g} photos the training ({train:g} s) is not yet paid "
                f"back. Round up, to {want_n}."
            )
        if g_n is not None and g_n in (math.ceil(train / opt_s), train / opt_s):
            return failed(
                f"{label}: you divided the training time by t_opt alone; every photo through the network "
                f"still costs t_net, so each photo saves t_opt − t_net = {gap:.4g} s: N = {want_n}."
            )
        if g_n is not None and abs(g_n - opt_s / net_s) < 1e-6 * opt_s / net_s:
            return failed(
                f"{label}: that is the speed-up per photo, not the number of photos after which the "
                f"training time is paid back ({want_n})."
            )
        return failed(f"{label}: break_even should be {want_n}; you gave {got['break_even']!r}.")
    return passed(
        "your analysis compares at equal quality and charges the network for its training. Now feed it "
        "this lesson's own measurements: how many photos would you have to stylise before training paid off?"
    )
