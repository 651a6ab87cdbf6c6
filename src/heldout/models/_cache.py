"""Where exported graphs and cached logits live."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$HELDOUT_CACHE``, else ``~/.cache/heldout``."""
    return Path(os.environ.get("HELDOUT_CACHE") or Path.home() / ".cache" / "heldout")
