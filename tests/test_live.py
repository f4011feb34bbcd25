"""LiveView (throttled live display as a progress callback) and run traces saved as JSON."""

from __future__ import annotations

import io
import json
import math
import os
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import nstlib as nst
from nstlib.course import live
from nstlib.course.live import LiveView, Trace, load_trace, save_trace, trace_of
from nstlib.optim.loop import Progress


def _progress(step: int, steps: int = 10, image: torch.Tensor | None = None, **losses: float) -> Progress:
    losses = losses or {"content": 1.0 / step, "style": 2.0 / step, "style:relu1_1": 2.0 / step, "tv": 0.1}
    total = sum(v for k, v in losses.items() if ":" not in k)
    return Progress(
        step, steps, total, {"total": total, **losses}, torch.rand(1, 3, 20, 30) if image is None else image, 0.0
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def small(content_image: torch.Tensor, style_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return nst.resize_image(content_image, 32), nst.resize_image(style_image, 32)


SHALLOW = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), weights="random", progress=False)


def test_records_exactly_what_the_loop_records(small):
    frames: list[bytes] = []
    view = LiveView(every=2, on_frame=frames.append)
    result = nst.stylize(*small, steps=3, callback=view, **SHALLOW)
    assert view.history.keys() == result.history.keys()
    for key, values in result.history.items():
        assert view.history[key] == pytest.approx(values, rel=0, abs=0), key  # like with like: the same floats
    assert view.step_numbers == [1, 2, 3] and view.steps_planned == 3
    assert view.frames == len(frames) == 3  # step 1 (first), 2 (every 2nd), 3 (last)
    picture = Image.open(io.BytesIO(frames[-1]))
    assert picture.format == "PNG" and picture.size == (800, 240)  # figsize (10, 3) at 80 dpi


def test_stop_ends_the_run_and_keeps_the_result(small):
    view = LiveView(mode="none")
    view.stop()
    result = nst.reconstruct(small[0], "relu2_1", steps=50, weights="random", progress=False, callback=view)
    assert result.steps_done == 1 and len(result.history["total"]) == 1
    assert result.image.shape == small[0].shape
    view.reset()
    assert not view.stop_requested and view.history == {}


def test_clock_throttle_draws_first_and_last_only():
    view = LiveView(interval=1e9, on_frame=lambda png: None)
    for step in range(1, 11):
        view(_progress(step))
    assert view.frames == 2


