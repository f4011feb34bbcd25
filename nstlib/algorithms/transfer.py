"""Gatys style transfer and the two reconstructions it is built from.

    >>> result = stylize(content, style, steps=300)        # doctest: +SKIP
    >>> save_image(result.image, "outputs/result.png")     # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Union

import torch
import torch.nn.functional as F

from nstlib.device import get_device
from nstlib.errors import InputError, ResourceError, is_out_of_memory
from nstlib.net.vgg import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, VGGFeatures
from nstlib.images import ImageSize, check_image, load_image, resize_image
from nstlib.net.layers import Layers, layer_weights
from nstlib.loss.functional import content_loss, gram_matrix, style_loss, tv_loss
from nstlib.device import available_memory
from nstlib.optim.memory import estimate_memory, largest_size
from nstlib.optim.loop import Objective, Progress, TransferResult, optimize_pixels
from nstlib.weights.sources import resolve_arch, weights_key, weights_source
from nstlib.loss.stats import StyleTerms

__all__ = ["stylize", "reconstruct", "layer_weights"]

ImageInput = Union[torch.Tensor, str, os.PathLike]


def _as_image(value: ImageInput, name: str) -> torch.Tensor:
    if isinstance(value, (str, os.PathLike)):
        return load_image(value)
    return check_image(value, name)


def _initial_image(init: str | torch.Tensor, content: torch.Tensor, style: torch.Tensor | None, seed: int) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        init = check_image(init, "init").to(content.device)
        if init.shape[-2:] != content.shape[-2:]:
            init = resize_image(init, tuple(content.shape[-2:]))
        return init.expand_as(content).clone()
    if init == "content":
        return content.clone()
    if init == "noise":  # white noise, as Gatys et al. start from
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if init == "style" and style is not None:
        return resize_image(style, tuple(content.shape[-2:])).expand_as(content).clone()
    raise InputError(f"init must be 'content', 'noise', 'style' or an image tensor, got {init!r}.")


def _device_budget(device: torch.device) -> int | None:
    """All the memory a run could use on ``device``: a GPU's total, or the RAM available now."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return available_memory(device)


