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


# --- wrong answers to exercise 1 (the total loss by hand) ---


def _gram(f):
    b, n, h, w = f.shape
    m = f.reshape(b, n, h * w)
    return m @ m.transpose(1, 2) / (n * h * w)


def _raw_gram(f):
    b, n, h, w = f.shape
    m = f.reshape(b, n, h * w)
    return m @ m.transpose(1, 2)


def _hw_gram(f):
    return _raw_gram(f) / (f.shape[2] * f.shape[3])


def _batch_gram(f):  # one Gram matrix of all the images' positions: mixes the images of a batch
    b, n, h, w = f.shape
    m = f.transpose(0, 1).reshape(n, b * h * w)
    return (m @ m.T / (n * h * w))[None]


def _content(F, P):
    return ((F - P) ** 2).mean(dim=(1, 2, 3)).sum()


def _style(S, A, w, gram=_gram, beta=1.0):
    return sum(beta * w[l] * ((gram(S[l]) - A[l]) ** 2).mean(dim=(1, 2)).sum() for l in S)


def _tv(x):
    return nst.tv_loss(x, p=1)


def _total(F, P, S, A, w, x, a, b, g):  # a right answer by hand, for the wrong ones below to change one thing
    return a * _content(F, P) + b * _style(S, A, w) + g * _tv(x)


def _half_sum_content(F, P, S, A, w, x, a, b, g):
    return a * 0.5 * ((F - P) ** 2).sum() + b * _style(S, A, w) + g * _tv(x)


def _summed_style(F, P, S, A, w, x, a, b, g):
    return a * _content(F, P) + b * sum(w[l] * ((_gram(S[l]) - A[l]) ** 2).sum() for l in S) + g * _tv(x)


def _gram_with(gram):
    return lambda F, P, S, A, w, x, a, b, g: a * _content(F, P) + b * _style(S, A, w, gram) + g * _tv(x)


def _beta_twice(F, P, S, A, w, x, a, b, g):
    return a * _content(F, P) + b * _style(S, A, w, beta=b) + g * _tv(x)


def _no_layer_weights(F, P, S, A, w, x, a, b, g):
    return a * _content(F, P) + b * _style(S, A, {l: 1.0 for l in S}) + g * _tv(x)


def _no_tv(F, P, S, A, w, x, a, b, g):
    return a * _content(F, P) + b * _style(S, A, w)


def _tv_with_alpha(F, P, S, A, w, x, a, b, g):
    return a * _content(F, P) + b * _style(S, A, w) + a * _tv(x)


def _clamped(F, P, S, A, w, x, a, b, g):
    return _total(F, P, S, A, w, x.clamp(0, 1), a, b, g)


def _batch_mean(F, P, S, A, w, x, a, b, g):
    style = sum(w[l] * ((_gram(S[l]) - A[l]) ** 2).mean() for l in S)
    return a * ((F - P) ** 2).mean() + b * style + g * _tv(x) / x.shape[0]


# --- answers to exercise 2 (the closure L-BFGS calls): each (x, optimizer, objective) -> closure ---


def _closure_with(body):
    """A make_closure whose closure runs ``body(x, optimizer, objective)``: one mistake (or spelling) each."""

    def make_closure(x, optimizer, objective):
        return lambda: body(x, optimizer, objective)

    return make_closure


def _right_grad_none(x, opt, f):
    x.grad = None
    loss = f(x)
    loss.backward()
    return loss


def _right_autograd_grad(x, opt, f):
    loss = f(x)
    (x.grad,) = torch.autograd.grad(loss, x)
    return loss


def _right_item(x, opt, f):  # L-BFGS only calls float() on what the closure returns
    opt.zero_grad()
    loss = f(x)
    loss.backward()
    return loss.item()


def _right_detached_of_a_clone(x, opt, f):  # x.clone() is differentiable: the gradient reaches x
    opt.zero_grad()
    loss = f(x.clone())
    loss.backward()
    return loss.detach()


def _no_zero_grad(x, opt, f):
    loss = f(x)
    loss.backward()
    return loss


def _zero_grad_after(x, opt, f):
    loss = f(x)
    loss.backward()
    opt.zero_grad()
    return loss


def _no_backward(x, opt, f):
    opt.zero_grad()
    return f(x)


def _returns_nothing(x, opt, f):
    opt.zero_grad()
    f(x).backward()


def _clamp_in_place(x, opt, f):
    opt.zero_grad()
    x.clamp_(0, 1)
    loss = f(x)
    loss.backward()
    return loss


