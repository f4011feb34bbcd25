"""Checker for lesson 05 (style transfer), exercise 4: features read by hooks, despite in-place ReLUs.

Oracle: a tiny torchvision-like network run module by module, keeping a copy of each tapped output. The checker
also recognises the usual wrong answers (the very tensor an in-place ReLU then overwrites, hooks left registered, a
model changed, features cut off from the image's graph) and says which one it saw.
:mod:`nstlib.course.check.transfer` exports it with the lesson's other checkers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, passed, same

__all__ = ["hooked_features"]


# --- exercise 4: features by hooks, despite in-place ReLUs -------------------------------------------------------

_TAPS = {"conv1_1": 0, "relu1_1": 1, "conv1_2": 2, "pool1": 4, "conv2_1": 5}


def _tiny_net(seed: int) -> nn.Sequential:
    """A torchvision-like VGG in miniature: its ReLUs are in-place, as torchvision's are."""
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(inplace=True),
    )
    g = generator(seed)
    with torch.no_grad():
        for module in net:
            if isinstance(module, nn.Conv2d):
                assert module.bias is not None  # nn.Conv2d has a bias unless built with bias=False
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * 0.4)
                module.bias.copy_(torch.randn(module.bias.shape, generator=g) * 0.1)
    return net.eval().requires_grad_(False)


def _oracle(net: nn.Sequential, taps: Mapping[str, int], image: torch.Tensor) -> dict[str, torch.Tensor]:
    wanted = {index: name for name, index in taps.items()}
    out, x = {}, image
    for index, module in enumerate(net):
        x = module(x.clone())  # a copy per module, so no in-place ReLU can touch what we keep
        if index in wanted:
            out[wanted[index]] = x.clone()
    return out


def _model_state(net: nn.Sequential) -> tuple:
    return tuple((len(m._forward_hooks), len(m._forward_pre_hooks), getattr(m, "inplace", None)) for m in net)


@exercise(
    lesson=5,
    number=4,
    title="features by hooks, despite in-place ReLUs",
    level="a function",
    hint="A forward hook is handed the module's output tensor itself, not a copy, and the in-place ReLU that "
    "runs next writes into that very tensor. Keep a copy that is still connected to the image (no "
    "detach), and remove every hook when you are done (register_forward_hook returns a handle).",
)
def hooked_features(
    fn: Callable[[nn.Sequential, Mapping[str, int], torch.Tensor], Mapping[str, torch.Tensor]],
) -> CheckResult:
    """Exercise: ``fn(model, taps, image)`` returns ``{name: output of model[taps[name]]}`` for a torchvision-style
    ``nn.Sequential`` with in-place ReLUs: the true pre-activation ``conv`` outputs, still differentiable, and the
    model left as it was (no hooks, its ReLUs still in-place)."""
    for seed, size in ((0, 8), (1, 10)):
        net = _tiny_net(seed)
        image = torch.rand(1, 3, size, size, generator=generator(10 + seed))
        want = _oracle(net, _TAPS, image)
        before = _model_state(net)
        x = image.clone().requires_grad_(True)
        got, error = call_safely(fn, net, dict(_TAPS), x)
        if error is not None:
            return error
        after = _model_state(net)
        if any(a[0] > b[0] or a[1] > b[1] for a, b in zip(after, before)):
            return failed(
                "your hooks are still registered on the model after your function returned: every later "
                "forward pass (an optimiser calls it hundreds of times) runs them again and keeps writing "
                "into an old dict. register_forward_hook returns a handle: call handle.remove() (in a "
                "finally: block, so an error cannot leave them behind)."
            )
        if any(a[2] != b[2] for a, b in zip(after, before)):
            return failed(
                "you changed the caller's model: its ReLUs are no longer in-place. That fixes the symptom "
                "but alters a network someone else owns (and every later use of it); leave the model as "
                "it was and keep copies of the outputs instead."
            )
        if not isinstance(got, Mapping):
            return failed(f"your function returned {type(got).__name__}; return a dict {{name: tensor}}.")
        if set(got) != set(_TAPS):
            return failed(f"your dict has the keys {sorted(got)}; it should have exactly {sorted(_TAPS)}.")
        for name, index in _TAPS.items():
            value = got[name]
            if not isinstance(value, torch.Tensor) or value.shape != want[name].shape:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                return failed(
                    f"{name} should be the output of model[{index}], of shape {tuple(want[name].shape)}; "
                    f"you gave {shape}."
                )
            if same(value, want[name]):
                continue
            if name.startswith("conv") and same(value, want[name].relu()):
                return failed(
                    f"your {name} has no negative values: it is the rectified output. The ReLU after "
                    f"model[{index}] is in-place (torchvision's are), so it overwrote the very tensor your "
                    "hook kept. Keep a copy (output.clone()) instead of the tensor itself."
                )
            return failed(
                f"your {name} differs from the output of model[{index}] (largest difference "
                f"{(value.detach() - want[name]).abs().max().item():.3g}): check which module each name "
                "is read after."
            )
        conv = got["conv1_2"]
        if conv.grad_fn is None:
            return failed(
                "your features are cut off from the image (no grad_fn): .detach(), .data or "
                "torch.no_grad() keep the values but not the graph, so a loss on them could not move the "
                "pixels. .clone() keeps both."
            )
        (grad,) = torch.autograd.grad(conv.square().sum(), x)
        ref = image.clone().requires_grad_(True)
        (want_grad,) = torch.autograd.grad(_oracle(net, _TAPS, ref)["conv1_2"].square().sum(), ref)
        if not same(grad, want_grad, atol=1e-6):
            return failed(
                "the values are right but the gradient through your conv1_2 is not: something between the "
                "image and your copy does not go through the model's own modules."
            )
    return passed(
        "pre-activation conv outputs, differentiable, and the model untouched. That is the third design "
        "next to the Algorithmic Art lecture slides' loss modules and nstlib's VGGFeatures "
        "(torchvision's create_feature_extractor works this way), and the in-place ReLU is the trap all three must "
        "step around."
    )
