"""``heldout demo --published``: every published model on every published test set, with ReaL.

It reproduces the ImageNetV2 accuracy drops and the ReaL numbers from the released prediction
files. The predictions are not package data (65 MB); they are looked for in ``--data``,
``$HELDOUT_DATA``, then ``../shared/data``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from heldout.errors import ConfigError
from heldout.evaluate import EvaluationResult, evaluate_published

__all__ = ["find_data_dir", "run_demo"]

_PREDICTIONS = Path("imagenetv2") / "predictions"


def find_data_dir(data: str | Path | None = None) -> Path:
    """The public-data folder holding ``imagenetv2/predictions``: ``data`` if given, else the
    first of ``$HELDOUT_DATA`` and ``../shared/data`` that has it."""
    if data:
        candidates = [Path(data)]
    else:
        candidates = [Path(os.environ["HELDOUT_DATA"])] if os.environ.get("HELDOUT_DATA") else []
        candidates.append(Path.cwd().parent / "shared" / "data")
    for candidate in candidates:
        if (candidate / _PREDICTIONS).is_dir():
            return candidate
    tried = ", ".join(str(c / _PREDICTIONS) for c in candidates)
    raise ConfigError(
        f"the published ImageNetV2 predictions were not found (looked in {tried})",
        fix="pass --data DIR, where DIR/imagenetv2/predictions/<dataset>/<model>.npy exist "
        "(the prediction files of modestyachts/ImageNetV2)",
    )


def run_demo(
    data: str | Path | None = None, *, progress: Callable[[int, int], None] | None = None
) -> list[EvaluationResult]:
    """Score all published models on all five published sets, with ReaL on the val sets."""
    return evaluate_published(find_data_dir(data) / _PREDICTIONS, real=True, progress=progress)