def _clamp_under_no_grad(x, opt, f):
    opt.zero_grad()
    with torch.no_grad():
        x.clamp_(0, 1)
    loss = f(x)
    loss.backward()
    return loss


def _clamp_in_graph(x, opt, f):
    opt.zero_grad()
    loss = f(x.clamp(0, 1))
    loss.backward()
    return loss


def _step_inside(x, opt, f):
    opt.zero_grad()
    loss = f(x)
    loss.backward()
    opt.step(lambda: loss)
    return loss


def _detached_copy(x, opt, f):
    opt.zero_grad()
    loss = f(x.detach().clone().requires_grad_(True))
    loss.backward()
    return loss


def _without_graph(x, opt, f):
    opt.zero_grad()
    with torch.no_grad():
        loss = f(x)
    loss.backward()
    return loss


def _twice(x, opt, f):
    opt.zero_grad()
    f(x).backward()
    return f(x)


def _item_before_backward(x, opt, f):
    opt.zero_grad()
    loss = f(x).item()
    loss.backward()
    return loss


def _grad_zero_in_place(x, opt, f):
    x.grad.zero_()
    loss = f(x)
    loss.backward()
    return loss


def _loss_made_once(x, optimizer, objective):
    loss = objective(x)

    def closure():
        optimizer.zero_grad()
        loss.backward(retain_graph=True)
        return loss

    return closure


def _returns_the_loss(x, optimizer, objective):
    return lesson05.make_closure(x, optimizer, objective)()


# --- wrong answers to exercise 4 (features by hooks) ---


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


# --- wrong answers to exercise 6 (two seeds) ---


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
    "total_loss_by_hand": [
        (_half_sum_content, "Gatys' ½ Σ (F − P)²"),
        (_summed_style, "sums (G − A)²"),
        (_gram_with(_raw_gram), "raw Gram matrices"),
        (_gram_with(_hw_gram), "by M_l = H·W only"),
        (_gram_with(_batch_gram), "one Gram matrix of the whole batch"),
        (_beta_twice, "applies β twice"),
        (_no_layer_weights, "ignores the layer weights"),
        (_no_tv, "has no TV term"),
        (_tv_with_alpha, "weights the TV term with α"),
        (_clamped, "clamps the image inside the loss"),
        (_batch_mean, "averages the images' losses"),
        (lambda *args: _total(*args).item(), "Python float"),
        (lambda *args: _total(*args).detach(), "detached"),
        (lambda F, P, S, A, w, x, a, b, g: a * ((F - P) ** 2).mean(dim=(1, 2, 3)) + b * _style(S, A, w), "one number"),
    ],
    "make_closure": [
        (_closure_with(_no_zero_grad), "without optimizer.zero_grad() at the start"),
        (_closure_with(_zero_grad_after), "clears the gradient after backward()"),
        (_closure_with(_no_backward), "never calls backward() on the loss"),
        (_closure_with(_returns_nothing), "returns nothing (None)"),
        (_closure_with(_clamp_in_place), "torch refuses an in-place change of a leaf"),
        (_closure_with(_clamp_under_no_grad), "torch's default L-BFGS (max_iter=20"),
        (_closure_with(_clamp_under_no_grad), "your closure clamps x"),
        (_closure_with(_clamp_in_graph), "clamps x inside the graph"),
        (_closure_with(_step_inside), "your closure calls optimizer.step"),
        (_closure_with(_detached_copy), "the loss of a copy of x"),
        (_closure_with(_without_graph), "computes the loss without a graph"),
        (_closure_with(_twice), "evaluates the objective 2 times per call"),
        (_closure_with(_item_before_backward), "calls backward() on a Python number"),
        (_closure_with(_grad_zero_in_place), "x.grad is None until the first backward()"),
        (_loss_made_once, "computed the loss once, in make_closure"),
        (_returns_the_loss, "make_closure returned Tensor, a loss"),
    ],
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


def test_total_loss_by_hand_accepts_other_right_spellings() -> None:
    assert nst.check.total_loss_by_hand(_total).ok
    assert nst.check.total_loss_by_hand(lesson05.total_loss_by_hand).ok


def test_total_loss_by_hand_model_answer_is_the_lessons_objective() -> None:
    """On VGG-shaped features the model answer equals nst.stylize's pieces, term by term."""
    g = torch.Generator().manual_seed(0)
    F_, P = torch.randn(1, 8, 4, 4, generator=g), torch.randn(1, 8, 4, 4, generator=g)
    S = {"relu1_1": torch.rand(1, 4, 8, 8, generator=g), "relu2_1": torch.rand(1, 8, 4, 4, generator=g)}
    A = {l: nst.gram_matrix(torch.rand(f.shape, generator=g), normalize="chw") for l, f in S.items()}
    w, x = {"relu1_1": 0.25, "relu2_1": 0.75}, torch.rand(1, 3, 16, 16, generator=g)
    got = lesson05.total_loss_by_hand(F_, P, S, A, w, x, 5.0, 2500.0, 10.0)
    assert_near(got, _total(F_, P, S, A, w, x, 5.0, 2500.0, 10.0), rtol=1e-6)


