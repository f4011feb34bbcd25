"""Interactive explorers for the lessons (ipywidgets): style transfer with a live preview, and VGG's feature maps.

    >>> from nstlib.course import widgets
    >>> explorer = widgets.style_explorer(images_dir="images", size=32, steps=2)   # in a lesson: size=128, steps=100
    >>> explorer.style_choice.value = "starry_night.jpg"
    >>> result = explorer.run()   # in Jupyter: show `explorer`, press Run, watch, press Stop
    >>> explorer.result is result, result.steps_done
    (True, 2)

All logic sits in small classes whose widgets are plain attributes, so a script or a test can
set values, call :meth:`StyleExplorer.run` (synchronously) and look at the outcome without a
browser. In Jupyter the Run button starts the optimisation in a background thread so the kernel
stays free to receive the Stop button's click. The feature browser (:class:`FeatureBrowser`,
:func:`feature_browser`) lives in :mod:`nstlib.course.browser`; the lessons take it from here.
``import nstlib`` does not import this module.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, TypedDict

import torch

try:
    import ipywidgets as W
except ImportError as exc:  # pragma: no cover - ipywidgets is in the lab and test extras
    raise ImportError(
        "nstlib.course.widgets needs ipywidgets: `pip install ipywidgets` (it is in nst-kit's lab extra)."
    ) from exc

from nstlib.algorithms.transfer import stylize
from nstlib.course.browser import LABEL_STYLE, FeatureBrowser, ImageSource, feature_browser
from nstlib.course.live import LiveView
from nstlib.errors import InputError, NSTError
from nstlib.images import check_image, load_image, resize_image
from nstlib.net.layers import layer_names
from nstlib.net.vgg import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS
from nstlib.optim.loop import Progress, TransferResult
from nstlib.weights.sources import resolve_arch, weights_source

__all__ = ["StyleExplorer", "FeatureBrowser", "style_explorer", "feature_browser"]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _decode(data: bytes, name: str, size: int) -> torch.Tensor:
    """An uploaded file's bytes as a (1, 3, H, W) image, through load_image's checks."""
    suffix = Path(name).suffix.lower() or ".img"
    fd, tmp = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return load_image(tmp, size=size)
    finally:
        os.unlink(tmp)


def _log_slider(value: float, decades_below: int, decades_above: int, label: str) -> W.FloatLogSlider:
    """A log slider whose grid 10^(min + k·step) contains ``value`` exactly (the browser snaps to the grid:
    a default off it would move, 5e4 → 5.62e4)."""
    centre = math.log10(value)
    return W.FloatLogSlider(
        value=value,
        base=10,
        min=centre - decades_below,
        max=centre + decades_above,
        step=0.25,
        description=label,
        style=LABEL_STYLE,
        readout_format=".3g",
    )


class _Job(TypedDict):
    """One run's arguments for :func:`nstlib.stylize`, read from the controls."""

    content: torch.Tensor
    style: torch.Tensor
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    content_weight: float
    style_weight: float
    tv_weight: float
    steps: int
    arch: str
    weights: str | os.PathLike | None
    device: torch.device | str | None


