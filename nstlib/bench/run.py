"""Benchmarks, as ratios measured in one run: ``python -m nstlib.bench.run`` (see BENCHMARKS.md).

1. per-evaluation time of :func:`nstlib.stylize`, in fp32 and bf16, against this machine's limit:
   VGG19's convolution FLOPs to relu5_1 (forward and input-gradient backward) over the best 3x3
   convolution rate measured in the same run in that precision (oneDNN, channels_last); sgemm is
   printed as a reference line, and so is a baseline written as seed 000 describes it (loss modules
   inserted as layers into a copied VGG whose weights are not frozen);
2. time to a good picture on trained features (HED's VGG-16, Tübingen x The Scream at 256 and 512
   px): stylize with its defaults against seed 000's design with 300 L-BFGS evaluations, judged by
   :mod:`nstlib.bench.quality` (measures the loss does not see);
3. batching: variants optimised as one Adam batch against one after another; the channels_last
   layout against NCHW, and the one-matmul Gram backward against autograd's;
4. memory: the estimate of :mod:`nstlib.optim.memory` against what was measured;
5. the course: every lesson notebook executed as a learner runs it on this machine (laptop sizes on a
   CPU, HED's weights), or in quick mode with ``--notebooks-mode quick``;
6. on a GPU (``--device cuda``): 512 px x 500 steps, precision, channels_last, torch.compile.

Only ratios and seconds are printed; nothing here asserts on time.

    python -m nstlib.bench.run                   # the full CPU run (about 45 minutes on two cores)
    python -m nstlib.bench.run --quick           # a short smoke run (tiny sizes, few steps)
    python -m nstlib.bench.run --sizes 128 256 --skip-notebooks --json bench.json
"""
from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nstlib.net.vgg import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, _build
from nstlib.images import load_image, resize_image
from nstlib.net.layers import layer_names
from nstlib.loss.functional import tv_loss
from nstlib.optim.memory import estimate_memory, layer_shapes
from nstlib.algorithms.transfer import native_bf16, stylize
from nstlib.weights.sources import load_vgg_state_dict, weights_source

__all__ = ["vgg_flops", "sgemm_rate", "TutorialBaseline", "run_baseline", "per_eval_seconds", "main"]

ROOT = Path(__file__).resolve().parents[2]
# The objective both sides minimise: stylize's defaults (content relu4_2, style relu1_1 … relu5_1).
OBJECTIVE = dict(content_weight=1.0, style_weight=5e4, tv_weight=10.0)
RATIOS = ("limit_ratio_fp32", "limit_ratio_bf16", "bf16_gain", "speedup_vs_baseline", "time_to_quality_speedup",
          "time_to_quality_speedup_matched",
          "batch_gain", "channels_last_gain", "gram_backward_gain", "memory_ratio")


# ----------------------------------------------------------------------------------------------- floor
def vgg_flops(size: tuple[int, int], arch: str = "vgg19", last: str = "relu5_1", backward: bool = True) -> float:
    """Multiply-adds x 2 of every 3x3 convolution up to ``last``: Σ 2·9·C_in·C_out·H·W.

    The input-gradient backward of a convolution costs the same as its forward, so ``backward=True``
    doubles it (frozen weights: no weight gradients). VGG19 at 256² to relu5_1: 47.3 GFLOP forward.
    """
    total, c_in = 0.0, 3
    for name, c, h, w in layer_shapes(arch, last, *size):
        if name.startswith("conv"):
            total += 2 * 9 * c_in * c * h * w
            c_in = c
    return total * (2 if backward else 1)