def test_total_loss_by_hand_works_is_a_silent_yes_or_no(capsys) -> None:
    works = nst.check.total_loss_by_hand.works

    def stub(F, P, S, A, w, x, alpha, beta, gamma):
        raise NotImplementedError  # your code here

    assert works(lesson05.total_loss_by_hand) is True
    assert works(stub) is False and works(None) is False and works(...) is False
    assert works(_no_tv) is False and works(lambda *args: 1 / 0) is False
    assert capsys.readouterr().out == ""


def test_make_closure_accepts_other_right_spellings() -> None:
    assert nst.check.make_closure(lesson05.make_closure).ok
    for body in (_right_grad_none, _right_autograd_grad, _right_item, _right_detached_of_a_clone):
        result = nst.check.make_closure(_closure_with(body))
        assert result.ok, (body.__name__, str(result))


def test_make_closure_stubs_are_not_answered_and_works_is_silent(capsys) -> None:
    works = nst.check.make_closure.works

    def stub(x, optimizer, objective):
        raise NotImplementedError  # your code here

    def inner_stub(x, optimizer, objective):  # the notebook's template: the closure's body not written yet
        def closure():
            raise NotImplementedError  # your code here

        return closure

    for answer in (stub, inner_stub, None, ...):
        result = nst.check.make_closure(answer)
        assert not result.ok and "not answered yet" in str(result), str(result)
    assert works(lesson05.make_closure) is True and works(_closure_with(_right_item)) is True
    assert works(stub) is False and works(inner_stub) is False and works(None) is False
    assert works(_closure_with(_no_zero_grad)) is False and works(lambda *args: 1 / 0) is False
    assert capsys.readouterr().out == ""


def _lbfgs_path(body, max_iter: int, steps: int) -> tuple[torch.Tensor, list[float]]:
    """The checker's tiny objective minimised by torch's L-BFGS with the closure ``body``, x clamped after each step."""
    from nstlib.course.check._closure import _START, _loss

    x = _START.clone().requires_grad_(True)
    settings = dict(max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0) if max_iter == 1 else {}
    opt = torch.optim.LBFGS([x], lr=1, **settings)
    losses = []
    for _ in range(steps):
        loss = opt.step(lambda: body(x, opt, _loss))
        with torch.no_grad():
            x.clamp_(0, 1)
            losses.append(float(loss))
    return x.detach(), losses


def test_make_closure_diagnoses_only_what_changes_torchs_lbfgs() -> None:
    """The measurements behind the checker's list (nstlib/course/check/_closure.py): what L-BFGS does not mind, and
    what it does, in the lesson's loop (max_iter=1) and with torch's defaults (max_iter=20)."""
    for max_iter, steps in ((1, 6), (20, 2)):
        right = _lbfgs_path(_right_grad_none, max_iter, steps)
        for harmless in (_right_item, _right_detached_of_a_clone):  # float() of the returned loss: bit for bit
            got = _lbfgs_path(harmless, max_iter, steps)
            assert torch.equal(got[0], right[0]) and got[1] == right[1], harmless.__name__
        for wrong in (_no_zero_grad, _zero_grad_after, _no_backward, _clamp_in_graph, _detached_copy):
            assert not torch.equal(_lbfgs_path(wrong, max_iter, steps)[0], right[0]), (wrong.__name__, max_iter)
    # a clamp inside the closure: a no-op in the lesson's loop, which has just clamped; not with torch's defaults
    assert torch.equal(_lbfgs_path(_clamp_under_no_grad, 1, 6)[0], _lbfgs_path(_right_grad_none, 1, 6)[0])
    assert not torch.equal(_lbfgs_path(_clamp_under_no_grad, 20, 2)[0], _lbfgs_path(_right_grad_none, 20, 2)[0])
    # the premise of the clamp-in-the-graph message: clamp passes no gradient to a pixel at 0 or 1
    pixel = torch.tensor([0.0, 0.5, 1.0], requires_grad=True)
    pixel.clamp(0, 1).sum().backward()
    assert pixel.grad.tolist() == [0.0, 1.0, 0.0]


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
