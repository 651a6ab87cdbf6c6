"""Evaluation: prediction files, vectorised metrics (top-k, ReaL, intervals), result tables.

>>> from heldout import datasets, evaluate
>>> val = datasets.load_dataset("imagenet-val")
>>> preds = evaluate.load_predictions("predictions/imagenet-validation-original/resnet50.npy")
>>> evaluate.evaluate(val, preds, real=True)["real_top1"]  # doctest: +SKIP
82.96...
"""

from heldout.evaluate.metrics import (
    Accuracy,
    clopper_pearson,
    per_class_accuracy,
    real_topk_correct,
    topk_correct,
)
from heldout.evaluate.predictions import (
    Predictions,
    find_prediction_files,
    known_issue,
    load_predictions,
    model_name,
    read_published_layout,
)
from heldout.evaluate.result import (
    EvaluationResult,
    pivot,
    results_to_csv,
    results_to_json,
    write_results,
)
from heldout.evaluate.runner import ModelOutput, evaluate_model, predict_testset, run_model, run_models
from heldout.evaluate.scoring import (
    SubsetPolicy,
    evaluate,
    evaluate_files,
    evaluate_published,
    load_class_subset,
)

__all__ = [
    "Accuracy",
    "EvaluationResult",
    "ModelOutput",
    "Predictions",
    "SubsetPolicy",
    "clopper_pearson",
    "evaluate",
    "evaluate_files",
    "evaluate_model",
    "evaluate_published",
    "find_prediction_files",
    "known_issue",
    "load_class_subset",
    "load_predictions",
    "model_name",
    "per_class_accuracy",
    "pivot",
    "predict_testset",
    "read_published_layout",
    "real_topk_correct",
    "results_to_csv",
    "results_to_json",
    "run_model",
    "run_models",
    "topk_correct",
    "write_results",
]
