"""Choosing where tensors live (CUDA, then Apple MPS, then the CPU), and how much memory is free there."""

from __future__ import annotations

import os

import torch

from nstlib.errors import DeviceError

__all__ = ["get_device", "available_memory"]

_KNOWN = ("cuda", "mps", "cpu")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return kind == "cpu"


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the best available device: ``cuda`` → ``mps`` → ``cpu``.

    ``prefer`` (or the ``NSTLIB_DEVICE`` environment variable, which wins over it) names a device
    explicitly, e.g. ``"cpu"`` or ``"cuda:1"``; asking for one that is not available raises
    :class:`DeviceError` instead of silently running elsewhere.

    >>> get_device("cpu")
    device(type='cpu')
    """
    choice = os.environ.get("NSTLIB_DEVICE") or prefer
    if choice is not None:
        device = torch.device(choice)
        if device.type not in _KNOWN:
            raise DeviceError(f"Unknown device {str(choice)!r}: use one of 'cuda', 'mps' or 'cpu'.")
        if not _available(device.type):
            raise DeviceError(
                f"Device {str(choice)!r} was requested but is not available on this machine. "
                "Use get_device() to pick the best available one, or set NSTLIB_DEVICE=cpu."
            )
        return device
    for kind in _KNOWN:
        if _available(kind):
            return torch.device(kind)
    return torch.device("cpu")  # pragma: no cover - cpu is always available


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Free bytes on ``device`` now: CUDA's free memory, MPS's recommended budget, or the
    operating system's available RAM (Linux ``MemAvailable``). ``None`` where it cannot be told."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # Blocks PyTorch's caching allocator holds but does not use are free for this process too.
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
