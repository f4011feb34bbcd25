"""Checkers for lesson 06 (layer ablations): how much of the style image a layer sees, and balanced layer weights.

Oracles: :func:`nstlib.receptive_field` (itself tested against the architecture tables) divided by the
style image's side; for the weights, the defining properties Σ w_l = 1 and w_l · L_l equal for every layer.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from nstlib.check._core import CheckResult, call_safely, failed, passed
from nstlib.layers import layer_index, layer_names, receptive_field

__all__ = ["style_coverage", "balanced_layer_weights"]

_COVERAGE_CASES = [("relu1_1", 64), ("relu2_1", 64), ("relu3_1", 256), ("relu4_1", 512), ("relu5_1", 512),
                   ("relu3_2", 100), ("relu5_1", 128), ("relu4_2", 32), ("pool2", 48)]


def _field_without_pools(layer: str) -> int:
    """The receptive field if pooling were ignored (every 3×3 conv adds 2 pixels)."""
    names = layer_names("vgg19")[: layer_index("vgg19", layer) + 1]
    return 1 + 2 * sum(1 for name in names if name.startswith("conv"))


def _field_pools_add_nothing(layer: str) -> int:
    """The receptive field if pools only doubled the stride but did not widen the field themselves."""
    field, stride = 1, 1
    for name in layer_names("vgg19")[: layer_index("vgg19", layer) + 1]:
        if name.startswith("conv"):
            field += 2 * stride
        elif name.startswith("pool"):
            stride *= 2
    return field


def style_coverage(fn: Callable[[str, int], float]) -> CheckResult:
    """Exercise: ``fn(layer, side)`` = receptive field of ``layer`` in VGG-19 (pixels) / ``side`` of the style image."""
    for layer, side in _COVERAGE_CASES:
        field, stride = receptive_field("vgg19", layer)
        want = field / side
        got, error = call_safely(fn, layer, side)
        if error is not None:
            return error
        if hasattr(got, "item") and getattr(got, "numel", lambda: 1)() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return failed(f"style_coverage({layer!r}, {side}) returned {type(got).__name__}; return a number.")
        if abs(got - want) <= 1e-9 * max(1.0, want):
            continue
        mistakes = [
            (stride / side, f"that is the stride of {layer} ({stride} px) divided by the side; the receptive field "
                            f"is the whole window a unit sees, {field} px"),
            (side / field, "the fraction is upside down: receptive field divided by the side of the style image"),
            (_field_without_pools(layer) / side, "the pooling layers are missing: each 2×2 pool widens the field "
                                                 "by the current stride and doubles the stride for every later layer"),
            (_field_pools_add_nothing(layer) / side, "each 2×2 pool also widens the field, by the current stride, "
                                                     "before it doubles the stride"),
            (min(1.0, want), "do not cap the fraction at 1: a value above 1 means the unit sees more than the whole "
                             "style image (the rest is zero padding)"),
        ]
        why = next((text for value, text in mistakes if abs(got - value) <= 1e-9 * max(1.0, value)), "")
        return failed(f"style_coverage({layer!r}, {side}) returned {got:.6g}, expected {want:.6g}"
                      f" ({field} px / {side} px){': ' + why if why else ''}.",
                      hint="walk through VGG-19's layers up to this one: a 3×3 conv adds 2 × stride to the field, "
                           "a 2×2 pool adds 1 × stride and then doubles the stride; start with field 1, stride 1.")
    return passed("your fractions match VGG-19's receptive fields: relu1_1 sees 3 px, relu5_1 156 px. Halving the "
                  "style image (style_scale=0.5) doubles the fraction each layer covers, so every layer sees larger "
                  "structures of the painting.")


def _weight_cases() -> list[dict[str, float]]:
    return [
        {"relu1_1": 1.45, "relu2_1": 0.41, "relu3_1": 0.083, "relu4_1": 0.025, "relu5_1": 0.031},
        {"relu1_1": 2.0, "relu3_1": 0.5},
        {"relu2_1": 3e-5, "relu4_1": 7e-4, "relu5_1": 1e-6},
        {"relu1_1": 0.7},
    ]


def balanced_layer_weights(fn: Callable[[Mapping[str, float]], Mapping[str, float]]) -> CheckResult:
    """Exercise: ``fn({layer: initial loss})`` returns ``{layer: w_l}`` with w_l ∝ 1/L_l and Σ w_l = 1."""
    for losses in _weight_cases():
        got, error = call_safely(fn, dict(losses))
        if error is not None:
            return error
        shown = ", ".join(f"{k}: {v:g}" for k, v in losses.items())
        if not isinstance(got, Mapping):
            return failed(f"For losses {{{shown}}} your function returned {type(got).__name__}; return a dict "
                          "{layer: weight}, which stylize accepts as style_layers.",
                          hint="build it with a dict comprehension over losses.items().")
        if set(got) != set(losses):
            return failed(f"For losses {{{shown}}} the layers of your dict are {sorted(got)}; they should be exactly "
                          f"{sorted(losses)}.")
        try:
            weights = {k: float(v) for k, v in got.items()}
        except (TypeError, ValueError):
            return failed("Every weight should be a number.")
        total = sum(weights.values())
        contributions = {k: weights[k] * losses[k] for k in losses}
        equal = max(contributions.values()) - min(contributions.values()) <= 1e-6 * max(contributions.values())
        if equal and abs(total - 1) <= 1e-6:
            continue
        proportional = all(abs(weights[k] - losses[k] / sum(losses.values())) <= 1e-9 for k in losses)
        if proportional and len(losses) > 1:
            return failed(f"For losses {{{shown}}} your weights are proportional to the losses, so the largest loss "
                          "gets even more weight. Balancing needs the opposite: w_l ∝ 1/L_l.")
        if equal:
            return failed(f"For losses {{{shown}}} every layer contributes equally — good — but the weights add up to "
                          f"{total:.6g}, not 1.", hint="divide every 1/L_l by the sum of all the 1/L_l.")
        if abs(total - 1) <= 1e-6:
            worst = max(contributions, key=contributions.get)
            return failed(f"For losses {{{shown}}} the weights add up to 1, but the layers do not contribute equally: "
                          f"w·L is {contributions[worst]:.4g} for {worst} and {min(contributions.values()):.4g} for "
                          f"{min(contributions, key=contributions.get)}.",
                          hint="w_l should be proportional to 1/L_l.")
        return failed(f"For losses {{{shown}}} your weights {weights} neither add up to 1 nor make w_l · L_l equal.",
                      hint="w_l = (1/L_l) / Σ_k (1/L_k).")
    return passed("w_l = (1/L_l) / Σ_k 1/L_k: every layer starts with the same share of the style loss, and the "
                  "weights add up to 1 like Gatys' w_l = 1/5.")
