"""Checkers for lesson 03 content reconstruction."""
from __future__ import annotations

__all__: list[str] = []
