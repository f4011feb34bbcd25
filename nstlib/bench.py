"""Benchmarks, as ratios measured in one run: ``python -m nstlib.bench`` (see BENCHMARKS.md).

1. per-evaluation time of :func:`nstlib.stylize` against the sgemm-bound floor (VGG19's FLOPs to
   the deepest layer, forward and input-gradient backward, over the best sgemm rate measured in the
   same run) and against a baseline written as seed 000 describes it (loss modules inserted as
   layers into a copied VGG whose weights are not frozen, the PyTorch tutorial's normalisation);
2. time to reach the loss that baseline reaches after N evaluations (coarse-to-fine vs baseline);
3. batching: variants optimised as one Adam batch against one after another; the channels_last
   layout against NCHW, and the one-matmul Gram backward against autograd's;
4. memory: the estimate of :mod:`nstlib.memory` against what was measured;
5. the quick-mode time of every lesson notebook (nbclient, NSTLIB_QUICK=1);
6. on a GPU (``--device cuda``): 512 px x 500 steps, precision, channels_last, torch.compile.

Only ratios and seconds are printed; nothing here asserts on time.

    python -m nstlib.bench                   # the full CPU run
    python -m nstlib.bench --quick           # a short smoke run (tiny sizes, few steps)
    python -m nstlib.bench --sizes 128 256 --skip-notebooks --json bench.json
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

from nstlib.features import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, IMAGENET_MEAN, IMAGENET_STD, _build
from nstlib.images import load_image
from nstlib.layers import layer_names
from nstlib.losses import tv_loss
from nstlib.memory import estimate_memory, layer_shapes
from nstlib.transfer import layer_weights, stylize
from nstlib.sources import load_vgg_state_dict

__all__ = ["vgg_flops", "sgemm_rate", "TutorialBaseline", "run_baseline", "per_eval_seconds", "main"]

ROOT = Path(__file__).resolve().parents[1]
# The objective both sides minimise: stylize's defaults (content relu4_2, style relu1_1 … relu5_1).
OBJECTIVE = dict(content_weight=1.0, style_weight=5e4, tv_weight=10.0)
RATIOS = ("speedup_vs_baseline", "floor_ratio", "time_to_loss_speedup", "batch_gain", "channels_last_gain",
          "gram_backward_gain", "memory_ratio")


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


# ------------------------------------------------------------------------------------------- baseline
class _Normalization(nn.Module):
    """The tutorial's first layer: (img - mean) / std with (C, 1, 1) buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(-1, 1, 1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return (img - self.mean) / self.std


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

    A copy of VGG19's ``features`` (weights *not* frozen, so every backward also computes weight
    gradients), a normalisation module in front, a ``_ContentLoss``/``_StyleLoss`` module after each
    chosen layer, the network cut after the last of them, and ``torch.optim.LBFGS`` with its
    defaults (max_iter=20, history 100), clamping inside the closure as the tutorial does.
    Differences from the tutorial, so that the objective is exactly stylize's: the Gatys layers
    under their paper names, stylize's weights (α=1, β·w_l=1e4, γ=10 with nstlib's TV term), and
    L-BFGS's ``max_iter`` trimmed on the last call so that exactly ``evals`` evaluations run.
    """

    def __init__(self, content: torch.Tensor, style: torch.Tensor, weights: str = "random",
                 pooling: str = "max") -> None:
        content_w = layer_weights((GATYS_CONTENT_LAYER,))
        style_w = layer_weights(GATYS_STYLE_LAYERS)
        last_index = max(layer_names("vgg19").index(n) for n in (*content_w, *style_w))
        cnn = _build("vgg19", last_index, pooling)
        state = load_vgg_state_dict("vgg19", weights)
        cnn.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                             if int(k.split(".")[1]) <= last_index})
        cnn = copy.deepcopy(cnn).eval()  # the tutorial copies the network; requires_grad stays True
        self.model = nn.Sequential(_Normalization())
        self.content_losses: list[_ContentLoss] = []
        self.style_losses: list[_StyleLoss] = []
        for name, layer in zip(layer_names("vgg19"), cnn.children()):
            if isinstance(layer, nn.ReLU):
                layer = nn.ReLU(inplace=False)
            self.model.add_module(name, layer)
            if name in content_w:
                module = _ContentLoss(self.model(content).detach(), OBJECTIVE["content_weight"] * content_w[name])
                self.model.add_module(f"content_loss_{name}", module)
                self.content_losses.append(module)
            if name in style_w:
                module = _StyleLoss(self.model(style).detach(), OBJECTIVE["style_weight"] * style_w[name])
                self.model.add_module(f"style_loss_{name}", module)
                self.style_losses.append(module)
        self.content = content

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
            loss = style_score + content_score + OBJECTIVE["tv_weight"] * tv_loss(input_img)
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


def run_baseline(content: torch.Tensor, style: torch.Tensor, evals: int) -> dict[str, Any]:
    """Build and run the baseline; wall seconds include building it, as a user would wait."""
    stamps: list[float] = []
    start = time.perf_counter()
    baseline = TutorialBaseline(content, style)
    _, losses = baseline.run(evals, on_eval=lambda i, loss: stamps.append(time.perf_counter()))
    return {"seconds": time.perf_counter() - start, "losses": losses, "per_eval": _median_step(stamps),
            "best_loss": min(losses)}


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
    from nstlib.features import VGGFeatures

    vgg = VGGFeatures(layers=GATYS_STYLE_LAYERS + (GATYS_CONTENT_LAYER,), weights="random", device="cpu",
                      channels_last=True)
    x = torch.rand(1, 3, *size, requires_grad=True)
    best = float("inf")
    for _ in range(repeats + 2):
        t = time.perf_counter()
        sum(f.sum() for f in vgg(x).values()).backward()
        best = min(best, time.perf_counter() - t)
    return best


def time_to_loss(content: torch.Tensor, style: torch.Tensor, target: float, steps: Sequence[int],
                 scales: Sequence[int] | None) -> dict[str, Any]:
    """Wall seconds (whole call) until the full-size loss is <= ``target``; stops there."""
    reached: dict[str, float] = {}
    full = tuple(content.shape[-2:])
    start = time.perf_counter()

    def stop(p: Any) -> bool:
        if tuple(p.image.shape[-2:]) == full and p.loss <= target:
            reached.update(seconds=time.perf_counter() - start, step=p.step)
            return True
        return False

    result = stylize(content, style, steps=tuple(steps) if scales else steps[0], scales=scales, progress=False,
                     weights="random", device=content.device, callback=stop, **OBJECTIVE)
    return {"seconds": reached.get("seconds", float("nan")), "reached": bool(reached),
            "evals": result.steps_done, "final_loss": result.history["total"][-1],
            "stages": result.settings["stages"]}


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
    from nstlib.losses import gram_matrix

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
from nstlib.sources import load_vgg_state_dict
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
def run_notebooks(folder: Path, timeout: int = 900) -> list[dict[str, Any]]:
    """Execute every ``*.ipynb`` in ``folder`` with nbclient in quick mode; seconds per notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    env = {"NSTLIB_QUICK": "1", "NSTLIB_WEIGHTS": "random", "NSTLIB_OFFLINE": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
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
            rows.append({"notebook": path.name, "seconds": time.perf_counter() - t, "status": status})
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
    report["sgemm_gflops"] = rate / 1e9
    say(f"sgemm best: {rate / 1e9:.1f} GFLOP/s")
    for size in args.sizes:
        content, style = _images(size)
        hw = (size, size)
        floor = vgg_flops(hw) / rate
        ours = min(per_eval_seconds(content, style, args.steps) for _ in range(args.repeats))
        base = min(run_baseline(content, style, args.steps)["per_eval"] for _ in range(args.repeats))
        net = _network_seconds(hw, args.repeats)
        report[f"per_eval_{size}"] = {"ours_s": ours, "baseline_s": base, "floor_s": floor, "network_s": net,
                                      "gflop": vgg_flops(hw) / 1e9}
        ratios[f"speedup_vs_baseline@{size}"] = base / ours
        ratios[f"floor_ratio@{size}"] = ours / floor
        say(f"[1] {size}px per evaluation: ours {ours:.3f} s, baseline {base:.3f} s, floor {floor:.3f} s "
            f"({vgg_flops(hw) / 1e9:.1f} GFLOP), VGG alone {net:.3f} s -> speedup {base / ours:.2f}x, "
            f"ours/floor {ours / floor:.3f}")
    size = args.loss_size
    content, style = _images(size)
    base = run_baseline(content, style, args.evals)
    # A pyramid: quarter size, then half size, then the full size until the target is reached.
    coarse = sorted({max(16, size // 4), max(16, size // 2)} - {size})
    coarse_steps = tuple(args.coarse_steps[-len(coarse):]) if coarse else ()
    ms = time_to_loss(content, style, base["best_loss"], steps=(*coarse_steps, args.evals), scales=tuple(coarse))
    single = time_to_loss(content, style, base["best_loss"], steps=(args.evals,), scales=None)
    report["time_to_loss"] = {"size": size, "evals": args.evals, "target_loss": base["best_loss"],
                              "baseline_s": base["seconds"], "multiscale": ms, "single_scale": single}
    ratios[f"time_to_loss_speedup@{size}"] = base["seconds"] / ms["seconds"] if ms["reached"] else 0.0
    ratios[f"time_to_loss_speedup_single_scale@{size}"] = (base["seconds"] / single["seconds"]
                                                           if single["reached"] else 0.0)
    say(f"[2] {size}px, loss {base['best_loss']:.5g} (baseline's best in {args.evals} evals, {base['seconds']:.1f} s): "
        f"coarse-to-fine {'->'.join(map(str, coarse))}->{size} "
        f"{'%.1f s' % ms['seconds'] if ms['reached'] else 'not reached'} "
        f"(stages {ms['stages']}), single scale "
        f"{'%.1f s' % single['seconds'] if single['reached'] else 'not reached'} ({single['evals']} evals)")
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
        rows = run_notebooks(Path(args.notebooks))
        report["notebooks"] = rows
        for row in rows:
            say(f"[5] {row['notebook']}: {row['seconds']:.1f} s ({row['status']})")
        say(f"[5] all {len(rows)} notebooks: {sum(r['seconds'] for r in rows):.1f} s")
    report["load_end"] = _load()
    say(f"load average: start {report['load_start']:.2f}, end {report['load_end']:.2f} "
        f"(2 cores shared; a load above ~2 means the timings are inflated by other work)")
    say("RATIOS")
    for name, value in ratios.items():
        say(f"  {name} = {value:.3f}")
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nstlib.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short smoke run: tiny images, few steps")
    p.add_argument("--sizes", type=int, nargs="+", help="square sizes for the per-evaluation ratios (default 128 256)")
    p.add_argument("--steps", type=int, help="steps per per-evaluation timing (default 12)")
    p.add_argument("--repeats", type=int, help="repeat timings and keep the best (default 2)")
    p.add_argument("--evals", type=int, help="baseline evaluations for time-to-loss (default 300)")
    p.add_argument("--loss-size", type=int, help="size of the time-to-loss run (default 256)")
    p.add_argument("--coarse-steps", type=int, nargs=2, metavar=("QUARTER", "HALF"),
                   help="steps at a quarter and at half the size before refining (default 100 150)")
    p.add_argument("--skip-notebooks", action="store_true", help="do not run notebooks/*.ipynb")
    p.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="folder of notebooks to time")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda adds the GPU suite")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    quick = args.quick
    defaults = dict(sizes=[32] if quick else [128, 256], steps=4 if quick else 12, repeats=1 if quick else 2,
                    evals=8 if quick else 300, loss_size=32 if quick else 256, coarse_steps=[4, 6] if quick else [100, 150])
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.gemm_sizes = (256, 512) if quick else (1024, 2048)
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
