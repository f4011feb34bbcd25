"""Watching an optimisation while it runs, and keeping a record of it afterwards.

:class:`LiveView` is a progress callback (``callback(progress)`` after every step, True means stop)
for ``stylize``, ``reconstruct``, ``deepdream`` or any loop that hands it an object with ``.step``,
``.steps``, ``.loss``, ``.losses`` (a dict) and ``.image``. It records every loss at every step
(cheap) and redraws one figure — the current image beside the loss curves, one per component —
at most every ``interval`` seconds (costly, so throttled). In Jupyter the figure updates in place;
elsewhere it prints a line or stays silent.

A *trace* is a run's losses per step plus its settings, saved as JSON so it can be re-plotted later:

    >>> import nstlib as nst
    >>> content = nst.load_image("images/tubingen.jpg", size=48)
    >>> style = nst.load_image("images/starry_night.jpg", size=48)
    >>> view = LiveView(interval=2.0)
    >>> result = nst.stylize(content, style, steps=3, callback=view, progress=False)
    >>> nst.save_trace(result, "outputs/run.json")
    PosixPath('outputs/run.json')
    >>> len(nst.load_trace("outputs/run.json").history["total"])
    3
    >>> fig = nst.plot_losses(nst.load_trace("outputs/run.json").history)
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from nstlib.errors import InputError, OutputError
from nstlib.images import write_atomically
from nstlib.version import __version__

__all__ = ["LiveView", "Trace", "save_trace", "load_trace", "trace_of"]

TRACE_FORMAT = "nstlib-trace"
TRACE_VERSION = 1
_MODES = ("auto", "notebook", "text", "none")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where rich display works), False in a terminal or a script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _is_total(key: str) -> bool:
    return ":" not in key  # "total", "content", "style", "tv", ... (per-layer keys are "group:layer")


class LiveView:
    """A throttled live display for an optimisation loop; pass it as ``callback=``.

    Args:
        interval: redraw at most every this many seconds (the first and the last step are always drawn).
        max_overhead: and at most this fraction of the run's time: after a redraw that took d seconds
            the next waits at least d · (1/max_overhead − 1) seconds (one frame costs ~0.1–0.2 s on a CPU).
        every: redraw every this many steps instead of by the clock (deterministic; handy in tests).
        mode: ``"auto"`` (a figure updating in place in Jupyter, nothing elsewhere), ``"notebook"``,
            ``"text"`` (one printed line per redraw) or ``"none"`` (record only).
        on_frame: receives each redrawn figure as PNG bytes instead of displaying it (e.g. to set an
            ``ipywidgets.Image``'s ``value``); overrides ``mode``.
        figsize, dpi: size of the figure.

    After the run, ``view.history`` holds every recorded loss per step (like ``TransferResult.history``),
    ``view.frames`` the number of redraws and ``view.draw_seconds`` the time they took. ``view.stop()``
    (thread-safe) makes the next callback return True, which ends the loop and keeps its result.
    """

    def __init__(
        self,
        interval: float = 2.0,
        max_overhead: float = 0.05,
        every: int | None = None,
        mode: str = "auto",
        on_frame: Callable[[bytes], None] | None = None,
        figsize: tuple[float, float] = (10.0, 3.0),
        dpi: int = 80,
    ) -> None:
        if mode not in _MODES:
            raise InputError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}.")
        if interval < 0 or not 0 < max_overhead <= 1 or (every is not None and every < 1):
            raise InputError(
                f"need interval >= 0, 0 < max_overhead <= 1 and every >= 1, got interval={interval}, "
                f"max_overhead={max_overhead}, every={every}."
            )
        if on_frame is not None:
            mode = "frame"
        elif mode == "auto":
            mode = "notebook" if in_notebook() else "none"
        self.mode, self.interval, self.every, self.on_frame = mode, float(interval), every, on_frame
        self.max_overhead = float(max_overhead)
        self.figsize, self.dpi = figsize, dpi
        self._stop = threading.Event()
        self.reset()

    # -- recording -------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the recorded history (the figure is rebuilt on the next draw)."""
        self.history: dict[str, list[float]] = {}
        self.step_numbers: list[int] = []
        self.steps_planned = 0
        self.last_image: torch.Tensor | None = None
        self.frames = 0
        self.draw_seconds = 0.0
        self._last_draw, self._last_cost = -math.inf, 0.0
        self._figure: Figure | None = None
        self._handle: Any = None
        self._stop.clear()

    def stop(self) -> None:
        """Ask the loop to stop after the current step (the run keeps its best image)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def _record(self, progress: Any) -> None:
        losses = {str(k): float(v) for k, v in dict(progress.losses).items()}
        losses.setdefault("total", float(progress.loss))
        n = len(self.step_numbers)
        for key in losses:
            if key not in self.history:  # a component that appears late: pad the past
                self.history[key] = [math.nan] * n
        for key, values in self.history.items():
            values.append(losses.get(key, math.nan))
        self.step_numbers.append(int(progress.step))
        self.steps_planned = int(progress.steps)

    def __call__(self, progress: Any) -> bool:
        self._record(progress)
        self.last_image = progress.image
        now = time.perf_counter()
        last = progress.step >= progress.steps or self.stop_requested
        if self.every is not None:
            due = progress.step % self.every == 0 or self.frames == 0
        else:
            wait = max(self.interval, self._last_cost * (1.0 / self.max_overhead - 1.0))
            due = now - self._last_draw >= wait
        if self.mode != "none" and (due or last):
            self.draw()
            self._last_draw = time.perf_counter()
            self._last_cost = self._last_draw - now
            self.draw_seconds += self._last_cost
        return self.stop_requested

    # -- drawing ---------------------------------------------------------------------------
    def figure(self) -> Figure:
        """The current figure (image + loss curves), brought up to date; not managed by pyplot."""
        groups = [k for k in self.history if _is_total(k)]
        layers = [k for k in self.history if not _is_total(k)]
        if self._figure is None or len(self._figure.axes) != (3 if layers else 2):
            self._figure = self._build(bool(layers))
        fig = self._figure
        ax_image, ax_groups, *ax_layers = fig.axes
        if self.last_image is not None:
            picture = self.last_image.detach()[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            shown = ax_image.images[0].get_array() if ax_image.images else None
            if shown is not None and shown.shape == picture.shape:
                ax_image.images[0].set_data(picture)
            else:
                ax_image.clear()
                ax_image.axis("off")
                ax_image.imshow(picture)
        ax_image.set_title(
            f"step {self.step_numbers[-1] if self.step_numbers else 0} / {self.steps_planned}", fontsize=9
        )
        self._curves(ax_groups, groups, "loss (totals)")
        if ax_layers:
            self._curves(ax_layers[0], layers, "per layer")
        return fig

    def _build(self, with_layers: bool) -> Figure:
        fig = Figure(figsize=self.figsize, dpi=self.dpi)
        FigureCanvasAgg(fig)
        ratios = [1.0, 1.6, 1.6] if with_layers else [1.0, 2.0]
        grid = fig.add_gridspec(
            1, len(ratios), width_ratios=ratios, left=0.02, right=0.99, bottom=0.15, top=0.9, wspace=0.28
        )
        for i in range(len(ratios)):
            fig.add_subplot(grid[0, i])
        fig.axes[0].axis("off")
        return fig

    def _curves(self, ax: Any, keys: list[str], title: str) -> None:
        lines = {line.get_label(): line for line in ax.get_lines()}
        x = np.asarray(self.step_numbers)
        low, high = math.inf, -math.inf
        if not lines:  # first time: labels and grid
            ax.set_xlabel("step", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
            ax.set_title(title, fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        for key in keys:
            y = np.asarray(self.history[key], dtype=float)
            finite = y[np.isfinite(y)]
            if finite.size:
                low, high = min(low, float(finite.min())), max(high, float(finite.max()))
            if key in lines:
                lines[key].set_data(x, y)
            else:
                ax.plot(x, y, label=key, linewidth=2.0 if key == "total" else 1.2)
        if set(keys) - set(lines):  # new components: (re)draw the legend
            ax.legend(fontsize=6, loc="upper right", ncol=1 + len(keys) // 6)
        ax.set_yscale("log" if 0 < low and high >= 10 * low else "linear")  # log only when spanning decades
        ax.relim()
        ax.autoscale_view()

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        canvas = cast(FigureCanvasAgg, self.figure().canvas)  # _build gave every figure an Agg canvas
        canvas.draw()  # one Agg render, then a fast PNG encode (savefig would render twice as long)
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert(
            "RGB"
        ).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def _text(self) -> str:
        parts = [f"step {self.step_numbers[-1]}/{self.steps_planned}"]
        parts += [f"{k} {v[-1]:.4g}" for k, v in self.history.items() if _is_total(k)]
        return "  ".join(parts)

    def draw(self) -> None:
        """Redraw now, whatever the throttle says."""
        if not self.step_numbers:
            return
        self.frames += 1
        if self.mode == "text":
            print(self._text(), flush=True)
        elif self.mode == "frame":
            assert self.on_frame is not None  # __init__ sets mode "frame" only with an on_frame
            self.on_frame(self.png())
        elif self.mode == "notebook":
            from IPython.display import Image as PNG
            from IPython.display import display

            frame = PNG(data=self.png(), format="png")
            if self._handle is None:
                self._handle = display(frame, display_id=True)
            else:
                self._handle.update(frame)


# -- traces -------------------------------------------------------------------------------------
@dataclass
class Trace:
    """A run's record: losses per step (``history``, as in ``TransferResult``) and its settings."""

    history: dict[str, list[float]]
    settings: dict[str, Any] = field(default_factory=dict)
    steps_done: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    recoveries: int = 0
    created: str = ""  # ISO 8601 time the trace was made

    def plot(self, keys: list[str] | None = None, log: bool = True, ax: Any = None) -> Figure:
        """The loss curves, drawn by :func:`nstlib.plot_losses`."""
        from nstlib.course.plotting import plot_losses

        return plot_losses(self.history, keys=keys, log=log, ax=ax)


def trace_of(run: Any) -> Trace:
    """A :class:`Trace` from a ``TransferResult`` (or any result with ``.history``), a :class:`LiveView`,
    a Trace, or a plain ``{name: [loss per step]}`` mapping."""
    if isinstance(run, Trace):
        return run
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if isinstance(run, LiveView):
        return Trace(
            {k: list(v) for k, v in run.history.items()},
            {"steps": run.steps_planned},
            steps_done=len(run.step_numbers),
            created=stamp,
        )
    if isinstance(run, Mapping):
        history = {str(k): [float(x) for x in v] for k, v in run.items()}
        return Trace(history, steps_done=max((len(v) for v in history.values()), default=0), created=stamp)
    if not hasattr(run, "history"):
        raise InputError(
            f"Cannot make a trace from {type(run).__name__}: pass a TransferResult, a LiveView, "
            "a Trace or a dict of loss lists."
        )
    history = {str(k): [float(x) for x in v] for k, v in dict(run.history).items()}
    return Trace(
        history,
        dict(getattr(run, "settings", {}) or {}),
        steps_done=int(getattr(run, "steps_done", max((len(v) for v in history.values()), default=0))),
        seconds=float(getattr(run, "seconds", 0.0)),
        interrupted=bool(getattr(run, "interrupted", False)),
        recoveries=int(getattr(run, "recoveries", 0)),
        created=stamp,
    )


def _jsonable(value: Any) -> Any:
    """Settings and losses as plain JSON: tuples become lists, NaN/inf become null, tensors are summarised."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, torch.Tensor):
        return value.tolist() if value.numel() <= 16 else f"tensor{tuple(value.shape)}"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def save_trace(run: Any, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a run's trace (losses per step + settings) as JSON and return the path.

    ``run`` is a ``TransferResult``, a :class:`LiveView`, a :class:`Trace` or a history dict. Like
    :func:`nstlib.save_image`, the file is written to a temporary name and renamed (never half a
    file), and an existing file is kept unless ``overwrite=True``.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() != ".json":
        raise OutputError(f"Cannot save a trace to '{path}': use a .json file name.")
    if path.is_dir():
        raise OutputError(f"Cannot save to '{path}': it is a folder. Give a file name such as '{path / 'trace.json'}'.")
    if path.exists() and not overwrite:
        raise OutputError(f"'{path}' already exists; nothing was written. Choose another name or pass overwrite=True.")
    trace = trace_of(run)
    document = {
        "format": TRACE_FORMAT,
        "version": TRACE_VERSION,
        "nstlib": __version__,
        **_jsonable(
            {
                "created": trace.created,
                "steps_done": trace.steps_done,
                "seconds": trace.seconds,
                "interrupted": trace.interrupted,
                "recoveries": trace.recoveries,
                "settings": trace.settings,
                "history": trace.history,
            }
        ),
    }
    text = json.dumps(document, indent=1, allow_nan=False)
    return write_atomically(path, lambda handle: handle.write(text.encode("utf-8")), overwrite=overwrite)


def load_trace(path: str | os.PathLike) -> Trace:
    """Read a trace written by :func:`save_trace` (missing losses come back as NaN)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"No trace at '{path}': the file does not exist. Check the path.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"'{path}' is not a JSON trace ({exc}). Write traces with nst.save_trace.") from None
    if not isinstance(document, dict) or document.get("format") != TRACE_FORMAT:
        raise InputError(f'\'{path}\' is JSON but not an nstlib trace (no "format": "{TRACE_FORMAT}").')
    if document.get("version", 0) > TRACE_VERSION:
        raise InputError(
            f"'{path}' is trace version {document['version']}; this nstlib reads up to {TRACE_VERSION}. Update nstlib."
        )
    history = {k: [math.nan if x is None else float(x) for x in v] for k, v in document.get("history", {}).items()}
    return Trace(
        history,
        document.get("settings", {}),
        steps_done=int(document.get("steps_done", 0)),
        seconds=float(document.get("seconds") or 0.0),
        interrupted=bool(document.get("interrupted", False)),
        recoveries=int(document.get("recoveries", 0)),
        created=str(document.get("created", "")),
    )
