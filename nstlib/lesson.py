"""The set-up every lesson starts with: quick mode, device, and which weights (said out loud)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from nstlib.device import get_device
from nstlib.weights import default_weights, weights_available, weights_path

__all__ = ["LessonSetup", "lesson_setup", "random_weights_notice"]


@dataclass
class LessonSetup:
    quick: bool  # NSTLIB_QUICK=1: tiny images and few steps, so the lesson runs in about a minute on a CPU
    device: torch.device
    weights: str  # "imagenet" or "random[:SEED]"
    size: int  # long side of the images the lesson works at
    steps: int  # optimisation steps per run
    seed: int

    def __str__(self) -> str:
        mode = "quick mode" if self.quick else "full size"
        return f"{mode}: size={self.size}px, steps={self.steps}, device={self.device}, weights={self.weights}"


_NETWORK_NAMES = {"inception_v3": "Inception v3", "googlenet": "GoogLeNet"}


def random_weights_notice(arch: str = "vgg19") -> str:
    """The message lessons show when they run on random weights."""
    network = _NETWORK_NAMES.get(arch, "VGG")
    return (
        f"NOTICE: this lesson is running on RANDOM {network} weights, not the ImageNet-trained ones. "
        "The code and the maths are the same, but the pictures differ: "
        + ("dreams show fine colour grain instead of the eyes, fur and arches a trained network adds, and "
           "feature maps look like random filters. " if arch in _NETWORK_NAMES else
           "reconstructions look noisier, style transfer gives texture-like colour and grain instead of brush "
           "strokes, and feature maps look like random filters. ")
        + "To see the real thing, get the file "
        f"'{weights_path(arch).name}' (`python -m nstlib fetch-weights --arch {arch}` on a machine with internet, or "
        f"copy it into '{weights_path(arch).parent}') and run the lesson again with NSTLIB_WEIGHTS unset."
    )


def _show(message: str) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(HTML(
                '<div style="border:2px solid #d9822b;background:#fff4e5;padding:8px 12px;'
                f'border-radius:4px;color:#5c3a00"><b>⚠ Random weights.</b> {message}</div>'))
            print(message)  # also in plain text, so it shows in any front end and in logs
            return
    except ImportError:
        pass
    print(message)


def lesson_setup(size: int = 256, steps: int = 300, quick_size: int = 64, quick_steps: int = 20,
                 seed: int = 0, arch: str = "vgg19") -> LessonSetup:
    """Read ``NSTLIB_QUICK`` / ``NSTLIB_WEIGHTS``, choose the device, and say which weights are used.

    With ``NSTLIB_WEIGHTS`` unset the lesson uses ImageNet weights when they are cached; when they
    are not, it says so in a visible notice and uses seeded random weights so the lesson still runs.
    """
    quick = os.environ.get("NSTLIB_QUICK", "").strip() not in ("", "0", "false", "no")
    weights = default_weights()
    if "NSTLIB_WEIGHTS" not in os.environ and not weights_available(arch):
        weights = "random"
    if weights == "random" or weights.startswith("random:"):
        _show(random_weights_notice(arch))
    torch.manual_seed(seed)
    setup = LessonSetup(quick, get_device(), weights, quick_size if quick else size, quick_steps if quick else steps, seed)
    print(setup)
    return setup
