"""The speed paths keep the maths: channels_last, autocast with float32 Gram matrices, batched
variants, coarse-to-fine, and the memory estimate stylize checks against."""

from __future__ import annotations

import os

import pytest
import torch
import torchvision

import nstlib as nst
from nstlib.algorithms import transfer
from nstlib.optim import memory, schedule
from nstlib.optim.loop import optimize_pixels
from nstlib.weights.sources import load_vgg_state_dict

LAYERS = nst.GATYS_STYLE_LAYERS + (nst.GATYS_CONTENT_LAYER,)
FAST = dict(weights="random", device="cpu", progress=False)


def test_channels_last_features_equal_torchvision() -> None:
    image = torch.rand(2, 3, 36, 44, generator=torch.Generator().manual_seed(1))
    fast = nst.VGGFeatures(layers=LAYERS, weights="random:3", device="cpu", channels_last=True)
    plain = nst.VGGFeatures(layers=LAYERS, weights="random:3", device="cpu")
    with torch.device("meta"):
        reference = torchvision.models.vgg19(weights=None).features
    reference = reference.to_empty(device="cpu")
    reference.load_state_dict(
        {k.removeprefix("features."): v for k, v in load_vgg_state_dict("vgg19", "random:3").items()}
    )
    mean, std = torch.tensor(nst.IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(nst.IMAGENET_STD).view(1, 3, 1, 1)
    got, same = fast(image), plain(image)
    with torch.no_grad():
        x, wanted = (image - mean) / std, {}
        for index, module in enumerate(reference.eval()):
            x = module(x)
            wanted[index] = x.clone()
    for name in LAYERS:
        want = wanted[nst.layer_index("vgg19", name)]
        assert got[name].is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(got[name], want, rtol=1e-4, atol=1e-5 * float(want.abs().max())), name
        assert torch.allclose(got[name], same[name], rtol=1e-4, atol=1e-5 * float(want.abs().max())), name


def test_channels_last_gradient_matches(content_image: torch.Tensor) -> None:
    grads = []
    for layout in (False, True):
        vgg = nst.VGGFeatures(layers=LAYERS, weights="random", device="cpu", channels_last=layout)
        x = content_image.clone().requires_grad_(True)
        sum(nst.gram_matrix(f, "chw").square().mean() for f in vgg(x).values()).backward()
        grads.append(x.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-4 * float(grads[0].abs().max()))


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_backward_is_autograds(channels_last: bool) -> None:
    """The one-matmul Gram backward (losses._Gram) against autograd through a plain bmm, and gradcheck."""
    f = torch.randn(2, 5, 6, 7, dtype=torch.double)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: nst.gram_matrix(x, "chw"), (f,))
    assert torch.autograd.gradgradcheck(lambda x: nst.gram_matrix(x), (f,))
    weights = torch.randn(2, 5, 5, dtype=torch.double)
    (nst.gram_matrix(f) * weights).sum().backward()
    plain = f.detach().clone().requires_grad_(True)
    flat = plain.reshape(2, 5, 42)
    (torch.bmm(flat, flat.transpose(1, 2)) * weights).sum().backward()
    assert torch.allclose(f.grad, plain.grad)
    assert f.grad.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_stylize_layout_does_not_change_the_run(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    a = nst.stylize(content_image, style_image, steps=3, channels_last=False, **FAST)
    b = nst.stylize(content_image, style_image, steps=3, channels_last=True, **FAST)
    assert a.history["total"] == pytest.approx(b.history["total"], rel=1e-4)


def test_fp16_gram_overflows_but_stylize_keeps_it_in_fp32() -> None:
    features = torch.full((1, 8, 32, 32), 12.0)
    with torch.autocast("cpu", dtype=torch.float16):
        naive = torch.bmm(features.flatten(2), features.flatten(2).transpose(1, 2))
    assert not torch.isfinite(naive).all(), "the hazard this guards against: Σ of 1024 products of 12² > 65504"
    speed = schedule.speed_for(torch.device("cpu"), "fp16", None, False)
    assert speed.loss_scale > 1 and schedule.speed_for(torch.device("cpu"), "bf16", None, False).loss_scale == 1


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_runs_and_stays_close(content_image: torch.Tensor, style_image: torch.Tensor, precision: str) -> None:
    c, s = nst.resize_image(content_image, 32), nst.resize_image(style_image, 32)
    low = nst.stylize(c, s, steps=2, precision=precision, **FAST)
    full = nst.stylize(c, s, steps=2, **FAST)
    assert all(torch.isfinite(torch.tensor(v)).all() for v in low.history.values())
    assert low.history["total"][0] == pytest.approx(full.history["total"][0], rel=0.1)
    assert low.settings["precision"] == precision
    with pytest.raises(nst.InputError, match="precision"):
        nst.stylize(c, s, steps=1, precision="fp8", **FAST)


@pytest.mark.gpu
def test_gpu_fast_paths(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    for options in ({}, {"precision": "bf16"}, {"precision": "fp16"}, {"channels_last": False}):
        result = nst.stylize(
            content_image, style_image, steps=5, weights="random", device="cuda", progress=False, **options
        )
        assert result.history["total"][-1] < result.history["total"][0], options
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    nst.stylize(content_image, style_image, steps=3, weights="random", device="cuda", progress=False)
    peak = torch.cuda.max_memory_allocated() - base
    assert peak <= nst.estimate_memory(tuple(content_image.shape[-2:]), device="cuda").total


# ------------------------------------------------------------------------------------------- coarse to fine
def test_multiscale_ends_at_content_size_and_lowers_the_loss(
    content_image: torch.Tensor, style_image: torch.Tensor
) -> None:
    single = nst.stylize(content_image, style_image, steps=4, **FAST)
    multi = nst.stylize(content_image, style_image, scales=(32,), steps=(8, 4), **FAST)
    assert multi.image.shape == content_image.shape
    h, w = content_image.shape[-2:]
    assert [size for size, _ in multi.settings["stages"]] == [(round(h * 32 / w), 32), (h, w)]
    assert multi.steps_done == 12 and len(multi.history["total"]) == 12
    assert multi.history["total"][-1] < single.history["total"][-1]


def test_multiscale_callback_counts_all_stages(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    seen = []
    result = nst.stylize(content_image, style_image, scales=(32,), steps=(3, 5), callback=seen.append, **FAST)
    assert [p.step for p in seen] == list(range(1, 9)) and {p.steps for p in seen} == {8}
    stop = nst.stylize(content_image, style_image, scales=(32,), steps=(3, 5), callback=lambda p: p.step == 2, **FAST)
    assert stop.steps_done == 2 and stop.image.shape == content_image.shape  # upsampled to the content's size
    assert result.settings["scales"] == [32, 64]


def test_multiscale_bad_options(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    with pytest.raises(nst.InputError, match="content's 64 px"):
        nst.stylize(content_image, style_image, scales=(128,), steps=1, **FAST)
    with pytest.raises(nst.InputError, match="one count per"):
        nst.stylize(content_image, style_image, scales=(32,), steps=(1, 2, 3), **FAST)


# ---------------------------------------------------------------------------------------------- variants
VARIANTS = [
    {"style_weight": 1e3},
    {"style_weight": 1e5, "style_layers": ("relu1_1", "relu2_1")},
    {"content_weight": 0.0, "tv_weight": 0.0, "init": "noise", "seed": 3},
]


def _single(content: torch.Tensor, style: torch.Tensor, optimizer: str, **v) -> nst.TransferResult:
    return nst.stylize(content, style, steps=3, optimizer=optimizer, **FAST, **v)


def test_lbfgs_variants_equal_separate_runs(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    batch = nst.stylize(content_image, style_image, steps=3, variants=VARIANTS, **FAST)
    assert batch.image.shape[0] == 3
    for part, variant in zip(batch.split(), VARIANTS):
        alone = _single(content_image, style_image, "lbfgs", **variant)
        assert part.history["total"] == pytest.approx(alone.history["total"], rel=1e-5)
        assert torch.allclose(part.image, alone.image, atol=1e-5)
    summed = [sum(p.history["total"][i] for p in batch.split()) for i in range(3)]
    assert batch.history["total"] == pytest.approx(summed)


def test_adam_variants_are_one_batch_and_match(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    batch = nst.stylize(content_image, style_image, steps=3, optimizer="adam", variants=VARIANTS, **FAST)
    for part, variant in zip(batch.split(), VARIANTS):
        alone = _single(content_image, style_image, "adam", **variant)
        assert part.history["total"] == pytest.approx(alone.history["total"], rel=1e-3)
        assert set(part.history) >= set(alone.history)  # a batch records every variant's layers
        assert all(v == 0 for k in set(part.history) - set(alone.history) for v in part.history[k])  # 0 · finite
    with pytest.raises(nst.InputError, match="unknown key"):
        nst.stylize(content_image, style_image, steps=1, variants=[{"style_wieght": 1.0}], **FAST)


def test_per_image_best_is_kept_separately() -> None:
    # Image 0 is pushed away from its optimum after step 1, image 1 keeps improving.
    target = torch.full((2, 3, 4, 4), 0.5)
    calls = []

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        calls.append(1)
        loss = (x - target).square().flatten(1).sum(1)
        return {"fit": loss}

    start = torch.stack([torch.full((3, 4, 4), 0.5), torch.zeros(3, 4, 4)])
    result = optimize_pixels(start, objective, steps=4, optimizer="adam", lr=0.1, progress=False)
    assert torch.allclose(result.image[0], start[0])  # its first evaluation was its best
    first, last = result.image_history[1]["total"][0], result.image_history[1]["total"][-1]
    assert last < first and len(result.image_history) == 2
    assert [a + b for a, b in zip(result.image_history[0]["total"], result.image_history[1]["total"])] == pytest.approx(
        result.history["total"]
    )


def test_loss_scale_leaves_the_run_unchanged(content_image: torch.Tensor) -> None:
    target = content_image.flip(-1)

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"fit": (x - target).square().mean().reshape(1)}

    a = optimize_pixels(torch.zeros_like(content_image), objective, steps=5, progress=False)
    b = optimize_pixels(torch.zeros_like(content_image), objective, steps=5, progress=False, loss_scale=1024.0)
    assert a.history["total"] == pytest.approx(b.history["total"], rel=1e-5)


# ------------------------------------------------------------------------------------------------ memory
def test_estimate_is_monotonic() -> None:
    sizes = [32, 64, 128, 256, 512, 1024]
    totals = [nst.estimate_memory(s).total for s in sizes]
    assert totals == sorted(totals) and len(set(totals)) == len(totals)
    assert nst.estimate_memory(256, batch=2).total > nst.estimate_memory(256).total
    assert nst.estimate_memory(256, layers=("relu5_1",)).total > nst.estimate_memory(256, layers=("relu3_1",)).total
    assert nst.estimate_memory(256, optimizer="lbfgs").total > nst.estimate_memory(256, optimizer="adam").total
    assert nst.estimate_memory(256, precision="bf16").activations < nst.estimate_memory(256).activations
    assert nst.estimate_memory(256, device="cuda").total > nst.estimate_memory(256).total  # + CUDA context
    assert "MiB" in str(nst.estimate_memory(256))


def test_estimate_covers_what_autograd_saves() -> None:
    """Oracle: the bytes autograd really saves for backward (saved_tensors_hooks), deduplicated."""
    for size in (48, 96):
        vgg = nst.VGGFeatures(layers=LAYERS, weights="random", device="cpu")
        x = torch.rand(1, 3, size, size, requires_grad=True)
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            vgg(x)
        params = {p.untyped_storage().data_ptr() for p in vgg.parameters()} | {vgg.mean.data_ptr(), vgg.std.data_ptr()}
        activations = sum(n for ptr, n in saved.items() if ptr not in params)
        est = nst.estimate_memory(size)
        assert activations <= est.activations <= 1.1 * activations + 4 * 3 * size * size


def test_largest_size_fits_its_budget() -> None:
    budgets = [2**29, 2**30, 2**32]
    sizes = [nst.largest_size(b) for b in budgets]
    assert sizes == sorted(sizes) and sizes[0] >= 64
    for budget, size in zip(budgets, sizes):
        assert nst.estimate_memory(size).total <= budget < nst.estimate_memory(size + 16).total
    assert nst.largest_size(1) == 0


def test_stylize_refuses_what_does_not_fit(
    content_image: torch.Tensor, style_image: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = nst.estimate_memory(48).total  # the 43x64 content needs more than a 48x48 image
    monkeypatch.setattr(schedule, "available_memory", lambda device=None: budget)
    with pytest.raises(nst.ResourceError, match=r"largest that fits is about \d+ px") as info:
        nst.stylize(content_image, style_image, steps=1, **FAST)
    fits = int(str(info.value).split("is about ")[-1].split(" px")[0])
    assert 0 < fits < 64 and nst.estimate_memory((round(fits * 43 / 64), fits)).total <= budget
    with pytest.raises(nst.ResourceError, match="Not even a small image fits"):
        monkeypatch.setattr(schedule, "available_memory", lambda device=None: 2**20)
        nst.stylize(content_image, style_image, steps=1, **FAST)
    assert nst.stylize(content_image, style_image, steps=1, check_memory=False, **FAST).steps_done == 1


def test_out_of_memory_message_uses_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    image = torch.zeros(1, 3, 1024, 1024)
    budget = nst.estimate_memory(512).total
    monkeypatch.setattr(schedule, "available_memory", lambda device=None: budget)
    error = schedule.out_of_memory(RuntimeError("CUDA out of memory"), image, torch.device("cpu"))
    assert isinstance(error, nst.ResourceError) and f"size={nst.largest_size(budget)}" in str(error)


def _mem_available() -> int:
    """Oracle: the kernel's own estimate, read here independently (Linux /proc/meminfo, in kB)."""
    with open("/proc/meminfo") as handle:
        fields = dict(line.split(":", 1) for line in handle)
    return int(fields["MemAvailable"].split()[0]) * 1024


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="Linux only: /proc/meminfo")
def test_available_memory_is_the_kernels_mem_available() -> None:
    before, free, after = _mem_available(), memory.available_memory("cpu"), _mem_available()
    assert isinstance(free, int)  # None would switch both memory guards off
    assert min(before, after) - 2**28 <= free <= max(before, after) + 2**28


def test_available_memory_without_proc_uses_sysconf(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = open

    def no_proc(path, *args, **kwargs):
        if str(path) == "/proc/meminfo":
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    monkeypatch.setattr(os, "sysconf", lambda name: {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}[name])
    assert memory.available_memory("cpu") == 4096000


def test_available_memory_and_bad_input() -> None:
    with pytest.raises(nst.InputError):
        nst.estimate_memory(0)
    with pytest.raises(nst.InputError):
        nst.estimate_memory(64, optimizer="sgd")


# -- precision="auto" and the default schedule ---------------------------------------------------------------


def test_native_bf16_reads_the_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if flags:  # the flags the kernel reports are the ones torch's probe sees
        assert schedule.native_bf16("cpu") == ("avx512_bf16" in flags or "amx_tile" in flags)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert schedule.native_bf16("cpu") is True
    assert schedule.native_bf16("meta") is False


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_runs_a_schedule_in_bf16_only_where_native(
    content_image, style_image, monkeypatch, native: bool
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(schedule, "native_bf16", lambda device: native)
    real = transfer.stage_objective

    def spy(targets, w, forward, speed):
        seen.append(speed.precision)
        return real(targets, w, forward, speed)

    monkeypatch.setattr(transfer, "stage_objective", spy)
    c, s = nst.resize_image(content_image, 64), nst.resize_image(style_image, 64)
    result = nst.stylize(
        c, s, steps=(1, 1, 1), scales=(16, 32), style_layers=("relu1_1",), content_layers=("relu2_1",), **FAST
    )
    assert seen == (["bf16"] * 3 if native else ["fp32"] * 3)
    assert result.settings["precisions"] == seen
    assert result.settings["precision"] == ("bf16" if native else "fp32")
    single = nst.stylize(c, s, steps=1, style_layers=("relu1_1",), **FAST)  # one stage (the lessons' loops): fp32
    assert single.settings["precision"] == "fp32"
    with pytest.raises(nst.InputError, match="'auto', 'fp32', 'bf16', 'fp16'"):
        nst.stylize(c, s, steps=1, precision="half", **FAST)


@pytest.mark.parametrize(
    "shape,scales,steps",
    [
        ((192, 256), (128,), (70, 12)),
        ((384, 512), (256,), (70, 12)),
        ((96, 128), (64,), (70, 12)),
        ((72, 96), (), (82,)),  # half would be 48 px: skipped, its steps go to the full size
        ((48, 64), (), (82,)),
    ],
)
def test_the_default_schedule_is_half_then_full_size(shape, scales, steps) -> None:
    assert schedule.auto_schedule(torch.zeros(1, 3, *shape)) == (scales, steps)
    stages = schedule.plan_stages(torch.zeros(1, 3, *shape), None, None, "fp32", torch.device("cpu"))
    assert [s.steps for s in stages] == list(steps) and stages[-1].size == shape
    assert [max(s.size) for s in stages[:-1]] == list(scales)


def test_steps_none_runs_the_default_schedule_and_an_int_runs_one_stage(content_image, style_image) -> None:
    c, s = nst.resize_image(content_image, 64), nst.resize_image(style_image, 64)  # 43 x 64: one stage of 82
    options = dict(style_layers=("relu1_1",), content_layers=("relu1_1",), **FAST)
    assert nst.stylize(c, s, **options).settings["stages"] == [((43, 64), 82)]
    assert nst.stylize(c, s, steps=3, **options).settings["stages"] == [((43, 64), 3)]
    with pytest.raises(nst.InputError, match="2 entries but the run has 1 stage"):
        nst.stylize(c, s, steps=(1, 2), **options)
