"""Checkers for lesson 05 style transfer."""
from __future__ import annotations

__all__: list[str] = []
