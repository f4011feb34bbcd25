"""Checkers for lesson 08+ beyond Gatys."""
from __future__ import annotations

__all__: list[str] = []
