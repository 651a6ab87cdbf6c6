"""Aggregation: answers → a score per question (selection frequency, majority, Dawid–Skene).

>>> from heldout.aggregate import DawidSkene
>>> scores = DawidSkene(grouped_prior=True).fit_predict_proba(answers)   # doctest: +SKIP
"""

from heldout.aggregate.adaptive import AdaptivePolicy, ReplayResult, replay
from heldout.aggregate.base import Aggregator
from heldout.aggregate.dawid_skene import DawidSkene
from heldout.aggregate.frequency import MajorityVote, SelectionFrequency
from heldout.aggregate.operating import (
    LabelSets,
    PRCurve,
    clean_subset,
    label_sets,
    plot_precision_recall,
    precision_recall,
    write_clean_subset,
    write_real_json,
)
from heldout.aggregate.quality import (
    WorkerQuality,
    confusion_prior,
    control_truth,
    expert_majority,
    worker_quality,
)
from heldout.aggregate.stage import AggregationResult, aggregate, export_labels, measure_workers

__all__ = [
    "AdaptivePolicy",
    "AggregationResult",
    "Aggregator",
    "DawidSkene",
    "LabelSets",
    "MajorityVote",
    "PRCurve",
    "ReplayResult",
    "SelectionFrequency",
    "WorkerQuality",
    "aggregate",
    "clean_subset",
    "confusion_prior",
    "control_truth",
    "expert_majority",
    "export_labels",
    "label_sets",
    "measure_workers",
    "plot_precision_recall",
    "precision_recall",
    "replay",
    "worker_quality",
    "write_clean_subset",
    "write_real_json",
]
