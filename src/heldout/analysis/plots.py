"""Plots of an analysis: new (or ReaL) against original accuracy on probit/logit/linear axes.

The axes are in transformed units, where the line is straight, and the ticks are labelled in
accuracy percent, as imagenet-testbed draws them. Per-model error bars are the Clopper–Pearson
intervals mapped through the transform (so they are asymmetric); the shaded band is the
bootstrap interval of the fitted line. matplotlib is imported when a plot is drawn, through its
object API and the Agg canvas (no pyplot state), so importing heldout stays light and drawing is
thread-safe. PNGs are written without timestamps or version metadata: same analysis, same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from heldout.analysis.analyze import Analysis
from heldout.analysis.fit import LineFit, Transform, from_scale, to_scale
from heldout.analysis.reference import ReferenceLine
from heldout.atomic import write_atomic

__all__ = ["PLOT_KINDS", "PlotKind", "available_plots", "render_png", "write_plots"]

PlotKind = Literal["new", "real"]
PLOT_KINDS: tuple[PlotKind, ...] = ("new", "real")
_TICKS = (0.5, 1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 98, 99, 99.5)
_LABELLED = 4  # models farthest from the line get their names written next to them
_DPI = 110


@dataclass(frozen=True)
class _Series:
    """What one scatter shows: points with intervals, which were fitted, the line, the reference."""

    title: str
    y_label: str
    models: Sequence[str]
    x: np.ndarray
    y: np.ndarray
    x_interval: np.ndarray
    y_interval: np.ndarray
    in_fit: np.ndarray
    fit: LineFit
    reference: ReferenceLine | None
    confidence: float


def available_plots(analysis: Analysis) -> list[PlotKind]:
    """``new`` always; ``real`` when the original set had ReaL labels for enough fitted models."""
    return ["new", "real"] if analysis.real_fit is not None else ["new"]


def render_png(analysis: Analysis, kind: PlotKind = "new") -> bytes:
    """The scatter of one plot kind as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = _series(analysis, kind)
    figure = Figure(figsize=(7.2, 6.0), dpi=_DPI)
    FigureCanvasAgg(figure)
    _draw(figure.add_subplot(), series, analysis.transform)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def write_plots(analysis: Analysis, stem: str | Path) -> list[Path]:
    """``<stem>.png`` (and ``<stem>-real.png`` when ReaL is available), written atomically."""
    stem = Path(stem)
    return [
        write_atomic(
            stem.with_name(f"{stem.name}{'' if kind == 'new' else '-' + kind}.png"),
            render_png(analysis, kind),
        )
        for kind in available_plots(analysis)
    ]


def _series(analysis: Analysis, kind: PlotKind) -> _Series:
    points = [p for p in analysis.points if kind == "new" or p.real is not None]
    if kind == "real":
        if analysis.real_fit is None:
            raise ValueError("this analysis has no ReaL fit")
        y = [p.real for p in points]
        y_interval = [p.real_interval for p in points]
        fit, reference = analysis.real_fit, analysis.real_reference
        title, y_label = (
            f"ReaL vs {analysis.original_set}",
            f"ReaL {analysis.metric} on {analysis.original_set}",
        )
    else:
        y = [p.new for p in points]
        y_interval = [p.new_interval for p in points]
        fit, reference = analysis.fit, analysis.reference
        title, y_label = (
            f"{analysis.new_set} vs {analysis.original_set}",
            f"{analysis.metric} on {analysis.new_set}",
        )
    return _Series(
        title=title,
        y_label=y_label,
        models=[p.model for p in points],
        x=np.array([p.original for p in points]),
        y=np.array(y, dtype=np.float64),
        x_interval=np.array([p.original_interval for p in points]),
        y_interval=np.array(y_interval, dtype=np.float64),
        in_fit=np.array([p.in_fit for p in points]),
        fit=fit,
        reference=reference,
        confidence=analysis.confidence,
    )


def _draw(ax, series: _Series, transform: Transform) -> None:
    shown = _shown(series, transform)
    framed = shown & series.in_fit if (shown & series.in_fit).any() else shown
    zx, zy = to_scale(series.x[framed], transform), to_scale(series.y[framed], transform)
    lo, hi = _limits(np.concatenate([zx, zy]))
    shown &= _inside(series, transform, lo, hi)
    grid = np.linspace(lo, hi, 200)
    ax.plot(grid, grid, ":", color="0.55", lw=1, label="y = x")
    band = series.fit.band
    ax.fill_between(
        to_scale(band.x, transform),
        to_scale(band.low, transform),
        to_scale(band.high, transform),
        color="tab:blue",
        alpha=0.2,
        lw=0,
        label=f"{100 * band.confidence:g} % bootstrap band ({series.fit.resamples} resamples)",
    )
    ax.plot(
        grid,
        series.fit.slope * grid + series.fit.intercept,
        color="tab:blue",
        lw=1.6,
        label=f"fit over {series.fit.n} models: slope {series.fit.slope:.3f}, intercept {series.fit.intercept:+.3f}",
    )
    if series.reference is not None:
        _draw_reference(ax, series.reference, transform, grid)
    _draw_points(ax, series, shown, transform)
    _label_outliers(ax, series, shown, transform)
    outside = int((~shown).sum())
    if outside:
        ax.text(
            0.99,
            0.01,
            f"{outside} model(s) outside the frame",
            transform=ax.transAxes,
            ha="right",
            fontsize=7,
        )
    _accuracy_ticks(ax, lo, hi, transform)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"accuracy on the original set (%, {transform} scale)")
    ax.set_ylabel(f"{series.y_label} (%, {transform} scale)")
    ax.set_title(series.title)
    ax.grid(True, color="0.9", lw=0.6)
    ax.legend(loc="upper left", fontsize=7, frameon=False)