def _out_of_memory(exc: BaseException, image: torch.Tensor, device: torch.device) -> ResourceError:
    h, w = image.shape[-2:]
    smaller = max(32, int(max(h, w) * 0.7) // 16 * 16)
    with contextlib.suppress(Exception):  # the estimate (nstlib.optim.memory) knows better when it can be had
        budget = _device_budget(device)
        fits = largest_size(budget, device=device, aspect=min(h, w) / max(h, w), batch=image.shape[0]) if budget else 0
        if 32 <= fits < max(h, w):
            smaller = fits
    return ResourceError(
        f"Out of memory on {device} at {h}x{w} px. Try a smaller image (e.g. size={smaller}), fewer or "
        f"shallower style layers, or device='cpu'. ({(str(exc).splitlines() or [type(exc).__name__])[0][:120]})"
    )


def _run(objective: Objective, init: torch.Tensor, device: torch.device, **loop) -> TransferResult:
    try:
        return optimize_pixels(init, objective, **loop)
    except (RuntimeError, MemoryError) as exc:  # MPS and the CPU allocator report it as a plain RuntimeError
        if is_out_of_memory(exc):
            raise _out_of_memory(exc, init, device) from None
        raise


_VARIANT_KEYS = ("content_weight", "style_weight", "tv_weight", "content_layers", "style_layers", "init", "seed")


@dataclass
class _Weights:
    """α, β, γ and the per-layer weights: floats, or tensors of shape (B,) with one value per variant."""

    alpha: Any
    beta: Any
    gamma: Any
    content: dict[str, Any]
    style: dict[str, Any]

    def take(self, index: list[int]) -> "_Weights":
        pick = (lambda v: v[index] if isinstance(v, torch.Tensor) else v)
        return _Weights(pick(self.alpha), pick(self.beta), pick(self.gamma),
                        {n: pick(v) for n, v in self.content.items()}, {n: pick(v) for n, v in self.style.items()})


def _variant_weights(variants: Sequence[Mapping[str, Any]], base: dict[str, Any], device: torch.device) -> _Weights:
    """Stack each variant's α, β, γ and layer weights (0 for a layer a variant does not use)."""
    for i, v in enumerate(variants):
        unknown = set(v) - set(_VARIANT_KEYS)
        if unknown:
            raise InputError(f"variants[{i}] has unknown key(s) {sorted(unknown)}; a variant may set "
                             f"{', '.join(_VARIANT_KEYS)}.")
    rows = [{**base, **v} for v in variants]
    vec = (lambda key: torch.tensor([float(r[key]) for r in rows], device=device))
    per_layer = []
    for key in ("content_layers", "style_layers"):
        tables = [layer_weights(r[key]) for r in rows]
        names = list(dict.fromkeys(n for t in tables for n in t))
        per_layer.append({n: torch.tensor([t.get(n, 0.0) for t in tables], device=device) for n in names})
    return _Weights(vec("content_weight"), vec("style_weight"), vec("tv_weight"), *per_layer)


def _stage_sizes(content: torch.Tensor, scales: Sequence[int] | None) -> list[tuple[int, int]]:
    """(H, W) of each stage of a coarse-to-fine run: the given long sides, then the content's own size."""
    h, w = (int(v) for v in content.shape[-2:])
    if scales is None:
        return [(h, w)]
    long_side = max(h, w)
    sizes = sorted({int(s) for s in scales})
    if any(s < 1 or s > long_side for s in sizes):
        raise InputError(f"scales are long sides between 1 and the content's {long_side} px (the run always ends "
                         f"at the content's size), got {tuple(scales)}.")
    coarse = [(max(1, round(h * s / long_side)), max(1, round(w * s / long_side))) for s in sizes if s < long_side]
    return coarse + [(h, w)]


def _stage_steps(steps: int | Sequence[int], stages: int) -> list[int]:
    counts = [int(steps)] * stages if isinstance(steps, int) else [int(s) for s in steps]
    if len(counts) != stages:
        raise InputError(f"steps has {len(counts)} entries but the run has {stages} stage(s); give one count per "
                         "stage (coarse to fine) or a single int for every stage.")
    if any(c < 0 for c in counts):
        raise InputError(f"steps must be >= 0, got {tuple(counts)}.")
    return counts


def _auto_schedule(content: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The default schedule (``steps=None``): a quarter of the long side, half of it, then the full size,
    with 60, 40 and 10 steps. A stage below 64 px is skipped and its steps go to the coarsest stage left
    (128 px: 100 at 64 px, 10 at 128 px; under 128 px: 110 at the full size). Most of the painting happens
    where a step is cheap; the full size adds the finest strokes (BENCHMARKS.md, "time to a good picture")."""
    long_side = max(int(v) for v in content.shape[-2:])
    sides = [side for side in (long_side // 4, long_side // 2) if side >= _AUTO_SMALLEST]
    counts = list(_AUTO_STEPS[-(len(sides) + 1):])
    counts[0] += sum(_AUTO_STEPS[: len(_AUTO_STEPS) - len(counts)])
    return tuple(sides), tuple(counts)


_AUTO_SMALLEST = 64  # px: no stage of the default schedule is coarser
_AUTO_STEPS = (60, 40, 10)  # steps at a quarter, half and the full size


@dataclass
class _Speed:
    """How the network runs: autocast precision, memory layout, torch.compile, cuDNN autotuning."""

    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    @property
    def loss_scale(self) -> float:  # fp16 gradients of the style loss would underflow without it
        return 2.0 ** 12 if self.precision == "fp16" else 1.0

    @contextlib.contextmanager
    def cudnn(self) -> Iterator[None]:
        """cudnn.benchmark on for the run (every step has the same shapes), restored afterwards."""
        if self.device.type != "cuda" or torch.backends.cudnn.deterministic:
            yield
            return
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = before


_CHANNELS_LAST_BY_DEFAULT = ("cuda", "cpu")  # where channels_last=None means True (BENCHMARKS.md)


def _speed(device: torch.device, precision: str, channels_last: bool | None, compile: bool) -> _Speed:
    if precision not in PRECISIONS[1:]:
        raise InputError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}.")
    if channels_last is None:  # measured in BENCHMARKS.md
        channels_last = device.type in _CHANNELS_LAST_BY_DEFAULT
    return _Speed(device, precision, bool(channels_last), bool(compile))


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU with bf16, or a CPU with avx512_bf16 or AMX.

    Elsewhere bf16 is emulated (converted to float32 and back around every operation) and slower than fp32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)
    return False


def _stage_precisions(precision: str, device: torch.device, stages: int) -> list[str]:
    """The precision of each stage. ``"auto"``: bf16 where it is native (:func:`native_bf16`) for every
    stage but the last, which refines in fp32 (BENCHMARKS.md: bf16 at the final size costs detail); fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}.")
    if precision != "auto":
        return [precision] * stages
    if not native_bf16(device):
        return ["fp32"] * stages
    return ["bf16"] * (stages - 1) + ["fp32"]


def _precision_setting(stages: Sequence["_Stage"]) -> str:
    """One word for ``result.settings["precision"]``: the stages' precision, or "bf16+fp32" when they differ."""
    kinds = list(dict.fromkeys(s.precision for s in stages))
    return kinds[0] if len(kinds) == 1 else "+".join(kinds)


def _check_memory(size: tuple[int, int], batch: int, layers: Sequence[str], arch: str, optimizer: str,
                  precision: str, device: torch.device) -> None:
    """Raise ResourceError before starting when the estimate (nstlib.optim.memory) exceeds the free memory."""
    if optimizer not in ("lbfgs", "adam"):
        return  # optimize_pixels reports the bad name
    free = available_memory(device)
    if free is None:
        return
    need = estimate_memory(size, arch=arch, layers=layers, batch=batch, optimizer=optimizer, precision=precision,
                           device=device)
    if need.total <= free:
        return
    h, w = size
    fits = largest_size(free, device=device, aspect=min(h, w) / max(h, w), arch=arch, layers=layers, batch=batch,
                        optimizer=optimizer, precision=precision)
    hint = (f"The largest that fits is about {fits} px on the long side: load the content with "
            f"nst.load_image(path, size={fits}) (--size {fits} on the command line)" if fits
            else "Not even a small image fits: free some memory first")
    raise ResourceError(
        f"stylize at {h}x{w} px (batch {batch}) needs {need} on {device}, but only {free / 2**30:.2f} GiB are free. "
        f"{hint}, use optimizer='adam' (--optimizer adam; no L-BFGS history), or pass check_memory=False "
        "(--no-memory-check) to try anyway.")


def _offset(callback: Callable[[Progress], bool | None] | None, done: int, total: int
            ) -> Callable[[Progress], bool | None] | None:
    """A callback that sees step numbers counted over all stages of a coarse-to-fine run."""
    if callback is None or (done == 0 and total == 0):
        return callback
    return lambda p: callback(replace(p, step=p.step + done, steps=total))


def _concat(parts: list[TransferResult]) -> TransferResult:
    """The stages of one coarse-to-fine run as one result: histories one after another."""
    if len(parts) == 1:
        return parts[0]
    history: dict[str, list[float]] = defaultdict(list)
    per_image: list[dict[str, list[float]]] = [defaultdict(list) for _ in parts[-1].image_history]
    snapshots: dict[int, torch.Tensor] = {}
    done = 0
    for part in parts:
        for key, values in part.history.items():
            history[key] += values
        for mine, theirs in zip(per_image, part.image_history):
            for key, values in theirs.items():
                mine[key] += values
        snapshots.update({done + k: v for k, v in part.snapshots.items()})
        done += part.steps_done
    return TransferResult(
        image=parts[-1].image, history=dict(history), snapshots=snapshots, settings=dict(parts[-1].settings),
        steps_done=done, interrupted=any(p.interrupted for p in parts), seconds=sum(p.seconds for p in parts),
        recoveries=sum(p.recoveries for p in parts), image_history=[dict(h) for h in per_image])


def _stack(groups: list[TransferResult]) -> TransferResult:
    """Variants run one after another (L-BFGS) as one batched result; ``history`` sums them."""
    if len(groups) == 1:
        return groups[0]
    keys = set.intersection(*(set(g.history) for g in groups))
    length = min(len(g.history.get("total", [])) for g in groups)
    history = {k: [sum(g.history[k][i] for g in groups) for i in range(length)] for k in keys}
    return TransferResult(
        image=torch.cat([g.image for g in groups]), history=history, snapshots={},
        settings=dict(groups[0].settings), steps_done=max(g.steps_done for g in groups),
        interrupted=any(g.interrupted for g in groups), seconds=sum(g.seconds for g in groups),
        recoveries=sum(g.recoveries for g in groups),
        image_history=[h for g in groups for h in (g.image_history or [g.history])])


@dataclass
class _Request:
    """What stylize was asked, with the weights source's defaults filled in and the images on the run device."""

    content: torch.Tensor
    styles: list[torch.Tensor]  # the originals: every stage resizes the style from these
    home: torch.device  # where the result goes back to
    device: torch.device
    arch: str
    alpha: float
    beta: float
    gamma: float
    c_weights: dict[str, float]
    s_weights: dict[str, float]
    weights: _Weights  # per variant, when there are variants
    runs: list[dict[str, Any]]  # init and seed of each image of the batch
    groups: list[list[int]]  # images optimised together
    per_variant: bool

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.weights.content) + tuple(self.weights.style)


