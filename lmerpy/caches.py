"""Bounded memo tables for pieces that depend only on a pattern (a template, a sparsity
pattern, a category index): fits of data of the same shape, and refits, reuse them.

R equivalent: none.
"""
from __future__ import annotations

from typing import Any, Dict, Hashable, Optional

import numpy as np

__all__ = ["PatternCache", "read_only"]


def read_only(value: Any) -> Any:
    """``value`` with its NumPy arrays (it, or those in a tuple, list or dict of them) made
    read-only, so that a shared entry cannot be changed through one of its users."""
    parts = value.values() if isinstance(value, dict) else \
        value if isinstance(value, (tuple, list)) else (value,)
    for v in parts:
        if isinstance(v, np.ndarray):
            v.flags.writeable = False
    return value


class PatternCache:
    """A dict of at most ``limit`` entries, emptied when full (patterns repeat across refits
    of one design; a few designs in turn; no use keeping many)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._d: Dict[Hashable, Any] = {}

    def get(self, key: Hashable, default: Optional[Any] = None) -> Any:
        return self._d.get(key, default)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._d

    def __getitem__(self, key: Hashable) -> Any:
        return self._d[key]

    def __len__(self) -> int:
        return len(self._d)

    def clear(self) -> None:
        self._d.clear()

    def put(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` (its arrays made read-only: :func:`read_only`) and return it."""
        if len(self._d) >= self.limit:
            self._d.clear()
        self._d[key] = read_only(value)
        return value
