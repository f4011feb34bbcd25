"""The lesson 10 checkers accept the model answers and reject typical wrong answers, saying why."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F

import nstlib as nst

ROOT = Path(__file__).resolve().parents[1]


def _load(lesson: str):
    spec = importlib.util.spec_from_file_location(f"{lesson}_solutions", ROOT / "solutions" / f"{lesson}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODEL = _load("lesson10")


def _norm(x, dims=(2, 3), unbiased=False):
    return (x - x.mean(dims, keepdim=True)) / (x.var(dims, keepdim=True, unbiased=unbiased) + 1e-5).sqrt()


def _rows(table, style):
    return table[style][:, :, None, None]


def _stats(t, dims=(2, 3), unbiased=False):
    return t.mean(dims, keepdim=True), (t.var(dims, keepdim=True, unbiased=unbiased) + 1e-5).sqrt()


def _adain_with(dims=(2, 3), unbiased=False, power=1.0, scale=True, shift=True):
    def answer(c, s):
        mu_c, sd_c = _stats(c, dims, unbiased)
        mu_s, sd_s = _stats(s, dims, unbiased)
        out = (c - mu_c) * ((sd_s / sd_c) ** power if scale else 1.0)
        return out + mu_s if shift else out

    return answer


def _pays_off_with(**change):
    """The model answer with one value of its dict replaced by change[key](args, right_dict)."""

    def answer(*args):
        right = MODEL.pays_off(*args)
        return {**right, **{k: f(args, right) for k, f in change.items()}}

    return answer


WRONG_ANSWERS = {
    "residual_params": [
        (lambda c: 18 * c * c, "only the convolution weights"),
        (lambda c: 18 * c * c + 2 * c, "not the instance norms' γ and β"),
        (lambda c: 18 * c * c + 4 * c, "not the convolutions' biases"),
        (lambda c: 9 * c * c + 3 * c, "has two of them"),
        (lambda c: 2 * c * c + 6 * c, "kernel's area"),
        (lambda c: 24 * c, "grows like C, not C²"),
        (lambda c: 7, "the real block has"),
        (lambda c: "many", "return one number"),
    ],
    "cond_instance_norm": [
        (lambda x, s, g, b: _rows(g, torch.zeros_like(s)) * _norm(x) + _rows(b, torch.zeros_like(s)), "row 0"),
        (lambda x, s, g, b: _rows(g, torch.arange(len(s))) * _norm(x) + _rows(b, torch.arange(len(s))), "style[b]"),
        (lambda x, s, g, b: _rows(g, s) * _norm(x, (0, 2, 3)) + _rows(b, s), "batch statistics"),
        (lambda x, s, g, b: _rows(g, s) * x + _rows(b, s), "normalise it first"),
        (lambda x, s, g, b: _rows(g, s) * (_norm(x) + _rows(b, s)), "before scaling"),
        (lambda x, s, g, b: _rows(b, s) * _norm(x) + _rows(g, s), "swapped"),
        (lambda x, s, g, b: _rows(g, s) * _norm(x, unbiased=True) + _rows(b, s), "unbiased"),
        (lambda x, s, g, b: F.instance_norm(x), "differs"),
    ],
    "adain": [
        (lambda c, s: _adain_with()(s, c), "swapped the arguments"),
        (_adain_with(power=2.0), "variances where the standard deviations belong"),
        (_adain_with(scale=False), "only the means match"),
        (_adain_with(shift=False), "did not add the style's mean back"),
        (_adain_with(unbiased=True), "unbiased variance"),
        (_adain_with(dims=(0, 2, 3)), "batch statistics"),
        (_adain_with(dims=(1, 2, 3)), "over all channels"),
        (lambda c, s: c, "differs"),
    ],
    "network_invariances": [
        ({**MODEL.network_invariances, "lower contrast": "different"}, "divides the 0.5 out"),
        ({**MODEL.network_invariances, "inverted": "same"}, "not its sign"),
        ({**MODEL.network_invariances, "tinted": "same"}, "mixes the three colours"),
        ({**MODEL.network_invariances, "mirrored": "same"}, "not left–right symmetric"),
        ({**MODEL.network_invariances, "tinted": ...}, "not predicted 'tinted'"),
        ({**MODEL.network_invariances, "inverted": "maybe"}, "write 'same' or 'different'"),
        (["same", "different"], "give a dict"),
    ],
    "pays_off": [
        (_pays_off_with(steps=lambda a, r: len(a[3])), "equal quality"),
        (_pays_off_with(steps=lambda a, r: r["steps"] - 1), "steps count from 1"),
        (_pays_off_with(opt_seconds=lambda a, r: a[2][-1]), "time of the whole run"),
        (_pays_off_with(speedup=lambda a, r: a[0] / r["opt_seconds"]), "upside down"),
        (_pays_off_with(break_even=lambda a, r: a[4] / (r["opt_seconds"] - a[0])), "round up"),
        (_pays_off_with(break_even=lambda a, r: math.floor(a[4] / (r["opt_seconds"] - a[0]))), "rounded down"),
        (_pays_off_with(break_even=lambda a, r: math.ceil(a[4] / r["opt_seconds"])), "t_opt alone"),
        (_pays_off_with(break_even=lambda a, r: r["speedup"]), "speed-up per photo"),
        (_pays_off_with(break_even=lambda a, r: math.ceil(a[4] / (r["opt_seconds"] - a[0]))), "never pays"),
        (lambda *a: {"steps": 1}, "lacks"),
        (lambda *a: 42, "return a dict"),
    ],
}


def test_model_answers_pass_and_say_why() -> None:
    assert "18C² + 6C" in str(nst.check.residual_params(MODEL.residual_params))
    assert "any painting" in str(nst.check.adain(MODEL.adain))
    assert nst.check.pays_off(MODEL.pays_off).ok


def test_residual_params_matches_the_network() -> None:
    net = nst.TransferNet(width=8, n_residual=3)
    assert sum(p.numel() for p in net.residual.parameters()) == 3 * MODEL.residual_params(32)


def test_invariances_hold_on_the_notebook_kind_of_network() -> None:
    # the checker measures a random network; the claims hold for a wider one on a real photo too
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nst.TransferNet(width=8, n_residual=2).eval()
    x = nst.load_image(ROOT / "images" / "rocket.jpg", size=48)
    with torch.no_grad():
        y = net(x)
        assert (net(0.5 * x + 0.25) - y).abs().max() < 1e-2
        assert (net(1 - x) - y).abs().max() > 0.05
        assert (net(x.flip(-1)).flip(-1) - y).abs().max() > 0.05


def test_partial_predictions_are_not_a_stub() -> None:
    result = nst.check.network_invariances({"lower contrast": ..., "inverted": ..., "tinted": ..., "mirrored": ...})
    assert "not answered yet" in str(result)
    assert "yet" in str(
        nst.check.network_invariances({"lower contrast": "same", "inverted": ..., "tinted": ..., "mirrored": ...})
    )