def _prepare(content: ImageInput, style: ImageInput | Sequence[ImageInput], **options: Any) -> _Request:
    """Check the inputs and fill in the defaults of the weights' source (nstlib.weights.sources)."""
    content = _as_image(content, "content")
    styles = [_as_image(s, "style") for s in (style if isinstance(style, (list, tuple)) else [style])]
    weights = options["weights"]
    arch = resolve_arch(options["arch"], weights)
    defaults = weights_source(weights).defaults
    alpha, beta, gamma = defaults.fill(options["content_weight"], options["style_weight"], options["tv_weight"])
    style_layers = options["style_layers"]
    if style_layers is None:
        style_layers = defaults.style_layer_weights(GATYS_STYLE_LAYERS, arch)
    device = get_device(options["device"])
    if options["style_scale"] <= 0:
        raise InputError(f"style_scale must be positive, got {options['style_scale']}.")
    c_weights, s_weights = layer_weights(options["content_layers"]), layer_weights(style_layers)
    wt = _Weights(alpha, beta, gamma, c_weights, s_weights)
    init, seed, variants = options["init"], options["seed"], options["variants"]
    runs = [{"init": init, "seed": seed}]
    if variants is not None:
        if not variants:
            raise InputError("variants is empty: give at least one dict, e.g. variants=[{'style_weight': 1e4}].")
        base = dict(content_weight=alpha, style_weight=beta, tv_weight=gamma, content_layers=options["content_layers"],
                    style_layers=style_layers, init=init, seed=seed)
        wt = _variant_weights(variants, base, device)
        runs = [{"init": v.get("init", init), "seed": v.get("seed", seed)} for v in variants]
    # Adam is separable per image, so variants share one batch; L-BFGS would couple them (see optimize_pixels).
    groups = [list(range(len(runs)))] if options["optimizer"] == "adam" else [[i] for i in range(len(runs))]
    return _Request(content.to(device), [s.to(device) for s in styles], content.device, device, arch, alpha, beta,
                    gamma, c_weights, s_weights, wt, runs, groups, variants is not None)


