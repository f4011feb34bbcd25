"""The benchmark machinery (nstlib.bench: python -m nstlib.bench) in a tiny smoke configuration. No timing is asserted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
import torchvision

import nstlib as nst
from nstlib.bench import baseline, limits, notebooks, run
from nstlib.weights import hed


def test_vgg_flops_counts_every_convolution() -> None:
    """Oracle: torchvision's vgg19 run on a meta tensor, Σ 2·9·C_in·C_out·H·W read off its conv outputs."""
    with torch.device("meta"):
        features = torchvision.models.vgg19(weights=None).features[: nst.layer_index("vgg19", "relu5_1") + 1]
    flops = []
    for module in features:
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(
                lambda m, i, o: flops.append(2 * 9 * m.in_channels * o.shape[1] * o.shape[2] * o.shape[3])
            )
    features(torch.empty(1, 3, 256, 256, device="meta"))
    assert limits.vgg_flops((256, 256), backward=False) == sum(flops)
    assert limits.vgg_flops((256, 256)) == 2 * sum(flops)
    assert sum(flops) / 1e9 == pytest.approx(47.3, abs=0.05)  # ../shared/ENVIRONMENT.md


def test_sgemm_rate_is_positive() -> None:
    assert limits.sgemm_rate((64,), repeats=1) > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_conv_rate_counts_the_flops_of_the_convolutions_it_times(dtype: torch.dtype, monkeypatch) -> None:
    """Oracle: with a clock that advances one second per call pair, the rate is exactly 2·9·C²·H·W per second."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(limits.time, "perf_counter", lambda: float(next(ticks)))
    assert limits.conv_rate(dtype, shapes=((8, 16),), repeats=2) == 2 * 9 * 8 * 8 * 16 * 16  # whole numbers: exact


def test_slides_design_on_hed_has_jcjohnsons_weights() -> None:
    assert baseline.SLIDES_HED == dict(
        weights="hed", arch="vgg16", content_weight=5.0, style_weight=100.0, tv_weight=0.0
    )
    c, s = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 48, 48)
    tutorial = baseline.TutorialBaseline(
        c, s, weights="random", arch="vgg16", content_weight=5.0, style_weight=100.0, tv_weight=0.0
    )
    assert [m.weight for m in tutorial.style_losses] == [100.0] * 5 and tutorial.content_losses[0].weight == 5.0
    _, losses = tutorial.run(2)
    assert len(losses) == 2


def test_baseline_is_the_slides_design_and_minimises_the_same_objective(
    content_image: torch.Tensor, style_image: torch.Tensor
) -> None:
    c, s = nst.resize_image(content_image, (32, 32)), nst.resize_image(style_image, (32, 32))
    tutorial = baseline.TutorialBaseline(c, s)
    names = [name for name, _ in tutorial.model.named_children()]
    assert names[0] == "0" and "content_loss_relu4_2" in names and names[-1] == "style_loss_relu5_1"
    assert [n for n in names if n.startswith("style_loss")] == [f"style_loss_{n}" for n in nst.GATYS_STYLE_LAYERS]
    convs = [m for m in tutorial.model if isinstance(m, torch.nn.Conv2d)]
    assert all(p.requires_grad for m in convs for p in m.parameters()), "the slides' weights are not frozen"
    _, losses = tutorial.run(7)
    assert len(losses) == 7  # exactly the requested evaluations, though L-BFGS runs 20 per call
    assert convs[0].weight.grad is not None  # the wasted work: weight gradients every evaluation
    ours = nst.stylize(c, s, steps=1, weights="random", device="cpu", progress=False, **baseline.OBJECTIVE)
    assert losses[0] == pytest.approx(ours.history["total"][0], rel=1e-5)


def test_notebooks_are_discovered_and_run_in_quick_mode(tmp_path: Path) -> None:
    good = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import os, nstlib\nassert os.environ['NSTLIB_QUICK'] == '1' and os.path.basename(os.getcwd()) == "
                f"{tmp_path.name!r}"
            )
        ]
    )
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('broken lesson')")])
    for name, nb in (("01_good.ipynb", good), ("02_bad.ipynb", bad)):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / name)
    rows = notebooks.run_notebooks(tmp_path, timeout=120)
    assert [r["notebook"] for r in rows] == ["01_good.ipynb", "02_bad.ipynb"]
    assert rows[0]["status"] == "ok" and "broken lesson" in rows[1]["status"]
    assert all(r["seconds"] > 0 for r in rows)


def test_quick_bench_reports_every_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    report = run.main(
        ["--quick", "--sizes", "32", "--steps", "3", "--evals", "4", "--skip-notebooks", "--json", str(out)]
    )
    text = capsys.readouterr().out
    block = text.split("RATIOS", 1)[1]
    for name in run.RATIOS:
        if name.startswith("time_to_quality") and hed.hed_file() is None:
            continue  # needs HED's weights (make setup installs them)
        assert re.search(rf"^\s+{name}@\d+ = \d+\.\d+$", block, re.M), name
    assert "speedup_vs_baseline@32" in report["ratios"] and "load average" in text
    saved = json.loads(out.read_text())
    assert saved["ratios"] == pytest.approx(report["ratios"])
    assert saved["per_eval_32"]["limit_fp32_s"] > 0 and saved["per_eval_32"]["limit_bf16_s"] > 0
    if hed.hed_file() is None:  # HED's weights are not installed: the bench says so and goes on
        assert "time to a good picture: skipped" in text
        return
    rows = saved["time_to_quality_32"]["rows"]
    assert rows["slides"]["evals"] == 4 and set(rows) == {"slides", "defaults", "matched"}
    assert all(0 < rows[k]["seconds"] and -1 <= rows[k]["edges"] <= 1 for k in rows)
    assert "at least as good" in text or "NOT as good" in text


FLAGS = (
    "--quick",
    "--sizes",
    "--steps",
    "--repeats",
    "--evals",
    "--quality-sizes",
    "--skip-notebooks",
    "--notebooks-mode",
    "--notebooks",
    "--device",
    "--json",
)


def test_python_m_nstlib_bench_takes_the_same_flags_anywhere(tmp_path: Path) -> None:
    """``python -m nstlib.bench --help`` from a folder outside the course: the flags, and no course folder needed."""
    env = {k: v for k, v in os.environ.items() if k != "NSTLIB_COURSE"}
    env["PYTHONPATH"] = str(Path(nst.__file__).resolve().parents[1])  # this nstlib, wherever the test runs
    done = subprocess.run(
        [sys.executable, "-m", "nstlib.bench", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m nstlib.bench ")
    assert set(re.findall(r"--[a-z][a-z-]*", done.stdout)) == {"--help", *FLAGS}
