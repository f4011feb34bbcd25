"""Checkers for lesson 01 CNN basics."""
from __future__ import annotations

__all__: list[str] = []
