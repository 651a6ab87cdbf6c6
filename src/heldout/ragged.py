"""Ragged arrays in CSR form (offsets + flat values): label sets, per-image lists."""

from __future__ import annotations

import numpy as np

__all__ = ["take_rows"]


def take_rows(
    offsets: np.ndarray, values: np.ndarray, positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``positions`` of a CSR array, in that order: (new offsets, new flat values), no loop."""
    positions = np.asarray(positions, dtype=np.int64)
    counts = np.diff(offsets)[positions]
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    starts = np.repeat(offsets[positions], counts)
    within = np.arange(new_offsets[-1]) - np.repeat(new_offsets[:-1], counts)
    return new_offsets, values[starts + within]
