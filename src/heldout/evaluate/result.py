"""Evaluation results and the CSV/JSON files they are written to.

A result names exactly what it scored: the manifest's sha256, the prediction file's sha256, the
class-subset policy and the package version. Files are written atomically and only after every
result was computed, so a failed run leaves no partial table behind. Nothing time-dependent is
written: the same inputs give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heldout.atomic import write_atomic
from heldout.evaluate.metrics import Accuracy

__all__ = ["EvaluationResult", "pivot", "results_to_csv", "results_to_json", "write_results"]


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """One model scored on one test set.

    ``metrics`` maps ``top1``, ``top5``, ``real_top1``, ... to :class:`Accuracy`; ``excluded`` counts
    images left out (outside a class subset, or with an empty ReaL set for the ``real_*`` metrics).
    """

    dataset: str
    model: str
    metrics: dict[str, Accuracy]
    per_class: np.ndarray
    excluded: dict[str, int] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, metric: str) -> float:
        """``result["top1"]`` is the top-1 accuracy in percent."""
        return self.metrics[metric].percent

    def to_row(self) -> dict[str, Any]:
        """A flat record: one CSV row."""
        row: dict[str, Any] = {"dataset": self.dataset, "model": self.model}
        for name, acc in self.metrics.items():
            row[name] = round(acc.percent, 4)
            row[f"{name}_low"] = round(acc.low, 4)
            row[f"{name}_high"] = round(acc.high, 4)
            row[f"{name}_images"] = acc.total
        row.update({f"excluded_{k}": v for k, v in self.excluded.items()})
        row["flags"] = "; ".join(self.flags)
        row["manifest_sha256"] = self.provenance.get("manifest_sha256", "")
        row["predictions_sha256"] = self.provenance.get("predictions_sha256", "")
        row["heldout_version"] = self.provenance.get("heldout_version", "")
        row.update({k: self.provenance[k] for k in ("subset_policy", "subset_exact") if k in self.provenance})
        if "model_fingerprint" in self.provenance:  # a model run here, not a prediction file
            row["model_fingerprint"] = self.provenance["model_fingerprint"]
            row["preprocessing"] = json.dumps(self.provenance["preprocessing"], sort_keys=True)
        return row

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "model": self.model,
            "metrics": {
                name: {
                    "percent": acc.percent,
                    "correct": acc.correct,
                    "images": acc.total,
                    "ci95": [acc.low, acc.high],
                }
                for name, acc in self.metrics.items()
            },
            "excluded": self.excluded,
            "flags": list(self.flags),
            "per_class_top1": [None if math.isnan(v) else round(float(v), 4) for v in self.per_class],
            "provenance": self.provenance,
        }


def results_to_csv(results: Sequence[EvaluationResult]) -> str:
    rows = [r.to_row() for r in results]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def results_to_json(results: Sequence[EvaluationResult]) -> str:
    return json.dumps({"results": [r.to_dict() for r in results]}, indent=2) + "\n"


def write_results(
    results: Sequence[EvaluationResult],
    *,
    csv_path: str | Path | None = None,
    json_path: str | Path | None = None,
) -> list[Path]:
    """Write the results table as CSV and/or JSON (atomically)."""
    written = []
    if csv_path is not None:
        written.append(write_atomic(csv_path, results_to_csv(results)))
    if json_path is not None:
        written.append(write_atomic(json_path, results_to_json(results)))
    return written


def pivot(
    results: Sequence[EvaluationResult], metric: str = "top1"
) -> tuple[list[str], list[str], np.ndarray]:
    """Models × datasets table of one metric (NaN where a model was not scored on a set)."""
    models = sorted({r.model for r in results})
    datasets = list(dict.fromkeys(r.dataset for r in results))
    table = np.full((len(models), len(datasets)), np.nan)
    for r in results:
        if metric in r.metrics:
            table[models.index(r.model), datasets.index(r.dataset)] = r[metric]
    return models, datasets, table
