"""Benchmarks, as ratios measured in one run: ``python -m nstlib.bench`` (see BENCHMARKS.md).

This module is the report: :func:`run` measures everything :mod:`nstlib.bench` describes, one section after
another, prints each figure as it comes and every ratio at the end; :func:`main` reads the command line.
Only ratios and seconds are printed; nothing here asserts on time.

    python -m nstlib.bench                   # the full CPU run (about 45 minutes on two cores)
    python -m nstlib.bench --quick           # a short smoke run (tiny sizes, few steps)
    python -m nstlib.bench --sizes 128 256 --skip-notebooks --json bench.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from nstlib.bench.baseline import bench_images, network_seconds, per_eval_seconds, run_baseline
from nstlib.bench.choices import batch_gain, layout_and_gram
from nstlib.bench.gpu import gpu_suite
from nstlib.bench.limits import CONV_SHAPES, conv_rate, sgemm_rate, vgg_flops
from nstlib.bench.memory import measured_peak_cpu
from nstlib.bench.notebooks import run_notebooks
from nstlib.bench.time_to_quality import TOLERANCE, time_to_quality
from nstlib.course.files import course_folder
from nstlib.optim.memory import estimate_memory
from nstlib.optim.schedule import native_bf16

__all__ = ["RATIOS", "run", "main"]

RATIOS = (
    "limit_ratio_fp32",
    "limit_ratio_bf16",
    "bf16_gain",
    "speedup_vs_baseline",
    "time_to_quality_speedup",
    "time_to_quality_speedup_matched",
    "batch_gain",
    "channels_last_gain",
    "gram_backward_gain",
    "memory_ratio",
)


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _limits(
    args: argparse.Namespace, report: dict[str, Any], say: Callable[[str], None]
) -> tuple[float, dict[str, float]]:
    """[limit] the machine's best 3×3 convolution (fp32, bf16) and sgemm rates, in FLOP/s."""
    rate = sgemm_rate(args.gemm_sizes, repeats=args.repeats + 2)
    conv = {
        "fp32": conv_rate(torch.float32, args.conv_shapes, args.repeats + 3),
        "bf16": conv_rate(torch.bfloat16, args.conv_shapes, args.repeats + 3),
    }
    native = native_bf16("cpu")
    report.update(sgemm_gflops=rate / 1e9, conv_gflops={k: v / 1e9 for k, v in conv.items()}, native_bf16=native)
    say(
        f"limit: best 3x3 convolution {conv['fp32'] / 1e9:.0f} GFLOP/s fp32, {conv['bf16'] / 1e9:.0f} GFLOP/s bf16 "
        f"({'native' if native else 'emulated: no avx512_bf16/AMX'}); sgemm (reference) {rate / 1e9:.0f} GFLOP/s"
    )
    return rate, conv


def _per_evaluation(
    args: argparse.Namespace, report: dict[str, Any], say: Callable[[str], None], rate: float, conv: dict[str, float]
) -> None:
    """[1] seconds per loss evaluation, fp32 and bf16, against the limit and the original design."""
    ratios = report["ratios"]
    for size in args.sizes:
        content, style = bench_images(size)
        hw = (size, size)
        work = vgg_flops(hw)
        limit = {k: work / v for k, v in conv.items()}
        ours = {
            p: min(per_eval_seconds(content, style, args.steps, precision=p) for _ in range(args.repeats))
            for p in ("fp32", "bf16")
        }
        base = min(run_baseline(content, style, args.steps)["per_eval"] for _ in range(args.repeats))
        net = network_seconds(hw, args.repeats)
        report[f"per_eval_{size}"] = {
            "ours_fp32_s": ours["fp32"],
            "ours_bf16_s": ours["bf16"],
            "baseline_s": base,
            "limit_fp32_s": limit["fp32"],
            "limit_bf16_s": limit["bf16"],
            "sgemm_floor_s": work / rate,
            "network_s": net,
            "gflop": work / 1e9,
        }
        ratios[f"limit_ratio_fp32@{size}"] = ours["fp32"] / limit["fp32"]
        ratios[f"limit_ratio_bf16@{size}"] = ours["bf16"] / limit["bf16"]
        ratios[f"bf16_gain@{size}"] = ours["fp32"] / ours["bf16"]
        ratios[f"speedup_vs_baseline@{size}"] = base / ours["fp32"]
        say(
            f"[1] {size}px per evaluation ({work / 1e9:.1f} GFLOP): fp32 {ours['fp32']:.3f} s vs limit "
            f"{limit['fp32']:.3f} s -> {ours['fp32'] / limit['fp32']:.2f}x; bf16 {ours['bf16']:.3f} s vs limit "
            f"{limit['bf16']:.3f} s -> {ours['bf16'] / limit['bf16']:.2f}x; VGG alone (fp32) {net:.3f} s; "
            f"at sgemm's rate {work / rate:.3f} s; slides' baseline {base:.3f} s ({base / ours['fp32']:.2f}x ours)"
        )


