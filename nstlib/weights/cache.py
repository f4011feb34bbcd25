"""One per-process cache of loaded weights, so that building a network twice reads its file once.

Each entry is keyed by what was loaded (e.g. ``("imagenet", "vgg19")``) and by the *stamp* of the
file it came from, (modification time in ns, size): a file replaced on disk has a new stamp and is
read again, never served stale. The cached tensors are shared by every caller: treat them as
read-only. :func:`clear` empties the cache (tests do, after changing files behind nstlib's back).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path

import torch

__all__ = ["MAX_ENTRIES", "file_stamp", "cached_load", "clear"]

MAX_ENTRIES = 8  # the least recently used entry goes first (a VGG-19 is about 80 MB)

_entries: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
_lock = threading.Lock()


def file_stamp(path: Path | None) -> tuple:
    """(modification time in ns, size) of a file, or ``()`` when there is no such file."""
    if path is None or not path.is_file():
        return ()
    stat = path.stat()
    return (stat.st_mtime_ns, stat.st_size)


def cached_load(
    what: tuple[Hashable, ...], path: Path | None, load: Callable[[], dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """``load()``'s result for ``what`` read from ``path`` (None: from no file), cached while the file is unchanged.

    The stamp is taken before loading, so a file that ``load`` creates (a download) is read again next
    time. A ``load`` that raises caches nothing.
    """
    key = (*what, file_stamp(path))
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
    state = load()
    with _lock:
        _entries[key] = state
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return state


def clear() -> None:
    """Forget every cached state dict."""
    with _lock:
        _entries.clear()
