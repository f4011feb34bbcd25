"""Runs when things go wrong: bad tensors, tiny or huge images, NaN mid-run, Ctrl-C, out of memory.

Everything runs on the CPU with seeded random weights at a few dozen pixels; failures are
provoked by monkeypatching the losses (NaN, out-of-memory) or the free memory, never for real.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import nstlib as nst
from nstlib.loss import objective as loss_objective
from nstlib.net import vgg as features
from nstlib.optim import schedule
from nstlib.optim.loop import optimize_pixels
from nstlib.optim.memory import estimate_memory

QUICK = dict(weights="random", device="cpu", progress=False)
SHALLOW = dict(content_layers=("relu2_2",), style_layers=("relu1_1", "relu2_1"))  # where depth does not matter


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """At these tiny sizes one thread is as fast, and on a shared, busy CPU two OpenMP threads were
    measured ~10x slower (spinning while waiting for each other); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _quadratic(target: torch.Tensor, nan_at: set[int] | None = None, from_call: int | None = None):
    """Objective (x - target)² that returns NaN at the given evaluation numbers (1-based)."""
    calls = {"n": 0}

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        loss = ((x - target) ** 2).flatten(1).sum(1)
        if (nan_at and calls["n"] in nan_at) or (from_call is not None and calls["n"] >= from_call):
            loss = loss * float("nan")
        return {"content:pixels": loss}

    return objective, calls


# --------------------------------------------------------------------------- tensors handed to the API


@pytest.mark.parametrize("which", ["content", "style", "init"])
def test_non_finite_inputs_to_stylize(which: str) -> None:
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    bad = torch.rand(1, 3, 32, 32)
    bad[0, 0, 0, 0] = float("nan")
    kwargs = {"content": content, "style": style, **({which: bad})}
    with pytest.raises(nst.InputError, match=rf"{which} contains 1 NaN or infinite values"):
        nst.stylize(kwargs.pop("content"), kwargs.pop("style"), steps=1, **kwargs, **SHALLOW, **QUICK)


def test_non_finite_input_to_reconstruct_and_the_network() -> None:
    bad = torch.full((1, 3, 32, 32), float("inf"))
    with pytest.raises(nst.InputError, match="NaN or infinite"):
        nst.reconstruct(bad, "relu1_1", steps=1, **QUICK)
    with pytest.raises(nst.InputError, match="NaN or infinite"):
        nst.VGGFeatures(layers=("relu1_1",), weights="random", device="cpu")(bad)


# --------------------------------------------------------------------------- too small, odd shapes, huge


def test_content_too_small_for_the_deepest_layer_says_the_minimum() -> None:
    with pytest.raises(nst.ImageTooSmallError, match=r"8x12 px, but relu5_1 needs at least 16x16 px") as info:
        nst.stylize(torch.rand(1, 3, 8, 12), torch.rand(1, 3, 32, 32), steps=1, **QUICK)
    assert "larger image" in str(info.value) and isinstance(info.value, nst.InputError)


@pytest.mark.parametrize("layer, minimum", [("relu3_1", 4), ("pool3", 8), ("relu5_1", 16), ("pool5", 32)])
def test_minimum_size_per_layer(layer: str, minimum: int) -> None:
    vgg = nst.VGGFeatures(layers=(layer,), weights="random", device="cpu")
    assert vgg.min_size == minimum
    out = vgg(torch.rand(1, 3, minimum, minimum + 3))[layer]
    assert min(out.shape[-2:]) >= 1  # the minimum really works...
    with pytest.raises(nst.ImageTooSmallError, match=rf"needs at least {minimum}x{minimum} px"):
        vgg(torch.rand(1, 3, minimum - 1, 64))  # ...and one pixel less is refused with the number


def test_style_squeezed_below_the_minimum_is_refused_clearly() -> None:
    # A 10x200 strip resized to the content's long side (48) is 2 px tall: too small for relu5_1.
    with pytest.raises(nst.ImageTooSmallError, match="needs at least 16x16 px"):
        nst.stylize(torch.rand(1, 3, 32, 48), torch.rand(1, 3, 10, 200), steps=1, **QUICK)


@pytest.mark.parametrize("content_hw, style_hw", [((24, 40), (60, 30)), ((48, 20), (33, 33)), ((32, 32), (90, 160))])
def test_content_and_style_of_different_sizes_and_aspect_ratios(content_hw: tuple, style_hw: tuple) -> None:
    gen = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, *content_hw, generator=gen), torch.rand(1, 3, *style_hw, generator=gen)
    result = nst.stylize(content, style, steps=2, **QUICK)
    assert result.image.shape == content.shape and result.steps_done == 2
    assert torch.isfinite(result.image).all() and 0 <= result.image.min() and result.image.max() <= 1