def _time_to_quality(args: argparse.Namespace, report: dict[str, Any], say: Callable[[str], None]) -> None:
    """[2] time to a picture as good as the original design's (needs HED's weights)."""
    ratios = report["ratios"]
    for size in args.quality_sizes:
        try:
            quality = time_to_quality(size, args.evals)
        except Exception as exc:  # HED's weights not installed: say so and go on
            say(f"[2] {size}px time to a good picture: skipped ({str(exc).splitlines()[0][:160]})")
            continue
        report[f"time_to_quality_{size}"] = quality
        rows = quality["rows"]
        bar = rows["slides"]
        # 0 when the picture is not at least as good: a speed-up to a worse picture is none.
        ratios[f"time_to_quality_speedup@{size}"] = rows["defaults"]["speedup"] if rows["defaults"]["as_good"] else 0.0
        ratios[f"time_to_quality_speedup_matched@{size}"] = (
            rows["matched"]["speedup"] if rows["matched"]["as_good"] else 0.0
        )
        say(
            f"[2] {size}px ({quality['size'][0]}x{quality['size'][1]}), HED VGG-16, Tübingen x The Scream: the slides' design "
            f"{bar['evals']} evals {bar['seconds']:.1f} s: held-out style {bar['style']:.3f}, edges {bar['edges']:.3f}, layout {bar['layout']:.3f}, "
            f"colours {bar['colours']:.4f}"
        )
        for name in rows:
            if name == "slides":
                continue
            row = rows[name]
            say(
                f"[2]   stylize {name} {row['options'] or ''} ({row['precision']}, stages {row['stages']}): "
                f"{row['seconds']:.1f} s, {row['speedup']:.1f}x faster; style {row['style']:.3f}, edges "
                f"{row['edges']:.3f}, layout {row['layout']:.3f}, colours {row['colours']:.4f} -> "
                f"{'at least as good' if row['as_good'] else 'NOT as good'} (tolerance {TOLERANCE:.0%})"
            )


def _batch_and_layout(args: argparse.Namespace, report: dict[str, Any], say: Callable[[str], None]) -> None:
    """[3] batched variants against one by one; [3b] channels_last and the Gram's backward."""
    ratios = report["ratios"]
    batch = batch_gain(*bench_images(args.batch_size), steps=args.batch_steps)
    report["batch"] = batch
    ratios[f"batch_gain@{args.batch_size}"] = batch["gain"]
    say(
        f"[3] 5 Adam variants at {args.batch_size}px x {args.batch_steps} steps: batched {batch['batched_s']:.1f} s, "
        f"one by one {batch['sequential_s']:.1f} s -> gain {batch['gain']:.2f}x (final losses agree to {batch['loss_rel_diff']:.1g})"
    )
    extra = layout_and_gram(args.layout_size, args.steps, args.repeats)
    report["layout_and_gram"] = extra
    ratios[f"channels_last_gain@{args.layout_size}"] = extra["channels_last_gain"]
    ratios[f"gram_backward_gain@{args.layout_size}"] = extra["gram_gain"]
    say(
        f"[3b] {args.layout_size}px per evaluation: channels_last {extra['per_eval_channels_last_s']:.3f} s, NCHW "
        f"{extra['per_eval_nchw_s']:.3f} s -> {extra['channels_last_gain']:.2f}x; Gram of relu1_1 forward+backward: "
        f"one-matmul {extra['gram_ours_s'] * 1e3:.1f} ms, autograd {extra['gram_autograd_s'] * 1e3:.1f} ms -> "
        f"{extra['gram_gain']:.2f}x"
    )