class StyleExplorer:
    """Controls for :func:`nstlib.stylize` with a live preview; see :func:`style_explorer`."""

    def __init__(
        self,
        content: ImageSource | None = None,
        style: ImageSource | None = None,
        images_dir: str | os.PathLike = "../images",
        size: int = 128,
        steps: int = 100,
        weights: str | os.PathLike | None = None,
        arch: str | None = None,
        device: torch.device | str | None = None,
        interval: float = 1.0,
    ) -> None:
        arch = resolve_arch(arch, weights)
        self.images_dir, self.arch, self.weights, self.device = Path(images_dir), arch, weights, device
        self.interval = interval
        self._sources: dict[str, ImageSource] = {}
        for path in sorted(self.images_dir.glob("*")) if self.images_dir.is_dir() else []:
            if path.suffix.lower() in _IMAGE_SUFFIXES:
                self._sources[path.name] = path
        content_label = (
            self._add_source(content, "content")
            if content is not None
            else self._first("chelsea.jpg", lambda n: not n.startswith(("style_", "texture_")))
        )
        style_label = (
            self._add_source(style, "style")
            if style is not None
            else self._first("style_waves.jpg", lambda n: n.startswith("style_"))
        )
        if content_label is None or style_label is None:
            raise InputError(
                f"No images to choose from in '{self.images_dir}' (looked for .jpg/.png). Pass "
                "images_dir=, or content= and style= (paths or tensors)."
            )
        names = layer_names(arch)
        labels = list(self._sources)
        self.content_choice = W.Dropdown(
            options=labels, value=content_label, description="content image", style=LABEL_STYLE
        )
        self.style_choice = W.Dropdown(options=labels, value=style_label, description="style image", style=LABEL_STYLE)
        self.content_upload = W.FileUpload(accept="image/*", multiple=False, description="upload content")
        self.style_upload = W.FileUpload(accept="image/*", multiple=False, description="upload style")
        self.content_layers = W.SelectMultiple(
            options=names, value=(GATYS_CONTENT_LAYER,), rows=7, description="content layers", style=LABEL_STYLE
        )
        self.style_layers = W.SelectMultiple(
            options=names, value=tuple(GATYS_STYLE_LAYERS), rows=7, description="style layers", style=LABEL_STYLE
        )
        # Each slider starts at stylize's default for these weights (nstlib.weights.sources), on a grid around it.
        defaults = weights_source(weights).defaults
        self.content_weight = _log_slider(defaults.content_weight, 3, 3, "α (content)")
        self.style_weight = _log_slider(defaults.style_weight, 4, 3, "β (style)")
        self.tv_weight = _log_slider(defaults.tv_weight, 4, 3, "γ (TV)")
        self.size = W.IntSlider(
            value=size, min=32, max=max(512, size), step=16, description="size (px)", style=LABEL_STYLE
        )
        self.steps = W.IntSlider(value=steps, min=1, max=max(500, steps), description="steps", style=LABEL_STYLE)
        self.run_button = W.Button(description="Run", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=steps, description="progress", style=LABEL_STYLE)
        self.status = W.HTML(value="Pick images, layers and weights, then press <b>Run</b>.")
        self.preview = W.Image(format="png", layout=W.Layout(display="none", max_width="100%"))
        self.result: TransferResult | None = None
        self.view: LiveView | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.content_upload.observe(lambda change: self._uploaded(change, self.content_choice), names="value")
        self.style_upload.observe(lambda change: self._uploaded(change, self.style_choice), names="value")
        self.widget = W.VBox(
            [
                W.HBox(
                    [W.VBox([self.content_choice, self.content_upload]), W.VBox([self.style_choice, self.style_upload])]
                ),
                W.HBox([self.content_layers, self.style_layers]),
                W.HBox(
                    [W.VBox([self.content_weight, self.style_weight, self.tv_weight]), W.VBox([self.size, self.steps])]
                ),
                W.HBox([self.run_button, self.stop_button, self.progress]),
                self.status,
                self.preview,
            ]
        )

    # -- choosing images ---------------------------------------------------------------------
    def _first(self, preferred: str, accept: Any) -> str | None:
        if preferred in self._sources:
            return preferred
        return next((n for n in self._sources if accept(n)), next(iter(self._sources), None))

    def _add_source(self, source: ImageSource, role: str) -> str:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            known = self._sources.get(path.name)
            if isinstance(known, Path) and (not path.exists() or path.resolve() == known.resolve()):
                return path.name  # one of images_dir's files
            if not path.is_file():
                raise InputError(
                    f"No {role} image at '{path}'. Give a file path, a name in '{self.images_dir}' or a tensor."
                )
            label = path.name if path.name not in self._sources else str(path)
        elif isinstance(source, torch.Tensor):
            check_image(source, role)
            label = f"(given {role})"
        else:
            raise InputError(f"{role} must be a path or an image tensor, got {type(source).__name__}.")
        self._sources[label] = source
        return label

    def _uploaded(self, change: dict, dropdown: W.Dropdown) -> None:
        for item in change["new"] or ():
            label = f"⬆ {item['name']}"
            self._sources[label] = bytes(item["content"])
            for other in (self.content_choice, self.style_choice):  # both lists offer every image
                if label not in other.options:
                    other.options = list(other.options) + [label]
            dropdown.value = label

    def image(self, role: str) -> torch.Tensor:
        """The chosen ``"content"`` or ``"style"`` image at the chosen size, (1, 3, H, W)."""
        label = (self.content_choice if role == "content" else self.style_choice).value
        source, size = self._sources[label], int(self.size.value)
        if isinstance(source, bytes):
            return _decode(source, label, size)
        if isinstance(source, torch.Tensor):
            return resize_image(check_image(source, role)[:1].float().cpu(), size)
        return load_image(source, size=size)

    # -- running -----------------------------------------------------------------------------
    def _prepare(self) -> _Job:
        if self.running:
            raise InputError("A run is already going; press Stop first.")
        content_layers, style_layers = tuple(self.content_layers.value), tuple(self.style_layers.value)
        if not content_layers or not style_layers:
            raise InputError(
                "Choose at least one content layer and one style layer (Ctrl/Cmd-click to select several)."
            )
        job: _Job = dict(
            content=self.image("content"),
            style=self.image("style"),
            content_layers=content_layers,
            style_layers=style_layers,
            content_weight=float(self.content_weight.value),
            style_weight=float(self.style_weight.value),
            tv_weight=float(self.tv_weight.value),
            steps=int(self.steps.value),
            arch=self.arch,
            weights=self.weights,
            device=self.device,
        )
        self.view = LiveView(interval=self.interval, on_frame=self._show_frame)
        self.error = None
        self.progress.max, self.progress.value = job["steps"], 0
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"Running {job['steps']} steps at {tuple(job['content'].shape[-2:])} px…"
        return job

    def _execute(self, job: _Job) -> TransferResult:
        labels = {"content_image": self.content_choice.value, "style_image": self.style_choice.value}
        try:
            result = stylize(**job, callback=self._callback, progress=False)
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True
        result.settings.update(labels)
        self.result = result
        what = "stopped" if result.steps_done < job["steps"] else "done"
        self.status.value = (
            f"<b>{what}</b>: {result.steps_done} of {job['steps']} steps in {result.seconds:.1f} s, "
            f"final loss {result.history['total'][-1]:.4g}. The result is in <code>.result</code>."
            if result.steps_done
            else f"<b>{what}</b> before the first step."
        )
        return result

    def _callback(self, progress: Progress) -> bool:
        self.progress.value = progress.step
        assert self.view is not None  # _prepare made one for this run
        return self.view(progress)

    def _show_frame(self, png: bytes) -> None:
        self.preview.value = png
        self.preview.layout.display = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> TransferResult:
        """Run with the current settings in this thread and return (and keep in ``.result``) the result."""
        return self._execute(self._prepare())

    def start(self) -> threading.Thread | None:
        """Run in a background thread (what the Run button does); problems are shown in the status line."""
        try:
            job = self._prepare()
        except NSTError as exc:
            self._fail(exc)
            return None

        def work() -> None:
            try:
                self._execute(job)
            except Exception as exc:  # shown to the learner; the thread must not die silently
                self._fail(exc)

        self._thread = threading.Thread(target=work, name="nstlib-style-explorer", daemon=True)
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> TransferResult | None:
        """Wait for a background run to finish; returns ``.result``."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result

    def stop(self) -> None:
        """Stop after the current step; ``.result`` keeps the best image so far."""
        if self.view is not None:
            self.view.stop()

    def _fail(self, exc: BaseException) -> None:
        self.error = str(exc) if isinstance(exc, NSTError) else f"{type(exc).__name__}: {exc}"
        self.status.value = f"<span style='color:#b00020'><b>Could not run:</b> {self.error}</span>"
        self.run_button.disabled, self.stop_button.disabled = False, True

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def style_explorer(
    content: ImageSource | None = None,
    style: ImageSource | None = None,
    images_dir: str | os.PathLike = "../images",
    size: int = 128,
    steps: int = 100,
    weights: str | os.PathLike | None = None,
    **options: Any,
) -> StyleExplorer:
    """An interactive :func:`nstlib.stylize`: images, layers, α/β/γ, size and steps, Run and Stop.

    Content and style come from dropdowns of ``images_dir`` (relative to the notebook) or an upload;
    ``content``/``style`` (a path or a tensor) preselect them. Run shows the image and the loss curves
    while it optimises; Stop ends the run early and keeps it. The last result is ``explorer.result``.
    Other options (``arch``, ``device``, ``interval`` between preview frames) go to :class:`StyleExplorer`.
    """
    return StyleExplorer(content, style, images_dir=images_dir, size=size, steps=steps, weights=weights, **options)
