"""The lesson-05 checkers accept the model answers and name the usual wrong ones (WRONG_ANSWERS, run by
tests/test_exercises.py); a few extra properties of the checkers' own oracles."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from oracle import assert_near
from torch import nn

import nstlib as nst

_SPEC = importlib.util.spec_from_file_location(
    "lesson05_solutions", Path(__file__).resolve().parents[1] / "solutions" / "lesson05.py"
)
lesson05 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lesson05)


# --- wrong answers to exercise 2 (features by hooks) ---


def _hooks_without_copy(model, taps, image):
    out, handles = {}, []
    for name, index in taps.items():
        handles.append(model[index].register_forward_hook(lambda m, i, o, name=name: out.__setitem__(name, o)))
    model(image)
    for handle in handles:
        handle.remove()
    return out


def _hooks_detached(model, taps, image):
    out, handles = {}, []
    for name, index in taps.items():
        handles.append(
            model[index].register_forward_hook(lambda m, i, o, name=name: out.__setitem__(name, o.detach().clone()))
        )
    model(image)
    for handle in handles:
        handle.remove()
    return out


def _hooks_left_behind(model, taps, image):
    out = {}
    for name, index in taps.items():
        model[index].register_forward_hook(lambda m, i, o, name=name: out.__setitem__(name, o.clone()))
    model(image)
    return out


def _relus_switched_off(model, taps, image):
    for module in model:
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return lesson05.hooked_features(model, taps, image)


def _loop_without_copy(model, taps, image):
    wanted = {index: name for name, index in taps.items()}
    out, x = {}, image
    for index, module in enumerate(model):
        x = module(x)
        if index in wanted:
            out[wanted[index]] = x
    return out


# --- wrong answers to exercise 4 (two seeds) ---


def _layout(a, b):
    a, b = (F.adaptive_avg_pool2d(nst.luminance(x)[:, :1], 4).flatten() for x in (a, b))
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm() + 1e-12))


def _same_seed(content, style, **options):
    runs = [nst.stylize(content, style, init="noise", seed=0, **options) for _ in range(2)]
    return {
        "losses": [min(r.history["total"]) for r in runs],
        "gap": float((runs[0].image - runs[1].image).abs().mean()),
        "layout": _layout(runs[0].image, runs[1].image),
    }


def _start_losses(content, style, **options):
    answer = lesson05.seed_experiment(content, style, **options)
    runs = [nst.stylize(content, style, init="noise", seed=s, **options) for s in (0, 1)]
    return {**answer, "losses": [r.history["total"][0] for r in runs]}


def _gap_to_photo(content, style, **options):
    answer = lesson05.seed_experiment(content, style, **options)
    x0 = nst.stylize(content, style, init="noise", seed=0, **options).image
    return {**answer, "gap": float((x0 - content).abs().mean())}


def _layout_to_photo(content, style, **options):
    answer = lesson05.seed_experiment(content, style, **options)
    x0 = nst.stylize(content, style, init="noise", seed=0, **options).image
    return {**answer, "layout": _layout(x0, content)}


WRONG_ANSWERS = {
    "gatys_ratio_at": [
        (lambda ratio, old, new: ratio, "you kept the ratio"),
        (lambda ratio, old, new: ratio * old / new, "the factor is squared"),
        (lambda ratio, old, new: ratio * (new / old) ** 2, "upside down"),
        (lambda ratio, old, new: ratio * (old / new) ** 4, "you counted M twice"),
        (lambda ratio, old, new: "smaller", "return a number"),
    ],
    "hooked_features": [
        (_hooks_without_copy, "has no negative values"),
        (_loop_without_copy, "has no negative values"),
        (_hooks_detached, "cut off from the image"),
        (_hooks_left_behind, "still registered"),
        (_relus_switched_off, "you changed the caller's model"),
        (lambda model, taps, image: [model(image)], "return a dict"),
        (lambda model, taps, image: {"relu1_1": model[:2](image)}, "it should have exactly"),
    ],
    "loss_scale": [
        (
            {"lbfgs": "different", "adam": "different", "gradient descent": "different", "history factor": 4},
            "lbfgs: same, not different",
        ),
        (
            {"lbfgs": "same", "adam": "same", "gradient descent": "different", "history factor": 4},
            "adam: different, not same",
        ),
        (
            {"lbfgs": "same", "adam": "same", "gradient descent": "different", "history factor": 4},
            "Adam with ε/4",
        ),
        (
            {"lbfgs": "same", "adam": "different", "gradient descent": "same", "history factor": 1},
            "history records the weighted terms",
        ),
        (
            {"lbfgs": "same", "adam": "different", "gradient descent": "same", "history factor": 4},
            "four times the loss, four times every step",
        ),
        ({"lbfgs": "same", "adam": "different", "history factor": 4}, "leaves out 'gradient descent'"),
        ({"lbfgs": "yes", "adam": "different", "gradient descent": "different", "history factor": 4}, "say 'same' or"),
        ("same", "answer with a dict"),
    ],
    "seed_experiment": [
        (_same_seed, "both runs started from the same image"),
        (_start_losses, "losses at step 1"),
        (_gap_to_photo, "your gap compares seed 0's result with the photo"),
        (_layout_to_photo, "your layout compares seed 0's result with the photo"),
        (lambda content, style, **options: (1.0, 2.0), "return a dict"),
    ],
}


def test_gatys_ratio_at_model_answer_on_the_lessons_numbers() -> None:
    assert lesson05.gatys_ratio_at(1e-3, 512, 1024) == 2.5e-4
    assert lesson05.gatys_ratio_at(1e-3, 512, 512) == 1e-3


def test_hooked_features_reads_pre_activations_like_vggfeatures() -> None:
    """The model answer on a real torchvision-layout VGG (in-place ReLUs) gives VGGFeatures' conv outputs."""
    import torchvision

    from nstlib.weights.sources import load_vgg_state_dict

    cnn = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])[:9]  # vgg16().features, no classifier
    cnn.load_state_dict(
        {
            k.removeprefix("features."): v
            for k, v in load_vgg_state_dict("vgg16", "random:0").items()
            if int(k.split(".")[1]) < 9
        }
    )
    cnn.eval().requires_grad_(False)
    assert any(isinstance(m, nn.ReLU) and m.inplace for m in cnn)
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    vgg = nst.VGGFeatures("vgg16", layers=("conv1_2", "conv2_2"), weights="random:0", device="cpu")
    x = vgg.convention.apply(image)
    got = lesson05.hooked_features(cnn, {"conv1_2": 2, "conv2_2": 7}, x)
    want = vgg(image)
    for name in ("conv1_2", "conv2_2"):
        assert got[name].min() < 0
        assert_near(got[name], want[name], msg=name)
    assert not any(m._forward_hooks for m in cnn)


