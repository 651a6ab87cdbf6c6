"""Can a classifier tell the original images from the new ones? A distribution-shift check.

ImageNetV2's discriminator check: train a classifier on image features (e.g. CNN embeddings) to
say "original set" or "new set", and measure how well it does on images it was not trained on.
An area under the ROC curve (AUC) of 0.5 means no detectable shift; the interval says whether the
AUC could be 0.5 by chance. Out-of-fold scores from stratified k-fold cross-validation (shuffled
with ``seed``) are pooled into one AUC; its interval is DeLong's (normal approximation with the
exact two-sample variance), computed from mid-ranks in one array pass.

scikit-learn is an optional dependency (``heldout[demo]``), imported when the check runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from heldout.errors import AnalysisError

__all__ = ["ShiftCheck", "auc_interval", "shift_check"]


@dataclass(frozen=True)
class ShiftCheck:
    """Cross-validated AUC of original-vs-new discrimination, with its interval."""

    auc: float
    low: float
    high: float
    confidence: float
    folds: int
    fold_aucs: tuple[float, ...]
    original_images: int
    new_images: int
    features: int
    seed: int

    @property
    def detectable(self) -> bool:
        """The interval lies above 0.5: the classifier separates the sets better than chance."""
        return self.low > 0.5

    def summary(self) -> str:
        verdict = (
            "a shift is detectable" if self.detectable else "no detectable shift (interval contains 0.5)"
        )
        return (
            f"AUC {self.auc:.3f} [{self.low:.3f}, {self.high:.3f}] ({100 * self.confidence:g} %, "
            f"{self.folds}-fold, {self.original_images} original vs {self.new_images} new images, "
            f"{self.features} features): {verdict}"
        )


def shift_check(
    original: np.ndarray,
    new: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    confidence: float = 0.95,
    regularization: float = 1.0,
) -> ShiftCheck:
    """Logistic regression on standardised features, original (0) vs new (1), cross-validated."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    x0, x1 = _features(original, "original"), _features(new, "new")
    if x0.shape[1] != x1.shape[1]:
        raise AnalysisError(
            f"original features have {x0.shape[1]} dimensions, new ones {x1.shape[1]}",
            fix="compute both with the same feature extractor",
        )
    if folds < 2 or min(len(x0), len(x1)) < folds:
        raise AnalysisError(
            f"{folds}-fold cross-validation needs >= {max(folds, 2)} images per set "
            f"(got {len(x0)} original, {len(x1)} new)",
            fix="give more images or fewer folds (at least 2)",
        )
    x = np.concatenate([x0, x1])
    y = np.concatenate([np.zeros(len(x0), np.int8), np.ones(len(x1), np.int8)])
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=regularization, max_iter=2000, class_weight="balanced")
    )
    # The fits are matrix-vector products: one BLAS thread is as fast on an idle machine, and
    # spinning BLAS threads made them ~30x slower on a busy one (measured on 2 cores).
    with threadpool_limits(limits=1, user_api="blas"):
        scores = cross_val_predict(model, x, y, cv=splitter, method="decision_function")
    auc, low, high = auc_interval(scores[y == 1], scores[y == 0], confidence=confidence)
    fold_aucs = tuple(
        auc_interval(scores[test][y[test] == 1], scores[test][y[test] == 0])[0]
        for _, test in splitter.split(x, y)
    )
    return ShiftCheck(auc, low, high, confidence, folds, fold_aucs, len(x0), len(x1), x.shape[1], seed)


def auc_interval(
    positive: np.ndarray, negative: np.ndarray, *, confidence: float = 0.95
) -> tuple[float, float, float]:
    """AUC of scores (positives should score higher) and DeLong's interval, clipped to [0, 1]."""
    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    m, n = positive.size, negative.size
    if m < 2 or n < 2:
        raise AnalysisError(f"an AUC interval needs >= 2 scores per class, got {m} and {n}")
    overall = rankdata(np.concatenate([positive, negative]))
    within_pos, within_neg = rankdata(positive), rankdata(negative)
    auc = (overall[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (overall[:m] - within_pos) / n
    v01 = 1.0 - (overall[m:] - within_neg) / m
    se = np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    z = float(ndtri(1 - (1 - confidence) / 2))
    return float(auc), float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


def _features(values: np.ndarray, which: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise AnalysisError(f"{which} features must be an (images, features) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise AnalysisError(f"{which} features contain NaN or infinite values", fix="check the extractor")
    return array
