"""How a pixel-optimisation run is planned: its stages coarse to fine, the precision of each, how the
network runs, whether it fits in memory, and where each stage starts.

A coarse-to-fine run optimises at a few sizes one after another: most of the painting happens where a step
is cheap, and the full size adds the finest strokes. Each finer stage starts from the photo plus what the
coarser stage changed (:func:`warm_start`).

    >>> stages = plan_stages(torch.zeros(1, 3, 192, 256), None, None, "fp32", torch.device("cpu"))
    >>> [(s.size, s.steps) for s in stages]
    [((96, 128), 70), ((192, 256), 12)]
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from nstlib.device import available_memory
from nstlib.errors import InputError, ResourceError, is_out_of_memory
from nstlib.images import check_image, resize_image
from nstlib.optim.loop import Objective, Progress, TransferResult, optimize_pixels
from nstlib.optim.memory import estimate_memory, largest_size

__all__ = [
    "Stage",
    "plan_stages",
    "auto_schedule",
    "stage_sizes",
    "stage_steps",
    "PRECISIONS",
    "native_bf16",
    "stage_precisions",
    "precision_setting",
    "Speed",
    "speed_for",
    "check_fits",
    "out_of_memory",
    "guarded_optimize",
    "initial_image",
    "warm_start",
    "offset_callback",
    "concat_stages",
]


# -- the stages ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage of the schedule: the size it optimises at, how many steps, in which precision."""

    size: tuple[int, int]  # (H, W)
    steps: int
    precision: str  # "fp32", "bf16" or "fp16"


def plan_stages(
    content: torch.Tensor,
    scales: Sequence[int] | None,
    steps: int | Sequence[int] | None,
    precision: str,
    device: torch.device,
) -> list[Stage]:
    """The schedule: sizes coarse to fine (:func:`stage_sizes`), steps and precision per stage.

    ``steps=None`` with ``scales=None`` is the default schedule (:func:`auto_schedule`); ``steps=None``
    with ``scales`` given is 300 steps per stage.
    """
    if steps is None and scales is None:
        scales, steps = auto_schedule(content)
    sizes = stage_sizes(content, scales)
    counts = stage_steps(300 if steps is None else steps, len(sizes))
    precisions = stage_precisions(precision, device, len(sizes))
    return [Stage(size, n, p) for size, n, p in zip(sizes, counts, precisions)]


def stage_sizes(content: torch.Tensor, scales: Sequence[int] | None) -> list[tuple[int, int]]:
    """(H, W) of each stage of a coarse-to-fine run: the given long sides, then the content's own size."""
    h, w = (int(v) for v in content.shape[-2:])
    if scales is None:
        return [(h, w)]
    long_side = max(h, w)
    sizes = sorted({int(s) for s in scales})
    if any(s < 1 or s > long_side for s in sizes):
        raise InputError(
            f"scales are long sides between 1 and the content's {long_side} px (the run always ends "
            f"at the content's size), got {tuple(scales)}."
        )
    coarse = [(max(1, round(h * s / long_side)), max(1, round(w * s / long_side))) for s in sizes if s < long_side]
    return coarse + [(h, w)]


def stage_steps(steps: int | Sequence[int], stages: int) -> list[int]:
    """The steps of each stage: one int for every stage, or one count per stage (coarse to fine)."""
    counts = [int(steps)] * stages if isinstance(steps, int) else [int(s) for s in steps]
    if len(counts) != stages:
        raise InputError(
            f"steps has {len(counts)} entries but the run has {stages} stage(s); give one count per "
            "stage (coarse to fine) or a single int for every stage."
        )
    if any(c < 0 for c in counts):
        raise InputError(f"steps must be >= 0, got {tuple(counts)}.")
    return counts


_AUTO_SMALLEST = 64  # px: no stage of the default schedule is coarser
_AUTO_STEPS = (70, 12)  # steps at half the size, then at the full size