class _Targets:
    """Stage 1, the targets: the content's maps and the styles' statistics at a stage's size.

    Computed once per size, in float32 without autocast; only the current stage's are kept.
    """

    def __init__(self, vgg: VGGFeatures, request: _Request, **style_options: Any) -> None:
        self.vgg, self.request = vgg, request
        self.style_scale = style_options.pop("style_scale")
        self.style_options = style_options
        self._size: tuple[int, ...] | None = None
        self._value: tuple[dict[str, torch.Tensor], StyleTerms, torch.Tensor] | None = None

    def at(self, content_s: torch.Tensor) -> tuple[dict[str, torch.Tensor], StyleTerms, torch.Tensor]:
        """(content maps, style terms, the first style image at this size) for a content image at a stage's size."""
        key = tuple(content_s.shape[-2:])
        if key != self._size or self._value is None:
            styles_s = [resize_image(s, max(1, round(max(key) * self.style_scale))) for s in self.request.styles]
            with torch.no_grad():
                feats = self.vgg(content_s)
                content_targets = {name: feats[name] for name in self.request.weights.content}
            del feats
            # With variants the per-layer weights differ per image: StyleTerms gets w_l = 1, the objective applies them.
            unit = {n: 1.0 for n in self.request.weights.style} if self.request.per_variant else self.request.weights.style
            self._size, self._value = None, None  # the previous stage's targets go first
            style_terms = StyleTerms.from_images(self.vgg, styles_s, unit, **self.style_options)
            self._size, self._value = key, (content_targets, style_terms, styles_s[0])
        return self._value

    @property
    def blend(self) -> list[float] | None:
        return self._value[1].blend if self._value is not None else None


