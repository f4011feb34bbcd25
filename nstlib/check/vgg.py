"""Checkers for lesson 02 VGG layers."""
from __future__ import annotations

__all__: list[str] = []