def auto_schedule(content: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The default schedule (``steps=None``): half the long side, then the full size, with 70 and 12 steps.
    Under 128 px the half stage would be below 64 px: it is skipped and its steps go to the full size
    (82 steps). Most of the painting happens where a step is cheap, at a size where relu5_1 still sees
    much of the picture; the full size adds the fine strokes and the photo's edges. Chosen against the
    three-stage pyramid (a quarter, a half, the full size) on five photo × painting pairs: it keeps the
    photo's light and dark better for the same style (BENCHMARKS.md, "The defaults against the original design")."""
    long_side = max(int(v) for v in content.shape[-2:])
    sides = [side for side in (long_side // 2,) if side >= _AUTO_SMALLEST]
    counts = list(_AUTO_STEPS[-(len(sides) + 1) :])
    counts[0] += sum(_AUTO_STEPS[: len(_AUTO_STEPS) - len(counts)])
    return tuple(sides), tuple(counts)


# -- precision per stage ----------------------------------------------------------------------------------

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


def stage_precisions(precision: str, device: torch.device, stages: int) -> list[str]:
    """The precision of each stage. ``"auto"``: where bf16 is native (:func:`native_bf16`), every stage of a
    coarse-to-fine schedule runs in bf16 (BENCHMARKS.md, "bf16 end to end": the same pictures on every measure
    as fp32, in half the time); a single stage (an int ``steps``, as the lessons pass to compare stylize with
    their own float32 loops) and every stage elsewhere run in fp32."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}.")
    if precision != "auto":
        return [precision] * stages
    if stages == 1 or not native_bf16(device):
        return ["fp32"] * stages
    return ["bf16"] * stages


def precision_setting(stages: Sequence[Stage]) -> str:
    """One word for ``result.settings["precision"]``: the stages' precision, or "bf16+fp32" when they differ."""
    kinds = list(dict.fromkeys(s.precision for s in stages))
    return kinds[0] if len(kinds) == 1 else "+".join(kinds)


# -- how the network runs ---------------------------------------------------------------------------------


@dataclass
class Speed:
    """How the network runs: autocast precision, memory layout, torch.compile, cuDNN autotuning."""

    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    @property
    def end_to_end(self) -> bool:
        """bf16 on a CPU runs a bf16 copy of the network (:class:`nstlib.net.frozen.LowPrecisionFeatures`)
        instead of autocast, which re-casts every frozen weight on every call (BENCHMARKS.md)."""
        return self.precision == "bf16" and self.device.type == "cpu" and not self.compile

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32" or self.end_to_end:
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    @property
    def loss_scale(self) -> float:  # fp16 gradients of the style loss would underflow without it
        return 2.0**12 if self.precision == "fp16" else 1.0

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


def speed_for(device: torch.device, precision: str, channels_last: bool | None, compile: bool) -> Speed:
    """A :class:`Speed` for ``device``; ``channels_last=None`` picks the layout measured faster there."""
    if precision not in PRECISIONS[1:]:
        raise InputError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}.")
    if channels_last is None:  # measured in BENCHMARKS.md
        channels_last = device.type in _CHANNELS_LAST_BY_DEFAULT
    return Speed(device, precision, bool(channels_last), bool(compile))


# -- memory: refuse what cannot fit, explain what ran out ----------------------------------------------------


def check_fits(
    size: tuple[int, int],
    batch: int,
    layers: Sequence[str],
    arch: str,
    optimizer: str,
    precision: str,
    device: torch.device,
) -> None:
    """Raise ResourceError before starting when the estimate (nstlib.optim.memory) exceeds the free memory."""
    if optimizer not in ("lbfgs", "adam"):
        return  # optimize_pixels reports the bad name
    free = available_memory(device)
    if free is None:
        return
    need = estimate_memory(
        size, arch=arch, layers=layers, batch=batch, optimizer=optimizer, precision=precision, device=device
    )
    if need.total <= free:
        return
    h, w = size
    fits = largest_size(
        free,
        device=device,
        aspect=min(h, w) / max(h, w),
        arch=arch,
        layers=layers,
        batch=batch,
        optimizer=optimizer,
        precision=precision,
    )
    hint = (
        f"The largest that fits is about {fits} px on the long side: load the content with "
        f"nst.load_image(path, size={fits}) (--size {fits} on the command line)"
        if fits
        else "Not even a small image fits: free some memory first"
    )
    raise ResourceError(
        f"stylize at {h}x{w} px (batch {batch}) needs {need} on {device}, but only {free / 2**30:.2f} GiB are free. "
        f"{hint}, use optimizer='adam' (--optimizer adam; no L-BFGS history), or pass check_memory=False "
        "(--no-memory-check) to try anyway."
    )


def _device_budget(device: torch.device) -> int | None:
    """All the memory a run could use on ``device``: a GPU's total, or the RAM available now."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return available_memory(device)


def out_of_memory(exc: BaseException, image: torch.Tensor, device: torch.device) -> ResourceError:
    """The error to raise when optimising ``image`` ran out of memory: it names a smaller size that fits."""
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


def guarded_optimize(
    objective: Objective,
    start: torch.Tensor,
    device: torch.device,
    *,
    steps: int,
    optimizer: str,
    lr: float | None,
    callback: Callable[[Progress], bool | None] | None,
    progress: bool,
    snapshot_every: int | None,
    desc: str,
    loss_scale: float = 1.0,
) -> TransferResult:
    """:func:`optimize_pixels`, with running out of memory reported as a ResourceError (:func:`out_of_memory`)."""
    try:
        return optimize_pixels(
            start,
            objective,
            steps=steps,
            optimizer=optimizer,
            lr=lr,
            callback=callback,
            progress=progress,
            snapshot_every=snapshot_every,
            desc=desc,
            loss_scale=loss_scale,
        )
    except (RuntimeError, MemoryError) as exc:  # MPS and the CPU allocator report it as a plain RuntimeError
        if is_out_of_memory(exc):
            raise out_of_memory(exc, start, device) from None
        raise


# -- where each stage starts, and the stages as one result ------------------------------------------------


def initial_image(
    init: str | torch.Tensor, content: torch.Tensor, style: torch.Tensor | None, seed: int
) -> torch.Tensor:
    """The first stage's start at ``content``'s size: the content, seeded white noise, the style, or an image."""
    if isinstance(init, torch.Tensor):
        init = check_image(init, "init").to(content.device)
        if init.shape[-2:] != content.shape[-2:]:
            init = resize_image(init, (content.shape[-2], content.shape[-1]))
        return init.expand_as(content).clone()
    if init == "content":
        return content.clone()
    if init == "noise":  # white noise, as Gatys et al. start from
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if init == "style" and style is not None:
        return resize_image(style, (content.shape[-2], content.shape[-1])).expand_as(content).clone()
    raise InputError(f"init must be 'content', 'noise', 'style' or an image tensor, got {init!r}.")


def warm_start(image: torch.Tensor, content_s: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The start of a finer stage: what the coarser stage changed, upsampled, on top of the photo at this size.

    Upsampling the coarse result alone would start from a blurred picture and spend the stage's steps
    putting the photo's edges back; adding the change (result − photo at the coarse size) to the photo
    keeps the photo's fine detail and the coarse stage's colours and strokes.
    """
    up = lambda x: F.interpolate(x, size=tuple(content_s.shape[-2:]), mode="bilinear", align_corners=False)
    return (content_s + up(image - previous)).clamp(0.0, 1.0)


def offset_callback(
    callback: Callable[[Progress], bool | None] | None, done: int, total: int
) -> Callable[[Progress], bool | None] | None:
    """A callback that sees step numbers counted over all stages of a coarse-to-fine run."""
    if callback is None or (done == 0 and total == 0):
        return callback
    return lambda p: callback(replace(p, step=p.step + done, steps=total))


def concat_stages(parts: list[TransferResult], size: tuple[int, int]) -> TransferResult:
    """The stages of one coarse-to-fine run as one result at ``size``: histories one after another, and
    ``settings["stages"]``, the (size, steps done) of each. A run stopped during a coarse stage is upsampled."""
    result = parts[0] if len(parts) == 1 else _concat(parts)
    if tuple(result.image.shape[-2:]) != tuple(size):  # stopped during a coarse stage
        result.image = F.interpolate(result.image, size=tuple(size), mode="bilinear", align_corners=False).clamp(
            0.0, 1.0
        )
    result.settings["stages"] = [(p.settings["stage"], p.steps_done) for p in parts]
    return result


def _concat(parts: list[TransferResult]) -> TransferResult:
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
        image=parts[-1].image,
        history=dict(history),
        snapshots=snapshots,
        settings=dict(parts[-1].settings),
        steps_done=done,
        interrupted=any(p.interrupted for p in parts),
        seconds=sum(p.seconds for p in parts),
        recoveries=sum(p.recoveries for p in parts),
        image_history=[dict(h) for h in per_image],
    )