def _objective(targets: tuple[dict[str, torch.Tensor], StyleTerms, torch.Tensor], w: _Weights,
               forward: Callable[[torch.Tensor], dict[str, torch.Tensor]], speed: _Speed, per_variant: bool) -> Objective:
    """Stage 2, the objective: α Σ c_l L_content + β Σ w_l L_style + γ L_tv as named terms of shape (B,)."""
    content_targets, style_terms, _ = targets

    def objective(image: torch.Tensor) -> dict[str, torch.Tensor]:
        with speed.autocast():
            feats = forward(image)
        feats = {n: f.float() for n, f in feats.items()}  # losses and Gram matrices in float32
        terms = {f"content:{n}": w.alpha * c * content_loss(feats[n], content_targets[n], per_image=True)
                 for n, c in w.content.items()}
        terms.update(style_terms(feats, w.beta))  # Σ_l β w_l Σ_i b_i L_stat (stats.StyleTerms)
        if per_variant:
            terms.update({f"style:{n}": terms[f"style:{n}"] * v for n, v in w.style.items()})
        if isinstance(w.gamma, torch.Tensor) or w.gamma:
            terms["tv"] = w.gamma * tv_loss(image, p=1, per_image=True)
        return terms

    return objective


@dataclass(frozen=True)
class _Stage:
    """One stage of the schedule: the size it optimises at, how many steps, in which precision."""

    size: tuple[int, int]
    steps: int
    precision: str


def _schedule(content: torch.Tensor, scales: Sequence[int] | None, steps: int | Sequence[int] | None,
              precision: str, device: torch.device) -> list[_Stage]:
    """Stage 3, the schedule: sizes coarse to fine, steps and precision per stage."""
    if steps is None and scales is None:
        scales, steps = _auto_schedule(content)
    sizes = _stage_sizes(content, scales)
    counts = _stage_steps(300 if steps is None else steps, len(sizes))
    precisions = _stage_precisions(precision, device, len(sizes))
    return [_Stage(size, n, p) for size, n, p in zip(sizes, counts, precisions)]


