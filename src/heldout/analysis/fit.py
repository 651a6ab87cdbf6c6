"""Accuracy on the line: a straight line through (original, new) accuracies on a transformed scale.

Accuracies are in percent (0-100), as every published table gives them. The line is fitted by
ordinary least squares on transformed accuracies (probit ``Φ⁻¹(p)``, logit ``log(p / (1 - p))``, or
none) over a declared set of models, as imagenet-testbed's ``plotter.py`` does; its uncertainty is a
bootstrap over *models* (resampled with replacement, seeded), which is the sampling unit the line
is about. Effective robustness is a model's vertical distance from the line: in transformed units
(where the line is straight) and back in accuracy points (what a reader compares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import expit, logit, ndtr, ndtri

from heldout.errors import AnalysisError

__all__ = [
    "TRANSFORMS",
    "Band",
    "LineFit",
    "Transform",
    "check_accuracies",
    "fit_line",
    "from_scale",
    "to_scale",
]

Transform = Literal["probit", "logit", "linear"]
TRANSFORMS: tuple[Transform, ...] = ("probit", "logit", "linear")
MIN_MODELS = 3
TESTBED_SEED = 720257663  # imagenet-testbed's --seed for the bootstrap band: same resamples, same band
_GRID_POINTS = 200


def to_scale(percent: np.ndarray | Sequence[float] | float, transform: Transform) -> np.ndarray:
    """Accuracies in percent → the axis on which the line is straight."""
    p = np.asarray(percent, dtype=np.float64) / 100.0
    if transform == "probit":
        return ndtri(p)
    if transform == "logit":
        return logit(p)
    return 100.0 * p


def from_scale(z: np.ndarray | float, transform: Transform) -> np.ndarray:
    """The inverse of :func:`to_scale`: transformed values → accuracies in percent."""
    z = np.asarray(z, dtype=np.float64)
    if transform == "probit":
        return 100.0 * ndtr(z)
    if transform == "logit":
        return 100.0 * expit(z)
    return z


def check_accuracies(
    values: np.ndarray | Sequence[float], *, transform: Transform, what: str = "accuracies"
) -> np.ndarray:
    """Accuracies as a float array, refused (with the offending entry named) if unusable.

    NaN, values outside [0, 100], and, on probit/logit axes, exactly 0 or 100 (infinitely far
    away on those scales) are errors rather than silently dropped points: a dropped point
    changes the line without anyone noticing.
    """
    if transform not in TRANSFORMS:
        raise AnalysisError(f"unknown transform {transform!r}", fix=f"use one of {', '.join(TRANSFORMS)}")
    array = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(array) | (array < 0) | (array > 100)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AnalysisError(
            f"{int(bad.sum())} of the {what} are NaN or outside 0-100 % (entry {i} is {array[i]})",
            where=what,
            fix="give accuracies in percent (e.g. 76.13, not 0.7613) and leave out unscored models",
        )
    edge = (array <= 0) | (array >= 100)
    if transform != "linear" and edge.any():
        i = int(np.flatnonzero(edge)[0])
        raise AnalysisError(
            f"{what} contain {array[i]} %, which has no {transform} value",
            where=what,
            fix="leave that model out of the fit, or use the linear transform",
        )
    return array


@dataclass(frozen=True)
class Band:
    """Pointwise bootstrap interval of the fitted line on a grid of original accuracies (percent)."""

    x: np.ndarray
    low: np.ndarray
    high: np.ndarray
    confidence: float


@dataclass(frozen=True)
class LineFit:
    """``transform(new) = slope · transform(original) + intercept``, fitted over ``n`` models.

    ``slope_ci``/``intercept_ci`` and ``band`` come from ``resamples`` bootstrap fits over models
    (``seed`` makes them reproducible); ``residual_sd_pp`` is the spread of the models around
    the line in accuracy points.
    """

    transform: Transform
    slope: float
    intercept: float
    r: float
    n: int
    residual_sd_pp: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    band: Band
    resamples: int
    seed: int

    def predict(self, original: np.ndarray | Sequence[float] | float) -> np.ndarray:
        """New-set accuracy (percent) the line expects at these original accuracies."""
        z = self.slope * to_scale(original, self.transform) + self.intercept
        return from_scale(z, self.transform)

    def effective_robustness(
        self, original: np.ndarray | Sequence[float], new: np.ndarray | Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distance above the line: (in transformed units, in accuracy points)."""
        x = check_accuracies(original, transform=self.transform, what="original accuracies")
        y = check_accuracies(new, transform=self.transform, what="new accuracies")
        expected = self.slope * to_scale(x, self.transform) + self.intercept
        return to_scale(y, self.transform) - expected, y - from_scale(expected, self.transform)

    def describe(self) -> str:
        """One line for a table or a log: the equation and its intervals."""
        return (
            f"{self.transform}: slope {self.slope:.4f} [{self.slope_ci[0]:.3f}, {self.slope_ci[1]:.3f}], "
            f"intercept {self.intercept:+.4f} [{self.intercept_ci[0]:+.3f}, {self.intercept_ci[1]:+.3f}], "
            f"r = {self.r:.4f}, n = {self.n}"
        )


