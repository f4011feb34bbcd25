"""Checkers for lesson 06 layer ablations."""
from __future__ import annotations

__all__: list[str] = []
