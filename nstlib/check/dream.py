"""Checkers for lesson 07 DeepDream."""
from __future__ import annotations

__all__: list[str] = []