def _shown(series: _Series, transform: Transform) -> np.ndarray:
    """Points that have a place on these axes (0 % and 100 % have none on probit/logit)."""
    if transform == "linear":
        return np.ones(series.x.size, dtype=bool)
    return (series.x > 0) & (series.x < 100) & (series.y > 0) & (series.y < 100)


def _inside(series: _Series, transform: Transform, lo: float, hi: float) -> np.ndarray:
    """Points within the frame, which is set by the fitted models (a broken baseline far below
    the line would otherwise squeeze the models that matter into a corner)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        zx, zy = to_scale(series.x, transform), to_scale(series.y, transform)
    return (zx >= lo) & (zx <= hi) & (zy >= lo) & (zy <= hi)


def _limits(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    pad = 0.06 * (hi - lo) or 0.1
    return lo - pad, hi + pad


def _draw_reference(ax, reference: ReferenceLine, transform: Transform, grid: np.ndarray) -> None:
    ax.scatter(
        to_scale(reference.original, transform),
        to_scale(reference.new, transform),
        s=4,
        color="tab:orange",
        alpha=0.25,
        lw=0,
        zorder=1,
    )
    ax.plot(
        grid,
        reference.slope(transform) * grid + reference.intercept(transform),
        "--",
        color="tab:orange",
        lw=1.4,
        label=f"reference {reference.label(transform)}",
    )


def _draw_points(ax, series: _Series, shown: np.ndarray, transform: Transform) -> None:
    for fitted, style in (
        (True, {"fmt": "o", "color": "tab:blue"}),
        (False, {"fmt": "s", "color": "tab:red"}),
    ):
        chosen = shown & (series.in_fit == fitted)
        if not chosen.any():
            continue
        zx, zy = to_scale(series.x[chosen], transform), to_scale(series.y[chosen], transform)
        x_err = _error_bars(zx, series.x_interval[chosen], transform)
        y_err = _error_bars(zy, series.y_interval[chosen], transform)
        ax.errorbar(
            zx,
            zy,
            xerr=x_err,
            yerr=y_err,
            ms=3.5,
            elinewidth=0.7,
            capsize=0,
            zorder=3,
            label=f"{'fitted' if fitted else 'not fitted'} models ({int(chosen.sum())}), "
            f"{100 * series.confidence:g} % Clopper–Pearson",
            **style,
        )


def _error_bars(z: np.ndarray, interval: np.ndarray, transform: Transform) -> np.ndarray:
    """Asymmetric bar lengths: the interval mapped through the transform (clipped to stay finite)."""
    bounded = np.clip(interval, 1e-6, 100 - 1e-6) if transform != "linear" else interval
    low, high = to_scale(bounded[:, 0], transform), to_scale(bounded[:, 1], transform)
    return np.vstack([np.maximum(z - low, 0), np.maximum(high - z, 0)])


def _label_outliers(ax, series: _Series, shown: np.ndarray, transform: Transform) -> None:
    zx, zy = to_scale(series.x, transform), to_scale(series.y, transform)
    distance = np.where(shown, np.abs(zy - (series.fit.slope * zx + series.fit.intercept)), -np.inf)
    for i in np.argsort(-distance, kind="stable")[: min(_LABELLED, int(shown.sum()))]:
        ax.annotate(series.models[i], (zx[i], zy[i]), xytext=(4, -8), textcoords="offset points", fontsize=7)


def _accuracy_ticks(ax, lo: float, hi: float, transform: Transform) -> None:
    """Tick marks at round accuracies, placed on the transformed axis, labelled in percent."""
    inside = [t for t in _TICKS if lo <= float(to_scale(t, transform)) <= hi]
    if len(inside) < 3:
        inside = [float(np.round(v, 1)) for v in from_scale(np.linspace(lo, hi, 5)[1:-1], transform)]
    positions = to_scale(inside, transform)
    labels = [f"{t:g}" for t in inside]
    ax.set_xticks(positions, labels)
    ax.set_yticks(positions, labels)