def test_overhead_budget_spaces_out_expensive_frames(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(live, "time", clock)
    drawn: list[int] = []
    view = LiveView(interval=0.0, max_overhead=0.1, on_frame=lambda png: None)

    def slow_draw() -> None:  # every frame "costs" 0.5 s
        drawn.append(view.step_numbers[-1])
        clock.now += 0.5

    monkeypatch.setattr(view, "draw", slow_draw)
    for step in range(1, 21):  # each step takes 1 s
        clock.now += 1.0
        view(_progress(step, steps=20))
    # After a 0.5 s frame the next may come 0.5 * (1/0.1 - 1) = 4.5 s later: 5 steps on.
    assert drawn == [1, 6, 11, 16, 20]
    assert view.draw_seconds == pytest.approx(0.5 * len(drawn))


def test_any_progress_like_object_works_and_late_components_are_padded():
    frames: list[bytes] = []
    view = LiveView(every=1, on_frame=frames.append)
    # deepdream-like: no "total" in .losses, components that appear later, image sizes that change (octaves)
    view(SimpleNamespace(step=1, steps=3, loss=0.5, losses={"dream:relu3_3": 0.5}, image=torch.rand(1, 3, 16, 16)))
    view(
        SimpleNamespace(
            step=2,
            steps=3,
            loss=0.9,
            losses={"dream:relu3_3": 0.6, "dream:relu4_2": 0.3},
            image=torch.rand(1, 3, 24, 24),
        )
    )
    view(SimpleNamespace(step=3, steps=3, loss=-0.2, losses={"dream:relu3_3": -0.2}, image=torch.rand(2, 3, 24, 24)))
    assert view.history["total"] == [0.5, 0.9, -0.2]
    assert math.isnan(view.history["dream:relu4_2"][0]) and view.history["dream:relu4_2"][1] == 0.3
    assert math.isnan(view.history["dream:relu4_2"][2])
    assert len(frames) == 3 and all(Image.open(io.BytesIO(f)).format == "PNG" for f in frames)
    fig = view.figure()
    groups_axis, layers_axis = fig.axes[1], fig.axes[2]
    assert groups_axis.get_yscale() == "linear"  # a negative loss: no log axis
    assert sorted(line.get_label() for line in layers_axis.get_lines()) == ["dream:relu3_3", "dream:relu4_2"]
    assert fig.axes[0].images[0].get_array().shape == (24, 24, 3)


def test_text_mode_prints_one_line_per_frame(capsys):
    view = LiveView(mode="text", every=5)
    for step in range(1, 8):
        view(_progress(step, steps=7))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["1/7", "5/7", "7/7"]
    assert "style 0.2857" in lines[-1]


def test_outside_jupyter_auto_mode_records_but_shows_nothing(capsys):
    view = LiveView()
    assert view.mode == "none"
    for step in range(1, 4):
        view(_progress(step, steps=3))
    assert view.frames == 0 and len(view.history["total"]) == 3
    assert capsys.readouterr().out == ""


def test_notebook_mode_updates_one_display_in_place(monkeypatch):
    import IPython.display

    calls: list[tuple[str, object]] = []

    class Handle:
        def update(self, obj: object) -> None:
            calls.append(("update", obj))

    def fake_display(obj: object, display_id: bool = False) -> Handle:
        calls.append(("display", obj))
        assert display_id is True
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    view = LiveView(mode="notebook", every=1)
    for step in range(1, 4):
        view(_progress(step, steps=3))
    assert [kind for kind, _ in calls] == ["display", "update", "update"]
    assert calls[-1][1].data.startswith(b"\x89PNG")


@pytest.mark.parametrize("bad", [dict(mode="html"), dict(interval=-1), dict(every=0), dict(max_overhead=0)])
def test_bad_options_are_refused(bad):
    with pytest.raises(nst.InputError):
        LiveView(**bad)


def test_trace_round_trip(small, tmp_path):
    result = nst.stylize(*small, steps=2, **SHALLOW)
    path = save_trace(result, tmp_path / "runs" / "trace.json")
    trace = load_trace(path)
    assert isinstance(trace, Trace)
    assert trace.history == result.history
    assert trace.steps_done == 2 and trace.seconds == pytest.approx(result.seconds)
    assert trace.settings["style_layers"] == result.settings["style_layers"]
    assert trace.settings["size"] == list(result.settings["size"])  # tuples come back as lists
    assert json.loads(path.read_text())["format"] == "nstlib-trace"
    fig = nst.plot_losses(trace.history)
    assert {line.get_label() for line in fig.axes[0].get_lines()} == {"total", "content", "style", "tv"}
    assert [p.name for p in path.parent.iterdir()] == ["trace.json"]  # no temporary file left behind


def test_trace_keeps_existing_files_unless_asked(tmp_path):
    path = tmp_path / "trace.json"
    save_trace({"total": [3.0, 2.0]}, path)
    with pytest.raises(nst.OutputError, match="already exists"):
        save_trace({"total": [1.0]}, path)
    assert load_trace(path).history == {"total": [3.0, 2.0]}
    save_trace({"total": [1.0]}, path, overwrite=True)
    assert load_trace(path).history == {"total": [1.0]}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual permissions, not a temp file's private 0600
    with pytest.raises(nst.OutputError, match=".json"):
        save_trace({"total": [1.0]}, tmp_path / "trace.png")
    (tmp_path / "runs.json").mkdir()
    with pytest.raises(nst.OutputError, match="folder"):
        save_trace({"total": [1.0]}, tmp_path / "runs.json")


def test_trace_of_a_live_view_with_gaps(tmp_path):
    view = LiveView(mode="none")
    view(SimpleNamespace(step=1, steps=2, loss=1.0, losses={"a": 1.0}, image=torch.rand(1, 3, 8, 8)))
    view(
        SimpleNamespace(step=2, steps=2, loss=float("inf"), losses={"a": 0.5, "b": 0.25}, image=torch.rand(1, 3, 8, 8))
    )
    path = save_trace(view, tmp_path / "view.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON: non-finite values are null
    trace = load_trace(path)
    assert trace.history["a"] == [1.0, 0.5] and trace.steps_done == 2 and trace.settings == {"steps": 2}
    assert math.isnan(trace.history["b"][0]) and trace.history["b"][1] == 0.25
    assert math.isnan(trace.history["total"][1])
    assert trace_of(trace) is trace
    fig = trace.plot(keys=["a"])
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["a"]


def test_bad_trace_files_say_what_is_wrong(tmp_path):
    with pytest.raises(nst.InputError, match="does not exist"):
        load_trace(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{ not json")
    with pytest.raises(nst.InputError, match="not a JSON trace"):
        load_trace(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text('{"total": [1, 2]}')
    with pytest.raises(nst.InputError, match="not an nstlib trace"):
        load_trace(tmp_path / "other.json")
    with pytest.raises(nst.InputError, match="Cannot make a trace"):
        trace_of(42)


def test_log_axis_only_for_curves_spanning_decades():
    view = LiveView(mode="none")
    for step in range(1, 4):  # totals: tv 0.1 ... total 3.1, a decade and more; style:relu1_1 2 ... 0.67, less
        view(_progress(step, steps=30))
    assert [ax.get_yscale() for ax in view.figure().axes[1:]] == ["log", "linear"]
    for step in range(4, 31):  # style:relu1_1 down to 0.067: now it spans more than a decade too
        view(_progress(step, steps=30))
    assert [ax.get_yscale() for ax in view.figure().axes[1:]] == ["log", "log"]