def sgemm_rate(sizes: Sequence[int] = (1024, 2048), repeats: int = 5) -> float:
    """The best float32 matrix-multiply rate seen (FLOP/s) on the CPU with torch's threads."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        for _ in range(repeats):
            t = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


# Large 3x3 convolutions (channels, side) at which the rate is measured: VGG's own widths at sizes that
# keep every core busy. The best of them is the machine's convolution limit for that precision.
CONV_SHAPES = ((64, 128), (128, 128), (256, 64), (512, 32))


def conv_rate(dtype: torch.dtype = torch.float32, shapes: Sequence[tuple[int, int]] = CONV_SHAPES,
              repeats: int = 5) -> float:
    """The best 3x3 convolution rate seen (FLOP/s): C→C channels, batch 1, padding 1, channels_last, forward.

    oneDNN runs these at close to the cores' multiply-add peak (BENCHMARKS.md); in bf16 on CPUs with
    avx512_bf16 or AMX at about twice the fp32 rate, elsewhere emulated (slower than fp32).
    """
    best = 0.0
    for c, side in shapes:
        x = torch.randn(1, c, side, side).to(dtype).contiguous(memory_format=torch.channels_last)
        w = torch.randn(c, c, 3, 3).to(dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            F.conv2d(x, w, padding=1)
            for _ in range(repeats):
                t = time.perf_counter()
                F.conv2d(x, w, padding=1)
                best = max(best, 2 * 9 * c * c * side * side / (time.perf_counter() - t))
    return best


# ------------------------------------------------------------------------------------------- baseline
class _Normalization(nn.Module):
    """The tutorial's first layer, (img - mean) / std, for the weights' input convention (Caffe's: BGR, 0-255)."""

    def __init__(self, weights: str = "random") -> None:
        super().__init__()
        self.convention = weights_source(weights).convention

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.convention.apply(img)


def _tutorial_gram(x: torch.Tensor) -> torch.Tensor:
    a, b, c, d = x.size()
    f = x.view(a * b, c * d)
    return torch.mm(f, f.t()).div(a * b * c * d)


class _ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.target, self.weight, self.loss = target.detach(), weight, torch.tensor(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = self.weight * F.mse_loss(x, self.target)
        return x


class _StyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.target, self.weight, self.loss = _tutorial_gram(target_feature).detach(), weight, torch.tensor(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = self.weight * F.mse_loss(_tutorial_gram(x), self.target)
        return x


class TutorialBaseline:
    """Seed 000's implementation: loss modules inserted as layers into a copied VGG.

    A copy of the VGG's ``features`` (weights *not* frozen, so every backward also computes weight
    gradients), a normalisation module in front, a ``_ContentLoss``/``_StyleLoss`` module after each
    chosen layer, the network cut after the last of them, and ``torch.optim.LBFGS`` with its
    defaults (max_iter=20, history 100), clamping inside the closure as the tutorial does.
    The Gatys layers go under their paper names; ``weights``, ``arch`` and the loss weights are
    parameters: by default stylize's objective on random weights (α=1, β·w_l=1e4, γ=10 with
    nstlib's TV term), so the two minimise the same loss; :data:`SEED_HED` is seed 000 on HED's
    VGG-16 with jcjohnson/neural-style's weights. L-BFGS's ``max_iter`` is trimmed on the last call
    so that exactly ``evals`` evaluations run.
    """

    def __init__(self, content: torch.Tensor, style: torch.Tensor, weights: str = "random",
                 pooling: str = "max", arch: str = "vgg19", content_weight: float = OBJECTIVE["content_weight"],
                 style_weight: float = OBJECTIVE["style_weight"] / len(GATYS_STYLE_LAYERS),
                 tv_weight: float = OBJECTIVE["tv_weight"]) -> None:
        # The tutorial runs the style image through the same layers as the content, so it needs the content's size.
        style = resize_image(style, tuple(content.shape[-2:])) if style.shape[-2:] != content.shape[-2:] else style
        content_w = {GATYS_CONTENT_LAYER: content_weight}
        style_w = {name: style_weight for name in GATYS_STYLE_LAYERS}  # per layer
        last_index = max(layer_names(arch).index(n) for n in (*content_w, *style_w))
        cnn = _build(arch, last_index, pooling)
        state = load_vgg_state_dict(arch, weights)
        cnn.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                             if int(k.split(".")[1]) <= last_index})
        cnn = copy.deepcopy(cnn).eval()  # the tutorial copies the network; requires_grad stays True
        self.model = nn.Sequential(_Normalization(weights))
        self.content_losses: list[_ContentLoss] = []
        self.style_losses: list[_StyleLoss] = []
        for name, layer in zip(layer_names(arch), cnn.children()):
            if isinstance(layer, nn.ReLU):
                layer = nn.ReLU(inplace=False)
            self.model.add_module(name, layer)
            if name in content_w:
                module = _ContentLoss(self.model(content).detach(), content_w[name])
                self.model.add_module(f"content_loss_{name}", module)
                self.content_losses.append(module)
            if name in style_w:
                module = _StyleLoss(self.model(style).detach(), style_w[name])
                self.model.add_module(f"style_loss_{name}", module)
                self.style_losses.append(module)
        self.content, self.tv_weight = content, tv_weight

    def run(self, evals: int, on_eval: Callable[[int, float], None] | None = None) -> tuple[torch.Tensor, list[float]]:
        """Optimise from the content image for exactly ``evals`` evaluations; returns (image, losses)."""
        input_img = self.content.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS([input_img])
        losses: list[float] = []

        def closure() -> torch.Tensor:
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            self.model(input_img)
            style_score = sum(sl.loss for sl in self.style_losses)
            content_score = sum(cl.loss for cl in self.content_losses)
            loss = style_score + content_score
            if self.tv_weight:
                loss = loss + self.tv_weight * tv_loss(input_img)
            loss.backward()
            losses.append(float(loss.detach()))
            if on_eval is not None:
                on_eval(len(losses), losses[-1])
            return loss

        while len(losses) < evals:
            optimizer.param_groups[0]["max_iter"] = min(20, evals - len(losses))
            optimizer.step(closure)
        with torch.no_grad():
            input_img.clamp_(0, 1)
        return input_img.detach(), losses


# Seed 000's design on trained features: HED's VGG-16 (Caffe convention), jcjohnson/neural-style's loss
# weights for Caffe-scale VGG (content 5, style 100 per layer), no TV term (seed 000 has none), 300 evaluations.
SEED_HED = dict(weights="hed", arch="vgg16", content_weight=5.0, style_weight=100.0, tv_weight=0.0)


def run_baseline(content: torch.Tensor, style: torch.Tensor, evals: int, **design: Any) -> dict[str, Any]:
    """Build and run the baseline; wall seconds include building it, as a user would wait."""
    stamps: list[float] = []
    start = time.perf_counter()
    baseline = TutorialBaseline(content, style, **design)
    image, losses = baseline.run(evals, on_eval=lambda i, loss: stamps.append(time.perf_counter()))
    return {"seconds": time.perf_counter() - start, "losses": losses, "per_eval": _median_step(stamps),
            "best_loss": min(losses), "image": image}


# ---------------------------------------------------------------------------------------------- ours
def _median_step(stamps: Sequence[float]) -> float:
    steps = [b - a for a, b in zip(stamps[1:], stamps[2:])]  # skip the first (warm-up) interval
    return statistics.median(steps) if steps else float("nan")


def per_eval_seconds(content: torch.Tensor, style: torch.Tensor, steps: int, **options: Any) -> float:
    """Median seconds between consecutive steps of stylize (evaluation + backward + L-BFGS step)."""
    stamps: list[float] = []
    stylize(content, style, steps=steps, progress=False, weights="random", device=content.device,
            callback=lambda p: stamps.append(time.perf_counter()), **OBJECTIVE, **options)
    return _median_step(stamps)


def _network_seconds(size: tuple[int, int], repeats: int) -> float:
    """VGG alone (to relu5_1, frozen, channels_last), forward + input-gradient backward: the floor's work."""
    from nstlib.net.vgg import VGGFeatures

    vgg = VGGFeatures(layers=GATYS_STYLE_LAYERS + (GATYS_CONTENT_LAYER,), weights="random", device="cpu",
                      channels_last=True)
    x = torch.rand(1, 3, *size, requires_grad=True)
    best = float("inf")
    for _ in range(repeats + 2):
        t = time.perf_counter()
        sum(f.sum() for f in vgg(x).values()).backward()
        best = min(best, time.perf_counter() - t)
    return best


# The trade-off the seed design sits at, in stylize's terms on HED's weights: more content weight and less
# style weight than stylize's defaults (α = 5, β = 2500), chosen on 2026-12-02 so that the default schedule
# keeps the photo's edges as the seed design does (BENCHMARKS.md).
MATCHED = dict(content_weight=20.0, style_weight=1000.0)
TOLERANCE = 0.01  # "at least as good": each measure within 1 % of the seed design's (nstlib.bench.quality)


def time_to_quality(size: int, evals: int, settings: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Seed 000's design (SEED_HED, ``evals`` L-BFGS evaluations) against stylize's default schedule on HED's
    VGG-16, Tübingen x The Scream at ``size`` px: wall seconds of each whole call, and the picture judged by
    :mod:`nstlib.bench.quality` (held-out style, the photo's edges, colours)."""
    from nstlib.net.vgg import VGGFeatures
    from nstlib.bench.quality import at_least_as_good, held_out_layers, judge

    content = load_image(ROOT / "images" / "tubingen.jpg", size=size)
    style = load_image(ROOT / "images" / "the_scream.jpg", size=size)
    base = run_baseline(content, style, evals, **SEED_HED)
    vgg = VGGFeatures("vgg16", held_out_layers("vgg16"), weights="hed", device="cpu")
    bar = judge(base["image"], content, style, vgg=vgg)
    rows: dict[str, Any] = {"seed 000": {"seconds": base["seconds"], "evals": evals, **bar}}
    for name, options in (settings or {"defaults": {}, "matched": MATCHED}).items():
        t = time.perf_counter()
        result = stylize(content, style, weights="hed", device="cpu", progress=False, **options)
        seconds = time.perf_counter() - t
        scores = judge(result.image, content, style, vgg=vgg)
        rows[name] = {"seconds": seconds, "speedup": base["seconds"] / seconds, **scores,
                      "as_good": at_least_as_good(scores, bar, TOLERANCE), "stages": result.settings["stages"],
                      "precision": result.settings["precision"], "options": options}
    return {"size": tuple(content.shape[-2:]), "rows": rows}


def batch_gain(content: torch.Tensor, style: torch.Tensor, steps: int) -> dict[str, Any]:
    """An α/β grid of five variants with Adam: one batched call against five separate calls."""
    variants = [{"style_weight": w} for w in (1e3, 3e3, 1e4, 3e4, 1e5)]
    t = time.perf_counter()
    batched = stylize(content, style, steps=steps, optimizer="adam", variants=variants, progress=False,
                      weights="random", device="cpu")
    t_batched = time.perf_counter() - t
    t = time.perf_counter()
    singles = [stylize(content, style, steps=steps, optimizer="adam", progress=False, weights="random",
                       device="cpu", **v) for v in variants]
    t_single = time.perf_counter() - t
    # Same trajectories up to float rounding (batched convolutions sum in another order, and Adam's
    # first steps are ~lr·sign(g), so pixels with g ≈ 0 can differ by up to 2·lr): compare losses.
    rel = max(abs(a.history["total"][-1] - b.history["total"][-1]) / abs(b.history["total"][-1])
              for a, b in zip(batched.split(), singles))
    return {"batched_s": t_batched, "sequential_s": t_single, "gain": t_single / t_batched, "loss_rel_diff": rel}


def layout_and_gram(size: int, steps: int, repeats: int) -> dict[str, Any]:
    """Two choices behind stylize's speed, each against its alternative in this run: the channels_last
    layout (against torch's default NCHW) per evaluation, and the one-matmul Gram backward (against
    autograd's two-matmul backward of ``bmm(F, Fᵀ)``) on relu1_1's maps at ``size`` px."""
    from nstlib.loss.functional import gram_matrix

    content, style = _images(size)
    nchw = min(per_eval_seconds(content, style, steps, channels_last=False) for _ in range(repeats))
    nhwc = min(per_eval_seconds(content, style, steps, channels_last=True) for _ in range(repeats))
    feats = torch.rand(1, 64, size, size).contiguous(memory_format=torch.channels_last)

    def gram_seconds(fn: Callable[[torch.Tensor], torch.Tensor]) -> float:
        best = float("inf")
        for _ in range(repeats + 3):
            x = feats.detach().requires_grad_(True)
            t = time.perf_counter()
            fn(x).square().sum().backward()
            best = min(best, time.perf_counter() - t)
        return best

    ours = gram_seconds(gram_matrix)
    plain = gram_seconds(lambda x: torch.bmm(x.reshape(1, 64, -1), x.reshape(1, 64, -1).transpose(1, 2)))
    return {"per_eval_nchw_s": nchw, "per_eval_channels_last_s": nhwc, "channels_last_gain": nchw / nhwc,
            "gram_ours_s": ours, "gram_autograd_s": plain, "gram_gain": plain / ours}


_RSS_PROBE = r"""
import sys, torch, nstlib as nst
from nstlib.weights.sources import load_vgg_state_dict, weights_source
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))
size, steps = int(sys.argv[1]), int(sys.argv[2])
c = torch.rand(1, 3, size, size); s = torch.rand(1, 3, size, size)
load_vgg_state_dict("vgg19", "random")  # the cached state dict is not part of a run
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS: creating the weights above peaked higher
before = status("VmRSS")
nst.stylize(c, s, steps=steps, weights="random", device="cpu", progress=False, check_memory=False)
print(status("VmHWM") - before)
"""


def measured_peak_cpu(size: int, steps: int) -> int:
    """Peak resident memory a stylize call adds (Linux): in a fresh process, the peak RSS during the
    call (VmHWM, reset just before it through /proc/self/clear_refs) minus the RSS just before it
    (imports and the cached weights already loaded)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(size), str(steps)], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    return int(out[-1])


# ------------------------------------------------------------------------------------------------ GPU
def gpu_suite(sizes: Sequence[int], steps: int, device: str = "cuda") -> dict[str, Any]:
    """512 px x ``steps`` wall time; precision, channels_last, compile; peak memory against size."""
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"}
    big = max(sizes)
    c, s = torch.rand(1, 3, big, big, device=dev), torch.rand(1, 3, big, big, device=dev)
    variants = {"fp32": {}, "fp32 nchw": {"channels_last": False}, "bf16": {"precision": "bf16"},
                "fp16": {"precision": "fp16"}, "fp32 compile": {"compile": True}}
    for name, options in variants.items():
        try:
            sync()
            out[f"per_eval {name}"] = per_eval_seconds(c, s, steps=min(steps, 20), **options)
        except Exception as exc:  # report and go on: e.g. torch.compile without a compiler
            out[f"per_eval {name}"] = f"failed: {str(exc).splitlines()[0][:100]}"
    sync()
    t = time.perf_counter()
    stylize(c, s, steps=steps, progress=False, weights="random", device=dev, **OBJECTIVE)
    sync()
    out[f"{big}px x {steps} steps (s)"] = time.perf_counter() - t
    if dev.type == "cuda":
        for size in sizes:
            x = torch.rand(1, 3, size, size, device=dev)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
            base = torch.cuda.memory_allocated(dev)
            stylize(x, x, steps=3, progress=False, weights="random", device=dev, **OBJECTIVE)
            peak = torch.cuda.max_memory_allocated(dev) - base
            guess = estimate_memory(size, device=dev)
            est = guess.total - guess.overhead  # the allocator does not see the CUDA context
            out[f"memory {size}px"] = {"peak_MiB": peak / 2**20, "estimate_MiB": est / 2**20, "ratio": est / peak}
    return out


# ------------------------------------------------------------------------------------------ notebooks
def run_notebooks(folder: Path, timeout: int = 900, mode: str = "quick") -> list[dict[str, Any]]:
    """Execute every ``*.ipynb`` in ``folder`` with nbclient; seconds per notebook.

    ``mode="quick"``: CI's quick mode (``NSTLIB_QUICK=1``, random weights). ``mode="laptop"``: as a learner
    runs the course on a CPU, at the sizes and steps each lesson chooses without quick mode, on HED's weights.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if mode not in ("quick", "laptop"):
        raise ValueError(f"mode must be 'quick' or 'laptop', got {mode!r}")
    path_env = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env: dict[str, str | None] = {"NSTLIB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONPATH": path_env}
    env.update({"NSTLIB_QUICK": "1", "NSTLIB_WEIGHTS": "random", "NSTLIB_SIZE": None} if mode == "quick" else
               {"NSTLIB_QUICK": None, "NSTLIB_WEIGHTS": "hed", "NSTLIB_SIZE": "laptop"})
    saved = {k: os.environ.get(k) for k in env}
    for key, value in env.items():  # the kernel inherits this process's environment
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    rows = []
    try:
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(folder)}})
            t = time.perf_counter()
            try:
                client.execute()
                status = "ok"
            except CellExecutionError as exc:
                status = f"error: {str(exc).strip().splitlines()[-1][:100]}"
            except Exception as exc:  # a kernel that dies or times out
                status = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
            rows.append({"notebook": path.name, "seconds": time.perf_counter() - t, "status": status, "mode": mode})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rows


