"""One analysis of a new test set against its original: the line, each model's place, the classes.

:func:`analyze` takes evaluation results (one per model and set, as ``heldout evaluate`` and the
model runner produce them), pairs them by model, fits the line over the declared models, and
gathers everything a report shows. :func:`analyze_predictions` does the same from a folder of
prediction files in the published layout ``<dataset>/<model>.npy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heldout import __version__
from heldout.analysis.fit import TESTBED_SEED, LineFit, Transform, fit_line
from heldout.analysis.paired import PairedComparison, compare_ranking
from heldout.analysis.reference import ReferenceLine, load_reference_line, reference_for
from heldout.analysis.shift import ShiftCheck, shift_check
from heldout.classes import ClassSet
from heldout.datasets import TestSet, list_datasets, load_dataset, resolve_name
from heldout.errors import AnalysisError, UnknownDatasetError
from heldout.evaluate import EvaluationResult, evaluate, load_predictions, read_published_layout
from heldout.evaluate.predictions import Predictions, model_name
from heldout.stats import clopper_pearson

__all__ = [
    "Analysis",
    "ClassDrop",
    "ModelPoint",
    "analyze",
    "analyze_predictions",
    "resolve_set",
]

MIN_ORIGINAL = 55.0  # imagenet-testbed's "shown in plot" rule; it drops the Fisher-vector baselines
WORST_CLASSES = 10
EXAMPLES_PER_CLASS = 5
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ModelPoint:
    """One model on both sets (accuracies in percent, intervals at the analysis' confidence)."""

    model: str
    original: float
    new: float
    original_interval: tuple[float, float]
    new_interval: tuple[float, float]
    images: tuple[int, int]
    in_fit: bool
    expected_new: float
    effective_robustness: float
    effective_robustness_pp: float
    real: float | None = None
    real_interval: tuple[float, float] | None = None
    flags: tuple[str, ...] = ()

    @property
    def gap(self) -> float:
        """New minus original accuracy, in points (negative: the model lost accuracy)."""
        return self.new - self.original


@dataclass(frozen=True)
class ClassDrop:
    """A class's mean accuracy over the fitted models on both sets, and its hardest new images."""

    index: int
    class_id: str
    name: str
    original: float
    new: float
    examples: tuple[str, ...]

    @property
    def drop(self) -> float:
        return self.new - self.original


@dataclass(frozen=True)
class Analysis:
    """Everything one report shows; built by :func:`analyze`."""

    original_set: str
    new_set: str
    metric: str
    points: tuple[ModelPoint, ...]
    fit: LineFit
    confidence: float
    reference: ReferenceLine | None = None
    real_fit: LineFit | None = None
    real_reference: ReferenceLine | None = None
    class_drops: tuple[ClassDrop, ...] = ()
    ranking: tuple[PairedComparison, ...] = ()
    shift: ShiftCheck | None = None
    datasheet: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def transform(self) -> Transform:
        return self.fit.transform

    def point(self, model: str) -> ModelPoint:
        for p in self.points:
            if p.model == model:
                return p
        raise AnalysisError(f"no model {model!r} in this analysis")


def analyze(
    original: Sequence[EvaluationResult],
    new: Sequence[EvaluationResult],
    *,
    models: Sequence[str] | None = None,
    transform: Transform = "probit",
    reference: str | None = None,
    metric: str = "top1",
    min_original: float = MIN_ORIGINAL,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = TESTBED_SEED,
    correct: Mapping[str, np.ndarray] | None = None,
    new_testset: TestSet | None = None,
    shift: ShiftCheck | None = None,
    datasheet: str | None = None,
) -> Analysis:
    """Fit the line of ``new`` against ``original`` accuracy and place every model relative to it.

    ``models`` declares the fit set; by default every model with original accuracy >=
    ``min_original`` and no known problem (``flags``). Every paired model is shown and gets an
    effective robustness either way. ``reference`` is ``testbed``/``timm`` (the line for the new
    set's variant) or a full line name. ``correct`` (per-image top-1 correctness on the new set,
    by model) enables the paired ranking tests and, with ``new_testset``, example images of the
    worst classes. ``confidence`` is for the per-point intervals (0.95, or 0.995 as the testbed).
    """
    original_set, by_original = _by_model(original, "original")
    new_set, by_new = _by_model(new, "new")
    paired = [m for m in by_new if m in by_original]
    if not paired:
        raise AnalysisError(
            f"no model was scored on both {original_set} and {new_set}",
            fix="evaluate the same models (same names) on both sets",
        )
    fitted = _fit_set(paired, by_original, by_new, models, metric, min_original)
    x = np.array([by_original[m][metric] for m in fitted])
    y = np.array([by_new[m][metric] for m in fitted])
    line = fit_line(x, y, transform, resamples=resamples, seed=seed)
    points = tuple(
        _point(m, by_original[m], by_new[m], line, metric, confidence, m in fitted) for m in paired
    )
    real_fit = _real_fit(points, fitted, transform, resamples, seed)
    return Analysis(
        original_set=original_set,
        new_set=new_set,
        metric=metric,
        points=points,
        fit=line,
        confidence=confidence,
        reference=_reference(reference, new_set),
        real_fit=real_fit,
        real_reference=load_reference_line("timm/real") if real_fit is not None else None,
        class_drops=_class_drops(fitted, by_original, by_new, correct, new_testset),
        ranking=tuple(compare_ranking(correct)) if correct else (),
        shift=shift,
        datasheet=datasheet,
        provenance={
            "heldout_version": __version__,
            "seed": seed,
            "resamples": resamples,
            "fit_models": len(fitted),
            "min_original": min_original if models is None else None,
            "manifest_sha256": {
                original_set: original[0].provenance.get("manifest_sha256", ""),
                new_set: new[0].provenance.get("manifest_sha256", ""),
            },
        },
    )


def analyze_predictions(
    root: str | Path,
    *,
    original: str,
    new: str,
    features: tuple[str | Path | np.ndarray, str | Path | np.ndarray] | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> Analysis:
    """:func:`analyze` on prediction files in the published layout ``<root>/<dataset>/<model>.npy``.

    ``original`` and ``new`` name folders of ``root`` (registered names, aliases, or a unique
    suffix such as ``val`` or ``b-33``). Models are paired by file name; the original set is
    scored with ReaL where it has ReaL labels. ``features`` (original, new: arrays or ``.npy``
    files of per-image features) adds the distribution-shift check, seeded with ``seed``.
    """
    if features is not None:
        options["shift"] = shift_check(
            _load_features(features[0]), _load_features(features[1]), seed=options.get("seed", TESTBED_SEED)
        )
    layout = read_published_layout(root)
    original_name, new_name = resolve_set(original, layout), resolve_set(new, layout)
    original_files = {model_name(p): p for p in layout[original_name]}
    new_files = {model_name(p): p for p in layout[new_name]}
    shared = [m for m in new_files if m in original_files]
    original_set, new_set = load_dataset(original_name), load_dataset(new_name)
    original_results, new_results, correct = [], [], {}
    for done, model in enumerate(shared, start=1):
        original_results.append(evaluate(original_set, load_predictions(original_files[model]), real=True))
        predictions = load_predictions(new_files[model])
        new_results.append(evaluate(new_set, predictions))
        correct[model] = _top1_correct(new_set, predictions)
        if progress:
            progress(done, len(shared))
    return analyze(original_results, new_results, correct=correct, new_testset=new_set, **options)


def resolve_set(name: str, folders: Mapping[str, Any] | Sequence[str]) -> str:
    """The folder a user means: its exact name, a registered name or alias, or a unique suffix."""
    available = list(folders)
    if name in available:
        return name
    try:
        canonical = resolve_name(name)
    except UnknownDatasetError:
        canonical = None
    if canonical in available:
        return canonical
    aliases = {alias: resolve_name(alias) for alias in list_datasets(include_aliases=True)}
    matches = sorted(
        {f for f in available if f.endswith(f"-{name}")}
        | {target for alias, target in aliases.items() if alias.endswith(f"-{name}") and target in available}
    )
    if len(matches) != 1:
        found = f"{len(matches)} sets match ({', '.join(matches)})" if matches else "no set matches"
        raise AnalysisError(
            f"{found} {name!r}",
            fix=f"name one of: {', '.join(available)}",
        )
    return matches[0]


def _by_model(results: Sequence[EvaluationResult], which: str) -> tuple[str, dict[str, EvaluationResult]]:
    if not results:
        raise AnalysisError(f"no {which}-set results given")
    datasets = sorted({r.dataset for r in results})
    if len(datasets) != 1:
        raise AnalysisError(
            f"the {which}-set results mix {len(datasets)} test sets: {', '.join(datasets)}",
            fix=f"pass the results of one {which} set",
        )
    by_model: dict[str, EvaluationResult] = {}
    for r in results:
        if r.model in by_model:
            raise AnalysisError(f"{r.model} appears twice in the {which}-set results", where=r.dataset)
        by_model[r.model] = r
    return datasets[0], by_model


def _fit_set(
    paired: list[str],
    by_original: dict[str, EvaluationResult],
    by_new: dict[str, EvaluationResult],
    models: Sequence[str] | None,
    metric: str,
    min_original: float,
) -> list[str]:
    missing_metric = [
        m for m in paired if metric not in by_original[m].metrics or metric not in by_new[m].metrics
    ]
    if missing_metric:
        raise AnalysisError(
            f"{len(missing_metric)} model(s) have no {metric!r} metric (e.g. {missing_metric[0]})",
            fix="evaluate with this top-k, or choose another metric",
        )
    if models is None:
        return [
            m
            for m in paired
            if by_original[m][metric] >= min_original and not by_original[m].flags and not by_new[m].flags
        ]
    unknown = [m for m in models if m not in paired]
    if unknown:
        raise AnalysisError(
            f"{len(unknown)} declared model(s) are not scored on both sets: {', '.join(unknown[:5])}",
            fix=f"choose among: {', '.join(sorted(paired)[:20])}",
        )
    return list(dict.fromkeys(models))


def _intervals(result: EvaluationResult, metric: str, confidence: float) -> tuple[float, float]:
    acc = result.metrics[metric]
    low, high = clopper_pearson(acc.correct, acc.total, confidence=confidence)
    return 100.0 * float(low), 100.0 * float(high)


def _point(
    model: str,
    original: EvaluationResult,
    new: EvaluationResult,
    line: LineFit,
    metric: str,
    confidence: float,
    in_fit: bool,
) -> ModelPoint:
    x, y = original[metric], new[metric]
    finite = line.transform == "linear" or (0 < x < 100 and 0 < y < 100)
    er, er_pp = line.effective_robustness([x], [y]) if finite else (np.array([np.nan]),) * 2
    real_metric = f"real_{metric}"
    has_real = real_metric in original.metrics
    return ModelPoint(
        model=model,
        original=x,
        new=y,
        original_interval=_intervals(original, metric, confidence),
        new_interval=_intervals(new, metric, confidence),
        images=(original.metrics[metric].total, new.metrics[metric].total),
        in_fit=in_fit,
        expected_new=float(line.predict(x)) if 0 < x < 100 or line.transform == "linear" else float("nan"),
        effective_robustness=float(er[0]),
        effective_robustness_pp=float(er_pp[0]),
        real=original[real_metric] if has_real else None,
        real_interval=_intervals(original, real_metric, confidence) if has_real else None,
        flags=tuple(dict.fromkeys((*original.flags, *new.flags))),
    )


def _real_fit(
    points: tuple[ModelPoint, ...], fitted: list[str], transform: Transform, resamples: int, seed: int
) -> LineFit | None:
    """ReaL against original accuracy over the fitted models, when there are enough of them."""
    chosen = [p for p in points if p.model in fitted and p.real is not None]
    if len(chosen) < 3:
        return None
    return fit_line(
        [p.original for p in chosen], [p.real for p in chosen], transform, resamples=resamples, seed=seed
    )


def _reference(reference: str | None, new_set: str) -> ReferenceLine | None:
    if reference is None:
        return None
    if "/" in reference:
        return load_reference_line(reference)
    return reference_for(reference, new_set)


def _class_drops(
    fitted: list[str],
    by_original: dict[str, EvaluationResult],
    by_new: dict[str, EvaluationResult],
    correct: Mapping[str, np.ndarray] | None,
    testset: TestSet | None,
) -> tuple[ClassDrop, ...]:
    """The classes whose accuracy fell most, averaged over the fitted models."""
    before = np.array([by_original[m].per_class for m in fitted], dtype=np.float64)
    after = np.array([by_new[m].per_class for m in fitted], dtype=np.float64)
    if before.ndim != 2 or before.shape != after.shape or before.shape[1] == 0:
        return ()
    original, new = np.nanmean(before, axis=0), np.nanmean(after, axis=0)
    scored = np.flatnonzero(np.isfinite(original) & np.isfinite(new))
    worst = scored[np.lexsort((scored, (new - original)[scored]))][:WORST_CLASSES]
    hardness = _hardness(fitted, correct, testset)
    classes: ClassSet | None = testset.classes if testset is not None else None
    return tuple(
        ClassDrop(
            index=int(c),
            class_id=str(classes[int(c)].id) if classes is not None else str(c),
            name=classes[int(c)].name if classes is not None else "",
            original=float(original[c]),
            new=float(new[c]),
            examples=_examples(int(c), hardness, testset),
        )
        for c in worst
    )


def _hardness(
    fitted: list[str], correct: Mapping[str, np.ndarray] | None, testset: TestSet | None
) -> np.ndarray | None:
    """Share of the fitted models that got each new-set image right (None without per-image data)."""
    if not correct or testset is None:
        return None
    rows = [np.asarray(correct[m], dtype=bool) for m in fitted if m in correct]
    if not rows or any(r.shape != (len(testset),) for r in rows):
        return None
    return np.mean(rows, axis=0)


def _examples(index: int, hardness: np.ndarray | None, testset: TestSet | None) -> tuple[str, ...]:
    if hardness is None or testset is None:
        return ()
    members = np.flatnonzero(testset.labels == index)
    order = members[np.lexsort((testset.ids[members], hardness[members]))]
    return tuple(str(i) for i in testset.ids[order[:EXAMPLES_PER_CLASS]])


def _top1_correct(testset: TestSet, predictions: Predictions) -> np.ndarray:
    """Per-image top-1 correctness in manifest order (rows matched by id when the file has ids)."""
    ranked = predictions.ranked
    if predictions.ids is not None:
        order = np.argsort(predictions.ids)
        ranked = ranked[order[np.searchsorted(predictions.ids[order], testset.ids)]]
    return ranked[:, 0] == testset.labels


def _load_features(source: str | Path | np.ndarray) -> np.ndarray:
    if isinstance(source, np.ndarray):
        return source
    path = Path(source)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AnalysisError(
            f"not a readable .npy feature array: {exc}", where=path, fix="save features with numpy.save"
        ) from exc
