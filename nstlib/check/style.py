"""Checkers for lesson 04 Gram-matrix style."""
from __future__ import annotations

__all__: list[str] = []