# ------------------------------------------------------------------------------------------------ run
def _images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return (load_image(ROOT / "images" / "chelsea.jpg", size=(size, size)),
            load_image(ROOT / "images" / "style_waves.jpg", size=(size, size)))


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def run(args: argparse.Namespace, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark described by ``args`` (see :func:`main`); returns every figure."""
    report: dict[str, Any] = {
        "date": _dt.date.today().isoformat(), "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "load_start": _load(), "ratios": {}}
    ratios = report["ratios"]
    say(f"nstlib bench {report['date']}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load {report['load_start']:.2f}")
    rate = sgemm_rate(args.gemm_sizes, repeats=args.repeats + 2)
    conv = {"fp32": conv_rate(torch.float32, args.conv_shapes, args.repeats + 3),
            "bf16": conv_rate(torch.bfloat16, args.conv_shapes, args.repeats + 3)}
    native = native_bf16("cpu")
    report.update(sgemm_gflops=rate / 1e9, conv_gflops={k: v / 1e9 for k, v in conv.items()}, native_bf16=native)
    say(f"limit: best 3x3 convolution {conv['fp32'] / 1e9:.0f} GFLOP/s fp32, {conv['bf16'] / 1e9:.0f} GFLOP/s bf16 "
        f"({'native' if native else 'emulated: no avx512_bf16/AMX'}); sgemm (reference) {rate / 1e9:.0f} GFLOP/s")
    for size in args.sizes:
        content, style = _images(size)
        hw = (size, size)
        work = vgg_flops(hw)
        limit = {k: work / v for k, v in conv.items()}
        ours = {p: min(per_eval_seconds(content, style, args.steps, precision=p) for _ in range(args.repeats))
                for p in ("fp32", "bf16")}
        base = min(run_baseline(content, style, args.steps)["per_eval"] for _ in range(args.repeats))
        net = _network_seconds(hw, args.repeats)
        report[f"per_eval_{size}"] = {"ours_fp32_s": ours["fp32"], "ours_bf16_s": ours["bf16"], "baseline_s": base,
                                      "limit_fp32_s": limit["fp32"], "limit_bf16_s": limit["bf16"],
                                      "sgemm_floor_s": work / rate, "network_s": net, "gflop": work / 1e9}
        ratios[f"limit_ratio_fp32@{size}"] = ours["fp32"] / limit["fp32"]
        ratios[f"limit_ratio_bf16@{size}"] = ours["bf16"] / limit["bf16"]
        ratios[f"bf16_gain@{size}"] = ours["fp32"] / ours["bf16"]
        ratios[f"speedup_vs_baseline@{size}"] = base / ours["fp32"]
        say(f"[1] {size}px per evaluation ({work / 1e9:.1f} GFLOP): fp32 {ours['fp32']:.3f} s vs limit "
            f"{limit['fp32']:.3f} s -> {ours['fp32'] / limit['fp32']:.2f}x; bf16 {ours['bf16']:.3f} s vs limit "
            f"{limit['bf16']:.3f} s -> {ours['bf16'] / limit['bf16']:.2f}x; VGG alone (fp32) {net:.3f} s; "
            f"at sgemm's rate {work / rate:.3f} s; seed-000 baseline {base:.3f} s ({base / ours['fp32']:.2f}x ours)")
    for size in args.quality_sizes:
        try:
            quality = time_to_quality(size, args.evals)
        except Exception as exc:  # HED's weights not installed: say so and go on
            say(f"[2] {size}px time to a good picture: skipped ({str(exc).splitlines()[0][:160]})")
            continue
        report[f"time_to_quality_{size}"] = quality
        rows = quality["rows"]
        bar = rows["seed 000"]
        # 0 when the picture is not at least as good: a speed-up to a worse picture is none.
        ratios[f"time_to_quality_speedup@{size}"] = rows["defaults"]["speedup"] if rows["defaults"]["as_good"] else 0.0
        ratios[f"time_to_quality_speedup_matched@{size}"] = (rows["matched"]["speedup"] if rows["matched"]["as_good"]
                                                             else 0.0)
        say(f"[2] {size}px ({quality['size'][0]}x{quality['size'][1]}), HED VGG-16, Tübingen x The Scream: seed 000 "
            f"{bar['evals']} evals {bar['seconds']:.1f} s: held-out style {bar['style']:.3f}, edges {bar['edges']:.3f}, "
            f"colours {bar['colours']:.4f}")
        for name in rows:
            if name == "seed 000":
                continue
            row = rows[name]
            say(f"[2]   stylize {name} {row['options'] or ''} ({row['precision']}, stages {row['stages']}): "
                f"{row['seconds']:.1f} s, {row['speedup']:.1f}x faster; style {row['style']:.3f}, edges "
                f"{row['edges']:.3f}, colours {row['colours']:.4f} -> "
                f"{'at least as good' if row['as_good'] else 'NOT as good'} (tolerance {TOLERANCE:.0%})")
    batch = batch_gain(*_images(args.batch_size), steps=args.batch_steps)
    report["batch"] = batch
    ratios[f"batch_gain@{args.batch_size}"] = batch["gain"]
    say(f"[3] 5 Adam variants at {args.batch_size}px x {args.batch_steps} steps: batched {batch['batched_s']:.1f} s, "
        f"one by one {batch['sequential_s']:.1f} s -> gain {batch['gain']:.2f}x (final losses agree to {batch['loss_rel_diff']:.1g})")
    extra = layout_and_gram(args.layout_size, args.steps, args.repeats)
    report["layout_and_gram"] = extra
    ratios[f"channels_last_gain@{args.layout_size}"] = extra["channels_last_gain"]
    ratios[f"gram_backward_gain@{args.layout_size}"] = extra["gram_gain"]
    say(f"[3b] {args.layout_size}px per evaluation: channels_last {extra['per_eval_channels_last_s']:.3f} s, NCHW "
        f"{extra['per_eval_nchw_s']:.3f} s -> {extra['channels_last_gain']:.2f}x; Gram of relu1_1 forward+backward: "
        f"one-matmul {extra['gram_ours_s'] * 1e3:.1f} ms, autograd {extra['gram_autograd_s'] * 1e3:.1f} ms -> "
        f"{extra['gram_gain']:.2f}x")
    has_proc = Path("/proc/self/clear_refs").exists()
    if not has_proc:
        say("[4] memory: skipped (measuring a call's peak resident memory needs Linux's /proc)")
    for size in args.memory_sizes if has_proc else ():
        peak = measured_peak_cpu(size, steps=2)
        est = estimate_memory(size, history_size=1).total  # after 2 steps L-BFGS holds one pair
        report[f"memory_{size}"] = {"measured_MiB": peak / 2**20, "estimate_MiB": est / 2**20,
                                    "estimate_full_history_MiB": estimate_memory(size).total / 2**20}
        ratios[f"memory_ratio@{size}"] = est / max(peak, 1)
        say(f"[4] memory at {size}px, 2 steps: estimate {est / 2**20:.0f} MiB, measured peak RSS added "
            f"{peak / 2**20:.0f} MiB -> estimate/measured {est / max(peak, 1):.2f} (with L-BFGS's full history "
            f"the estimate is {estimate_memory(size).total / 2**20:.0f} MiB)")
    if args.device == "cuda":
        report["gpu"] = gpu_suite(args.gpu_sizes, args.gpu_steps)
        say(f"[GPU] {json.dumps(report['gpu'], indent=1, default=str)}")
    if not args.skip_notebooks:
        rows = run_notebooks(Path(args.notebooks), mode=args.notebooks_mode)
        report["notebooks"] = rows
        for row in rows:
            say(f"[5] {row['notebook']} ({args.notebooks_mode}): {row['seconds']:.1f} s ({row['status']})")
        say(f"[5] all {len(rows)} notebooks ({args.notebooks_mode}): {sum(r['seconds'] for r in rows):.1f} s")
    report["load_end"] = _load()
    say(f"load average: start {report['load_start']:.2f}, end {report['load_end']:.2f} "
        f"(2 cores shared; a load above ~2 means the timings are inflated by other work)")
    say("RATIOS")
    for name, value in ratios.items():
        say(f"  {name} = {value:.3f}")
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nstlib.bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short smoke run: tiny images, few steps")
    p.add_argument("--sizes", type=int, nargs="+", help="square sizes for the per-evaluation ratios (default 128 256)")
    p.add_argument("--steps", type=int, help="steps per per-evaluation timing (default 12)")
    p.add_argument("--repeats", type=int, help="repeat timings and keep the best (default 2)")
    p.add_argument("--evals", type=int, help="seed 000's evaluations in the time-to-quality runs (default 300)")
    p.add_argument("--quality-sizes", type=int, nargs="*", help="long sides of the time-to-quality runs (default 256 512)")
    p.add_argument("--skip-notebooks", action="store_true", help="do not run notebooks/*.ipynb")
    p.add_argument("--notebooks-mode", choices=("laptop", "quick"), default="laptop",
                   help="laptop: the lessons as a learner runs them on a CPU (default); quick: CI's quick mode")
    p.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="folder of notebooks to time")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda adds the GPU suite")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    quick = args.quick
    defaults = dict(sizes=[32] if quick else [128, 256], steps=4 if quick else 12, repeats=1 if quick else 2,
                    evals=8 if quick else 300, quality_sizes=[32] if quick else [256, 512])
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.gemm_sizes = (256, 512) if quick else (1024, 2048)
    args.conv_shapes = ((64, 32),) if quick else CONV_SHAPES
    args.batch_size, args.batch_steps = (32, 3) if quick else (128, 20)
    args.layout_size = 32 if quick else 256
    args.memory_sizes = [32] if quick else [32, 128, 256, 512]
    args.gpu_sizes, args.gpu_steps = ([64, 128], 5) if quick else ([256, 512, 768, 1024], 500)
    report = run(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return report


if __name__ == "__main__":
    main()