def _warm_start(image: torch.Tensor, content_s: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The start of a finer stage: what the coarser stage changed, upsampled, on top of the photo at this size.

    Upsampling the coarse result alone would start from a blurred picture and spend the stage's steps
    putting the photo's edges back; adding the change (result − photo at the coarse size) to the photo
    keeps the photo's fine detail and the coarse stage's colours and strokes.
    """
    up = (lambda x: F.interpolate(x, size=tuple(content_s.shape[-2:]), mode="bilinear", align_corners=False))
    return (content_s + up(image - previous)).clamp(0.0, 1.0)


def _run_stages(group: list[int], stages: list[_Stage], request: _Request, targets: _Targets,
                forward: Callable[[torch.Tensor], dict[str, torch.Tensor]], speed: _Speed,
                loop: dict[str, Any]) -> TransferResult:
    """Stage 4, the run: one group of images through every stage, each starting from the last one's result."""
    content, total = request.content, sum(s.steps for s in stages)
    w = request.weights.take(group) if request.per_variant and len(request.groups) > 1 else request.weights
    parts: list[TransferResult] = []
    image: torch.Tensor | None = None
    previous = content  # the photo at the previous stage's size
    for stage in stages:
        h, wd = stage.size
        content_s = content if stage.size == tuple(content.shape[-2:]) else resize_image(content, stage.size)
        stage_targets = targets.at(content_s)
        stage_speed = replace(speed, precision=stage.precision)
        objective = _objective(stage_targets, w, forward, stage_speed, request.per_variant)
        if image is None:
            start = torch.cat([_initial_image(request.runs[i]["init"], content_s, stage_targets[2], request.runs[i]["seed"])
                               for i in group])
        else:  # coarse to fine: the photo plus the previous stage's change, upsampled (_warm_start)
            start = _warm_start(image, content_s, previous)
        done = sum(p.steps_done for p in parts)
        part = _run(objective, start, request.device, steps=stage.steps, optimizer=loop["optimizer"], lr=loop["lr"],
                    callback=_offset(loop["callback"], done, total), progress=loop["progress"],
                    snapshot_every=loop["snapshot_every"], desc="stylize" if len(stages) == 1 else f"stylize {h}x{wd}",
                    loss_scale=stage_speed.loss_scale)
        part.settings["stage"] = stage.size
        parts.append(part)
        previous = content_s
        image = part.image
        if part.interrupted or part.steps_done < stage.steps:  # Ctrl-C, or the callback asked to stop
            break
    result = _concat(parts)
    if tuple(result.image.shape[-2:]) != tuple(content.shape[-2:]):  # stopped during a coarse stage
        result.image = F.interpolate(result.image, size=tuple(content.shape[-2:]), mode="bilinear",
                                     align_corners=False).clamp(0.0, 1.0)
    result.settings["stages"] = [(p.settings["stage"], p.steps_done) for p in parts]
    return result


def stylize(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    *,
    arch: str | None = None,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    content_layers: Layers = (GATYS_CONTENT_LAYER,),
    style_layers: Layers | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    steps: int | Sequence[int] | None = None,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: str | torch.Tensor = "content",
    seed: int = 0,
    pooling: str = "max",
    style_scale: float = 1.0,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
    scales: Sequence[int] | None = None,
    variants: Sequence[Mapping[str, Any]] | None = None,
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool = False,
    check_memory: bool = True,
    style_blend: Sequence[float] | None = None,
    style_masks: Sequence[torch.Tensor] | None = None,
    style_stat: str = "gram",
) -> TransferResult:
    """Paint ``content`` in the style of ``style`` (Gatys, Ecker & Bethge 2016).

    Minimises  α Σ_l c_l L_content,l + β Σ_l w_l L_style,l + γ L_tv  over the pixels of the result,
    with content on relu4_2 and style on relu1_1 … relu5_1 by default.

    The losses are Gram matrices divided by C·H·W and mean-squared content and style errors. The
    default α, β, γ depend on the weights, because each source's activations live on their own scale
    (:data:`nstlib.weights.sources.SOURCES`), and each comes from an anchor that used that scale:

    * torchvision's ImageNet VGG (and random weights): the PyTorch edition of d2l's "Neural Style
      Transfer" chapter (Zhang et al., *Dive into Deep Learning*, §14.12): content 1, style 1e4 per
      layer (here β · w_l = 5e4 · 1/5), TV 10 with its ½(mean|Δy| + mean|Δx|).
    * Caffe-scale VGG (``weights="hed"``): content 5 as jcjohnson/neural-style; the five style layers
      balanced as Gatys et al.'s own E_l balances them (w_l ∝ N_l², since at Caffe scale relu5_1's
      Gram loss is ~1e5 times smaller than relu1_1's); β = 2500 and γ = 10 judged by eye.

    Departures: we optimise with L-BFGS in [0, 1] pixel space by default (Gatys' choice; d2l uses
    Adam), and read true relu outputs where d2l's in-place ReLUs blur conv and relu.

    Args:
        content, style: (1, 3, H, W) tensors in [0, 1], or image paths. The result has the content's size.
        arch, weights: the network (``None``: the weights' own, vgg19 or HED's vgg16) and its weights
            (``"imagenet"``, ``"hed"``, ``"random[:SEED]"``, a file; ``None``: ``NSTLIB_WEIGHTS`` or imagenet).
        content_layers, style_layers: a name, a sequence (equal weights 1/L) or ``{name: weight}``;
            ``style_layers=None``: relu1_1 … relu5_1 with the weights source's balance (1/5 each, or ∝ N_l²).
        content_weight, style_weight, tv_weight: α, β and γ; ``None``: the weights source's defaults
            (above; the values used are in ``result.settings``).
        steps: loss evaluations (= optimiser steps), one int or one per stage of ``scales``. ``None``
            (default, with ``scales=None``): the default schedule, a quarter of the size, half of it, then
            the full size with 60, 40 and 10 steps (fewer stages below 256 px): a finished picture in
            about a twentieth of the time of the seeds' 300 full-size L-BFGS evaluations (BENCHMARKS.md);
            with ``scales`` given, 300 per stage. Pass ``steps=300`` for Gatys et al.'s single-scale run. optimizer: ``"lbfgs"`` or ``"adam"`` (lr 0.02 default).
        init: ``"content"``, ``"noise"`` (seeded by ``seed``), ``"style"`` or an image tensor.
        style_scale: the style image is resized so its long side is ``style_scale`` × the content's.
        callback: called with a :class:`Progress` after every step; return True to stop.
        snapshot_every: keep the image every N steps in ``result.snapshots``.
        style: one style image, or a list of them (see :class:`nstlib.loss.stats.StyleTerms`, Gatys et al. 2017):
            ``style_blend`` weighs them (default 1/K each), ``style_masks`` (one (H, W) mask in [0, 1]
            per style, any resolution) confines each to a region of the result.
        style_stat: ``"gram"`` (default), ``"mean_cov"`` or ``"w2"`` (:data:`nstlib.loss.stats.STYLE_STATS`).
        scales: coarse-to-fine: long sides to optimise at first, e.g. ``scales=(128,)`` for a 256 px
            content: optimise at 128 px, then start at 256 px from the photo plus what the 128 px stage
            changed (result − photo at 128 px, upsampled bilinearly), and refine. The run always ends at
            the content's size. ``steps`` is then one count per stage (coarse to fine, e.g.
            ``steps=(200, 100)``) or one int used at every stage. Style targets are recomputed at each
            stage from the original style image.
        variants: several runs at once, e.g. ``[{"style_weight": 1e3}, {"style_weight": 1e5}]``; each
            dict may set content_weight, style_weight, tv_weight, content_layers, style_layers, init and
            seed. The result is a batch, one image per variant; ``result.split()`` gives one result (and
            history) per variant. With ``optimizer="adam"`` they are optimised as one batch (Adam is
            per-pixel, so this is exactly the separate runs, only faster); with L-BFGS they run one
            after another sharing the network and targets (L-BFGS's curvature estimate would mix them).
        precision: ``"auto"`` (default): bf16 autocast for the coarse stages where bf16 is native
            (:func:`native_bf16`: CUDA, CPUs with avx512_bf16 or AMX), fp32 for the final stage and
            everywhere else; or ``"fp32"``, ``"bf16"``, ``"fp16"`` for every stage. Gram matrices and losses
            stay in float32 (fp16 Gram sums overflow), fp16 uses loss scaling. ``result.settings``
            has ``"precision"`` ("fp32", "bf16", or "bf16+fp32") and ``"precisions"`` per stage.
        channels_last: memory layout of the network (None: the faster one measured for the device).
        compile: run the network through ``torch.compile`` (pays off on GPUs for long runs).
        check_memory: refuse to start, saying the largest size that fits, when the estimate of
            :func:`nstlib.estimate_memory` exceeds the free memory of the device.

    Returns a :class:`TransferResult` with ``.image`` (on the content's device), ``.history`` and ``.snapshots``.
    """
    request = _prepare(content, style, weights=weights, arch=arch, device=device, content_layers=content_layers,
                       style_layers=style_layers, content_weight=content_weight, style_weight=style_weight,
                       tv_weight=tv_weight, style_scale=style_scale, init=init, seed=seed, variants=variants,
                       optimizer=optimizer)
    stages = _schedule(request.content, scales, steps, precision, request.device)
    speed = _speed(request.device, "fp32", channels_last, compile)
    if check_memory:
        _check_memory(stages[-1].size, len(request.groups[0]), request.layers, request.arch, optimizer,
                      stages[-1].precision, request.device)
    vgg = VGGFeatures(request.arch, request.layers, weights=weights, pooling=pooling, device=request.device,
                      channels_last=speed.channels_last)
    targets = _Targets(vgg, request, style_scale=style_scale, stat=style_stat, blend=style_blend, masks=style_masks)
    forward = torch.compile(vgg) if speed.compile else vgg
    loop = dict(optimizer=optimizer, lr=lr, callback=callback, progress=progress, snapshot_every=snapshot_every)
    results: list[TransferResult] = []
    with speed.cudnn():
        for group in request.groups:
            results.append(_run_stages(group, stages, request, targets, forward, speed, loop))
            if results[-1].interrupted:
                break
    for group in request.groups[len(results):]:  # interrupted: the variants not yet run keep their start image
        blank = torch.cat([_initial_image(request.runs[i]["init"], request.content, request.styles[0],
                                          request.runs[i]["seed"]) for i in group])
        results.append(TransferResult(image=blank, history={}, image_history=[{} for _ in group]))
    result = _stack(results)
    result.image = result.image.to(request.home)
    result.settings.update(
        arch=request.arch, weights=weights_key(weights), device=str(request.device),
        content_layers=request.c_weights, style_layers=request.s_weights, content_weight=request.alpha,
        style_weight=request.beta, tv_weight=request.gamma, init=init if isinstance(init, str) else "tensor",
        seed=seed, pooling=pooling, style_scale=style_scale, size=tuple(request.content.shape[-2:]),
        styles=len(request.styles), style_blend=targets.blend, style_stat=style_stat,
        style_masks=style_masks is not None, scales=[max(s.size) for s in stages],
        variants=list(variants) if variants is not None else None,
        precision=_precision_setting(stages), precisions=[s.precision for s in stages],
        channels_last=speed.channels_last, compile=speed.compile)
    return result


def reconstruct(
    target: ImageInput,
    layers: Layers,
    *,
    mode: str = "content",
    size: ImageSize | None = None,
    arch: str | None = None,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: str | torch.Tensor = "noise",
    seed: int = 0,
    pooling: str = "max",
    tv_weight: float = 0.0,
    style_weight: float | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
    channels_last: bool | None = None,
) -> TransferResult:
    """Find an image whose features match ``target``'s at ``layers`` only (Gatys et al. 2016, Fig. 1).

    * ``mode="content"`` matches the feature maps themselves (Σ_l w_l · mean (F − P)²): lower layers
      give back the pixels almost exactly, higher layers keep the arrangement but not the details.
    * ``mode="style"`` matches only their Gram matrices (β Σ_l w_l · mean (Ĝ − Â)², Ĝ = G / (N M)):
      a texture with the target's statistics but none of its layout. ``size`` may differ from the target's.
      ``style_weight`` β (default: :func:`stylize`'s for these weights, 5e4 for torchvision's) only sets
      the scale: with torchvision's weights these Gram losses are ~1e-4, and torch's L-BFGS skips
      curvature updates below 1e-10, so an unscaled loss barely moves.

    Starts from seeded white noise by default; other arguments as in :func:`stylize` (``channels_last``:
    the network's memory layout, None = the faster one for the device; the values are the same, the
    float rounding is not).
    """
    if mode not in ("content", "style"):
        raise InputError(f"mode must be 'content' or 'style', got {mode!r}.")
    target = _as_image(target, "target")
    arch = resolve_arch(arch, weights)
    if style_weight is None:
        style_weight = weights_source(weights).defaults.style_weight
    run_device = get_device(device)
    home = target.device
    target = target.to(run_device)
    weights_l = layer_weights(layers)
    vgg = VGGFeatures(arch, tuple(weights_l), weights=weights, pooling=pooling, device=run_device,
                      channels_last=_speed(run_device, "fp32", channels_last, False).channels_last)
    with torch.no_grad():
        feats = vgg(target)
        goals = {n: (feats[n] if mode == "content" else gram_matrix(feats[n], normalize="chw")) for n in weights_l}
    del feats
    canvas = target if mode == "content" or size is None else resize_image(target, size)

    def objective(image: torch.Tensor) -> dict[str, torch.Tensor]:
        now = vgg(image)
        if mode == "content":
            terms = {f"content:{n}": w * content_loss(now[n], goals[n], per_image=True) for n, w in weights_l.items()}
        else:
            terms = {f"style:{n}": style_weight * w * style_loss(gram_matrix(now[n], normalize="chw"), goals[n],
                                                                 per_image=True)
                     for n, w in weights_l.items()}
        if tv_weight:
            terms["tv"] = tv_weight * tv_loss(image, p=1, per_image=True)
        return terms

    start = _initial_image(init, canvas, target, seed)
    result = _run(objective, start, run_device, steps=steps, optimizer=optimizer, lr=lr, callback=callback,
                  progress=progress, snapshot_every=snapshot_every, desc=f"reconstruct ({mode})")
    result.image = result.image.to(home)
    result.settings.update(mode=mode, layers=weights_l, style_weight=style_weight if mode == "style" else None,
                           arch=arch, weights=weights_key(weights),
                           device=str(run_device), init=init if isinstance(init, str) else "tensor", seed=seed,
                           pooling=pooling, tv_weight=tv_weight, size=tuple(start.shape[-2:]),
                           channels_last=vgg.channels_last)
    return result