def _memory(args: argparse.Namespace, report: dict[str, Any], say: Callable[[str], None]) -> None:
    """[4] the memory estimate against the measured peak (Linux only)."""
    ratios = report["ratios"]
    has_proc = Path("/proc/self/clear_refs").exists()
    if not has_proc:
        say("[4] memory: skipped (measuring a call's peak resident memory needs Linux's /proc)")
    for size in args.memory_sizes if has_proc else ():
        peak = measured_peak_cpu(size, steps=2)
        est = estimate_memory(size, history_size=1).total  # after 2 steps L-BFGS holds one pair
        report[f"memory_{size}"] = {
            "measured_MiB": peak / 2**20,
            "estimate_MiB": est / 2**20,
            "estimate_full_history_MiB": estimate_memory(size).total / 2**20,
        }
        ratios[f"memory_ratio@{size}"] = est / max(peak, 1)
        say(
            f"[4] memory at {size}px, 2 steps: estimate {est / 2**20:.0f} MiB, measured peak RSS added "
            f"{peak / 2**20:.0f} MiB -> estimate/measured {est / max(peak, 1):.2f} (with L-BFGS's full history "
            f"the estimate is {estimate_memory(size).total / 2**20:.0f} MiB)"
        )


def _gpu_and_notebooks(args: argparse.Namespace, report: dict[str, Any], say: Callable[[str], None]) -> None:
    """[GPU] the CUDA suite when asked; [5] every lesson's run time."""
    if args.device == "cuda":
        report["gpu"] = gpu_suite(args.gpu_sizes, args.gpu_steps)
        say(f"[GPU] {json.dumps(report['gpu'], indent=1, default=str)}")
    if not args.skip_notebooks:
        folder = Path(args.notebooks) if args.notebooks else course_folder() / "notebooks"
        rows = run_notebooks(folder, mode=args.notebooks_mode)
        report["notebooks"] = rows
        for row in rows:
            say(f"[5] {row['notebook']} ({args.notebooks_mode}): {row['seconds']:.1f} s ({row['status']})")
        say(f"[5] all {len(rows)} notebooks ({args.notebooks_mode}): {sum(r['seconds'] for r in rows):.1f} s")


def run(args: argparse.Namespace, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark described by ``args`` (see :func:`main`); returns every figure."""
    report: dict[str, Any] = {
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_start": _load(),
        "ratios": {},
    }
    say(
        f"nstlib bench {report['date']}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load {report['load_start']:.2f}"
    )
    rate, conv = _limits(args, report, say)
    _per_evaluation(args, report, say, rate, conv)
    _time_to_quality(args, report, say)
    _batch_and_layout(args, report, say)
    _memory(args, report, say)
    _gpu_and_notebooks(args, report, say)
    report["load_end"] = _load()
    say(
        f"load average: start {report['load_start']:.2f}, end {report['load_end']:.2f} "
        f"(2 cores shared; a load above ~2 means the timings are inflated by other work)"
    )
    say("RATIOS")
    for name, value in report["ratios"].items():
        say(f"  {name} = {value:.3f}")
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nstlib.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short smoke run: tiny images, few steps")
    p.add_argument("--sizes", type=int, nargs="+", help="square sizes for the per-evaluation ratios (default 128 256)")
    p.add_argument("--steps", type=int, help="steps per per-evaluation timing (default 12)")
    p.add_argument("--repeats", type=int, help="repeat timings and keep the best (default 2)")
    p.add_argument(
        "--evals", type=int, help="the slides' design's evaluations in the time-to-quality runs (default 300)"
    )
    p.add_argument(
        "--quality-sizes", type=int, nargs="*", help="long sides of the time-to-quality runs (default 256 512)"
    )
    p.add_argument("--skip-notebooks", action="store_true", help="do not run notebooks/*.ipynb")
    p.add_argument(
        "--notebooks-mode",
        choices=("laptop", "quick"),
        default="laptop",
        help="laptop: the lessons as a learner runs them on a CPU (default); quick: CI's quick mode",
    )
    p.add_argument("--notebooks", help="folder of notebooks to time (default: notebooks/ of the course folder)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda adds the GPU suite")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m nstlib.bench``: read the flags (``--quick`` picks smaller defaults), run, write ``--json``."""
    args = _parser().parse_args(argv)
    quick = args.quick
    defaults = dict(
        sizes=[32] if quick else [128, 256],
        steps=4 if quick else 12,
        repeats=1 if quick else 2,
        evals=8 if quick else 300,
        quality_sizes=[32] if quick else [256, 512],
    )
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
