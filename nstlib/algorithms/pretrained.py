"""Transfer networks trained by the kit itself, shipped with it: a feed-forward result without training first.

Each one was trained by ``make transfer-nets`` (``tools/train_transfer_nets.py``) with
:func:`nstlib.algorithms.texnet.train_transfer_net` on the photos of ``images/`` whose licences allow it,
and its file is checked against the SHA-256 recorded in ``nstlib/weights/transfer_nets/manifest.json``,
which also records how it was trained: the settings, the seconds, the photos and their licences.

    >>> net = pretrained_transfer_net("starry_night")
    >>> net.config
    {'width': 16, 'n_residual': 5}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from nstlib.algorithms.texnet import TransferNet, load_transfer_net
from nstlib.errors import InputError, WeightsError
from nstlib.weights.files import sha256_file

__all__ = ["pretrained_transfer_net", "pretrained_transfer_nets", "PRETRAINED_DIR"]

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "weights" / "transfer_nets"


def pretrained_transfer_nets() -> dict[str, dict[str, Any]]:
    """``{style name: its manifest entry}``: file, sha256, style image, training settings, photos, licences."""
    try:
        return dict(json.loads((PRETRAINED_DIR / "manifest.json").read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise WeightsError(
            f"The shipped transfer networks' manifest is missing or unreadable ({PRETRAINED_DIR / 'manifest.json'}: "
            f"{type(exc).__name__}). Restore it from the repository (git checkout -- nstlib/weights) or "
            "retrain them with `make transfer-nets`."
        ) from None


def pretrained_transfer_net(style: str = "starry_night", device: torch.device | str | None = None) -> TransferNet:
    """The transfer network the kit trained for ``style`` (see :func:`pretrained_transfer_nets`), in eval mode.

    The file's SHA-256 must match the manifest's: a truncated or changed file raises
    :class:`~nstlib.errors.WeightsError` instead of stylising with wrong weights.
    """
    shipped = pretrained_transfer_nets()
    if style not in shipped:
        raise InputError(f"No shipped transfer network for {style!r}; there are: {', '.join(sorted(shipped))}.")
    entry = shipped[style]
    path = PRETRAINED_DIR / entry["file"]
    if not path.is_file():
        raise WeightsError(f"The shipped network file {path} is missing: restore it with git, or `make transfer-nets`.")
    found = sha256_file(path)
    if found != entry["sha256"]:
        raise WeightsError(
            f"{path} does not match its recorded SHA-256 (found {found[:12]}…, expected {entry['sha256'][:12]}…): "
            "the file is damaged or was changed. Restore it with git (git checkout -- nstlib/weights), or "
            "retrain with `make transfer-nets`, which rewrites the manifest."
        )
    return load_transfer_net(path, device=device)
