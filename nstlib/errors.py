"""nstlib's exceptions: every message says what happened and what to do next.

All derive from :class:`NSTError`, so ``except nst.NSTError`` catches anything nstlib raises on
purpose; the command line prints such errors as one line and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "NSTError",
    "ImageError",
    "ImageTooSmallError",
    "WeightsError",
    "OutputError",
    "DeviceError",
    "ResourceError",
    "InputError",
    "ClaimError",
]


class NSTError(Exception):
    """Base class of every error nstlib raises on purpose."""


class InputError(NSTError, ValueError):
    """A value handed to the API is unusable (wrong type, shape, range, or not finite)."""


class ImageError(NSTError, ValueError):
    """An image file could not be read (missing, empty, truncated, not an image, too large)."""


class ImageTooSmallError(InputError):
    """An image is smaller than the deepest requested layer can work with."""


class WeightsError(NSTError, RuntimeError):
    """Network weights are missing, corrupt, or for a different architecture."""


class OutputError(NSTError, OSError):
    """A result could not be written (file exists, folder not writable, unknown format)."""


class DeviceError(NSTError, RuntimeError):
    """The requested device (cuda, mps) is not available here."""


class ResourceError(NSTError, RuntimeError):
    """The device ran out of memory; the message says what size would fit."""


class ClaimError(NSTError, AssertionError):
    """A claim a lesson makes did not hold on this run (``nst.claim`` in strict mode: ``NSTLIB_STRICT_CLAIMS=1``)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an out-of-memory failure from any backend: CUDA's OutOfMemoryError, Python's MemoryError,
    or the plain RuntimeError that MPS and the CPU allocator raise ("out of memory", "can't allocate memory")."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
