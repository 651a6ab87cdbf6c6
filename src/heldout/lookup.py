"""Where values sit in an array of unique keys, by sorting once: no dict, no loop per value."""

from __future__ import annotations

import numpy as np

__all__ = ["lookup"]


def lookup(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``wanted`` sits in the unsorted unique ``keys``: (found mask, index into keys;
    0 where not found)."""
    keys, wanted = np.asarray(keys), np.asarray(wanted)
    if not len(keys):
        return np.zeros(len(wanted), dtype=bool), np.zeros(len(wanted), dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    index = order[np.minimum(np.searchsorted(keys, wanted, sorter=order), len(keys) - 1)]
    found = keys[index] == wanted
    return found, np.where(found, index, 0)