def fit_line(
    original: np.ndarray | Sequence[float],
    new: np.ndarray | Sequence[float],
    transform: Transform = "probit",
    *,
    resamples: int = 1000,
    seed: int = TESTBED_SEED,
    confidence: float = 0.95,
) -> LineFit:
    """Least-squares line of transformed new-set accuracy on transformed original accuracy.

    Needs at least three models with distinct original accuracies (two points always lie on a
    line, so a fit through them says nothing about whether the models follow one).
    """
    x = check_accuracies(original, transform=transform, what="original accuracies")
    y = check_accuracies(new, transform=transform, what="new accuracies")
    if x.shape != y.shape or x.ndim != 1:
        raise AnalysisError(f"{x.size} original but {y.size} new accuracies", fix="pair them model by model")
    if x.size < MIN_MODELS or np.unique(x).size < 2:
        raise AnalysisError(
            f"a line needs at least {MIN_MODELS} models with different original accuracies, got {x.size}",
            fix="declare more models for the fit (or drop --models to use every model)",
        )
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1, got {confidence}")
    zx, zy = to_scale(x, transform), to_scale(y, transform)
    slope, intercept = _ols(zx, zy, np.ones((1, zx.size)))
    slopes, intercepts = _bootstrap(zx, zy, resamples, seed)
    tail = 100 * (1 - confidence) / 2
    residual = y - from_scale(slope[0] * zx + intercept[0], transform)
    return LineFit(
        transform=transform,
        slope=float(slope[0]),
        intercept=float(intercept[0]),
        r=float(np.corrcoef(zx, zy)[0, 1]),
        n=int(x.size),
        residual_sd_pp=float(np.std(residual, ddof=2)),
        slope_ci=_interval(slopes, tail),
        intercept_ci=_interval(intercepts, tail),
        band=_band(x, slopes, intercepts, transform, tail, confidence),
        resamples=resamples,
        seed=seed,
    )


def _ols(zx: np.ndarray, zy: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept of every row's weighted least-squares line (NaN where x is constant).

    ``weights[r, i]`` is how often model ``i`` is in resample ``r``: a resample's sums are then one
    matrix product instead of a gather of (resamples x models) values.
    """
    moments = weights @ np.column_stack([np.ones_like(zx), zx, zy, zx * zx, zx * zy])
    n, sx, sy, sxx, sxy = moments.T
    mx, my = sx / n, sy / n
    var, cov = sxx / n - mx * mx, sxy / n - mx * my
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(var > 1e-12 * np.maximum(sxx / n, 1.0), cov / var, np.nan)
    return slope, my - slope * mx


def _bootstrap(zx: np.ndarray, zy: np.ndarray, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``resamples`` refits on models drawn with replacement, all in one array operation."""
    if resamples < 1:
        raise AnalysisError(f"resamples must be >= 1, got {resamples}")
    n = zx.size
    rows = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    offsets = (np.arange(resamples) * n)[:, None]
    counts = np.bincount((rows + offsets).ravel(), minlength=resamples * n).reshape(resamples, n)
    slopes, intercepts = _ols(zx, zy, counts.astype(np.float64))
    usable = np.isfinite(slopes)  # a resample of one repeated model has no line
    return slopes[usable], intercepts[usable]


def _interval(values: np.ndarray, tail: float) -> tuple[float, float]:
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _band(
    x: np.ndarray,
    slopes: np.ndarray,
    intercepts: np.ndarray,
    transform: Transform,
    tail: float,
    confidence: float,
) -> Band:
    grid = np.linspace(x.min(), x.max(), _GRID_POINTS)
    lines = slopes[:, None] * to_scale(grid, transform)[None, :] + intercepts[:, None]
    low, high = np.percentile(lines, [tail, 100 - tail], axis=0)
    return Band(grid, from_scale(low, transform), from_scale(high, transform), confidence)