def test_huge_style_is_resized_before_it_reaches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, ...]] = []
    forward = features.VGGFeatures.forward

    def spy(self: features.VGGFeatures, image: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(tuple(image.shape[-2:]))
        return forward(self, image)

    monkeypatch.setattr(features.VGGFeatures, "forward", spy)
    result = nst.stylize(torch.rand(1, 3, 24, 32), torch.rand(1, 3, 1200, 1600), steps=1, **QUICK)
    assert result.image.shape == (1, 3, 24, 32)
    assert seen and max(max(s) for s in seen) == 32  # the 1600 px style went in at 32 px


def test_run_that_cannot_fit_is_refused_before_it_starts_with_a_size_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    free = 300 * 2**20
    monkeypatch.setattr(schedule, "available_memory", lambda device: free)
    built: list[int] = []
    monkeypatch.setattr(features.VGGFeatures, "__init__", lambda *a, **k: built.append(1) or None)
    content = torch.rand(1, 3, 600, 800)
    with pytest.raises(nst.ResourceError, match=r"needs about .* but only 0\.29 GiB are free") as info:
        nst.stylize(content, torch.rand(1, 3, 64, 64), steps=1, **QUICK)
    assert built == []  # refused before the network was even built
    message = str(info.value)
    size = int(message.split("size=")[1].split(")")[0])
    assert f"--size {size} on the command line" in message
    assert 16 <= size < 800
    assert estimate_memory((round(size * 0.75), size)).total <= free  # the suggested size fits...
    assert estimate_memory((round((size + 32) * 0.75), size + 32)).total > free  # ...and is about the largest


# --------------------------------------------------------------------------- NaN / Inf during optimisation


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_nan_mid_run_goes_back_to_the_last_good_image_and_lowers_the_step(optimizer: str) -> None:
    gen = torch.Generator().manual_seed(1)
    target, start = torch.rand(1, 3, 8, 8, generator=gen), torch.rand(1, 3, 8, 8, generator=gen)
    objective, calls = _quadratic(target, nan_at={4})
    images: dict[int, torch.Tensor] = {}
    lr = 0.5 if optimizer == "lbfgs" else 0.05
    with pytest.warns(
        RuntimeWarning,
        match=r"NaN/Inf at step 4: went back to the best image so far and halved "
        rf"the step size to lr={lr / 2:g}",
    ):
        result = optimize_pixels(
            start,
            objective,
            steps=8,
            optimizer=optimizer,
            lr=lr,
            progress=False,
            callback=lambda p: images.__setitem__(p.step, p.image.clone()),
        )
    assert result.recoveries == 1 and result.steps_done == 8 and calls["n"] == 9
    assert result.settings["lr"] == lr / 2
    assert len(result.history["total"]) == 8 and all(math.isfinite(v) for v in result.history["total"])
    assert torch.equal(images[4], images[3])  # step 4 re-evaluated the last good image (step 3's)
    assert torch.isfinite(result.image).all()
    losses = result.history["total"]
    assert losses[-1] < losses[0]  # and the run went on improving


def test_nan_that_never_goes_away_gives_up_and_keeps_the_best_image() -> None:
    gen = torch.Generator().manual_seed(2)
    target, start = torch.rand(1, 3, 8, 8, generator=gen), torch.rand(1, 3, 8, 8, generator=gen)
    objective, _ = _quadratic(target, from_call=4)
    images: dict[int, torch.Tensor] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = optimize_pixels(
            start,
            objective,
            steps=20,
            optimizer="adam",
            progress=False,
            callback=lambda p: images.__setitem__(p.step, p.image.clone()),
        )
    assert any("Giving up after repeated NaN/Inf" in str(w.message) for w in caught)
    assert result.steps_done == 3 and len(result.history["total"]) == 3 and not result.interrupted
    best = min(range(3), key=lambda i: result.history["total"][i]) + 1
    assert torch.equal(result.image, images[best])


def test_nan_during_stylize(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    tv = loss_objective.tv_loss

    def flaky_tv(image: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls["n"] += 1
        value = tv(image, *args, **kwargs)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(loss_objective, "tv_loss", flaky_tv)
    with pytest.warns(RuntimeWarning, match="NaN/Inf at step 3"):
        result = nst.stylize(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), steps=5, **SHALLOW, **QUICK)
    assert result.recoveries == 1 and result.steps_done == 5
    assert all(math.isfinite(v) for v in result.history["total"]) and torch.isfinite(result.image).all()


# --------------------------------------------------------------------------- Ctrl-C / the kernel's stop button


def _interrupt_at(step: int, seen: dict[int, torch.Tensor]):
    def callback(progress: nst.Progress) -> None:
        seen[progress.step] = progress.image.clone()
        if progress.step == step:
            raise KeyboardInterrupt

    return callback


def test_interrupt_returns_the_best_image_and_its_history() -> None:
    gen = torch.Generator().manual_seed(3)
    target, start = torch.rand(1, 3, 8, 8, generator=gen), torch.rand(1, 3, 8, 8, generator=gen)
    objective, _ = _quadratic(target)
    seen: dict[int, torch.Tensor] = {}
    with pytest.warns(RuntimeWarning, match="Interrupted after 5 of 50 steps: returning the best image"):
        result = optimize_pixels(
            start, objective, steps=50, optimizer="adam", progress=False, callback=_interrupt_at(5, seen)
        )
    assert result.interrupted and result.steps_done == 5 and len(result.history["total"]) == 5
    best = min(range(5), key=lambda i: result.history["total"][i]) + 1
    assert torch.equal(result.image, seen[best])
    assert "interrupted" in repr(result)


def test_interrupt_inside_the_loss_computation_loses_nothing() -> None:
    gen = torch.Generator().manual_seed(4)
    target, start = torch.rand(1, 3, 8, 8, generator=gen), torch.rand(1, 3, 8, 8, generator=gen)
    objective, calls = _quadratic(target)

    def interrupted(x: torch.Tensor) -> dict[str, torch.Tensor]:
        if calls["n"] == 3:  # the 4th evaluation: Ctrl-C arrives mid-forward
            raise KeyboardInterrupt
        return objective(x)

    with pytest.warns(RuntimeWarning, match="Interrupted after 3 of"):
        result = optimize_pixels(start, interrupted, steps=10, progress=False)
    assert result.interrupted and result.steps_done == 3 and len(result.history["total"]) == 3
    assert torch.isfinite(result.image).all()


def test_interrupt_during_stylize() -> None:
    seen: dict[int, torch.Tensor] = {}
    with pytest.warns(RuntimeWarning, match="Interrupted after 3"):
        result = nst.stylize(
            torch.rand(1, 3, 32, 32),
            torch.rand(1, 3, 32, 32),
            steps=20,
            callback=_interrupt_at(3, seen),
            **SHALLOW,
            **QUICK,
        )
    assert result.interrupted and result.steps_done == 3 and len(result.history["total"]) == 3
    best = min(range(3), key=lambda i: result.history["total"][i]) + 1
    assert torch.equal(result.image, seen[best]) and result.image.shape == (1, 3, 32, 32)


# --------------------------------------------------------------------------- out of memory


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 7.79 GiB total capacity)"),
        RuntimeError(
            "MPS backend out of memory (MPS allocated: 8.00 GB, other allocations: 1.2 GB, max allowed: "
            "9.07 GB). Tried to allocate 256.00 MB on private pool."
        ),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to "
            "allocate 17592186044416 bytes. Error code 12 (Cannot allocate memory)"
        ),
        MemoryError(),
    ],
    ids=["cuda", "mps", "cpu", "python"],
)
def test_out_of_memory_says_what_size_would_fit(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def exhausted(*args: object, **kwargs: object) -> torch.Tensor:
        raise error

    monkeypatch.setattr(loss_objective, "content_loss", exhausted)
    with pytest.raises(
        nst.ResourceError,
        match=r"Out of memory on cpu at 48x64 px\. Try a smaller image "
        r"\(e\.g\. size=(\d+)\)",
    ) as info:
        nst.stylize(torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64), steps=3, **QUICK)
    size = int(str(info.value).split("size=")[1].split(")")[0])
    assert 16 <= size < 64  # smaller than what failed, and still big enough for relu5_1


def test_other_runtime_errors_are_not_disguised_as_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> torch.Tensor:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(loss_objective, "content_loss", broken)
    with pytest.raises(RuntimeError, match="cannot be multiplied") as info:
        nst.stylize(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), steps=1, **SHALLOW, **QUICK)
    assert not isinstance(info.value, nst.NSTError)