def test_loss_scale_truth_is_measured_not_assumed() -> None:
    from nstlib.course.check.transfer import _measured

    measured = _measured()
    assert measured["lbfgs"] == 0.0  # a power of two: bit for bit
    assert 0.0 < measured["adam"] <= 1e-4  # ×4 on the loss is ε/4: the last digits change, nothing visible
    assert measured["sgd"] > 0.01


def test_loss_scale_demo_is_in_the_lessons_regime() -> None:
    """Like an image's pixels: each gradient small (so Adam's ε is not lost in rounding), their sum above 1 (so
    L-BFGS's first step lr·g/Σ|g| is normalised in both runs)."""
    from nstlib.course.check import transfer

    g = torch.Generator().manual_seed(5)
    a = torch.randn(1024, 768, generator=g) / 768**0.5
    b = torch.randn(1024, generator=g)
    x = torch.rand(768, generator=g).requires_grad_(True)
    (grad,) = torch.autograd.grad(8.0 * ((a @ x - b).square().mean() + 0.1 * x.abs().mean()), x)
    assert grad.abs().sum() > 1.0
    assert grad.abs().median() * torch.finfo(torch.float32).eps < 1e-8  # ε survives next to a typical √v̂
    assert torch.equal(x.detach(), transfer._demo_runs("lbfgs", 1.0, steps=0))  # the demo's own start


def test_loss_scale_accepts_exactly_the_measured_truth() -> None:
    right = {"lbfgs": "same", "adam": "different", "gradient descent": "different", "history factor": 4}
    result = nst.check.loss_scale(right)
    assert result.ok and "ε/4" in str(result)
    nearly = {**right, "adam": "same"}  # "the same up to ε" is not the same image
    result = nst.check.loss_scale(nearly)
    assert not result.ok and "m̂/(√v̂ + ε/c)" in str(result)
    assert "not answered yet" in str(nst.check.loss_scale({k: ... for k in right}))  # the template, untouched


def test_seed_experiment_model_answer_sees_two_different_results() -> None:
    content = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    style = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out = lesson05.seed_experiment(
        content,
        style,
        weights="random:0",
        arch="vgg16",
        steps=2,
        progress=False,
        content_layers="relu1_2",
        style_layers="relu1_1",
        device="cpu",
    )
    assert out["gap"] > 0 and len(out["losses"]) == 2 and -1 <= out["layout"] <= 1
