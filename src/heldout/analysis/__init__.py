"""Accuracy on the line: fits, reference lines, paired tests, a shift check, plots and a report.

>>> from heldout import analysis
>>> line = analysis.load_reference_line("testbed/matched-frequency")
>>> round(line.slope("probit"), 3), round(line.intercept("probit"), 3)
(0.962, -0.325)
"""

from heldout.analysis.analyze import (
    Analysis,
    ClassDrop,
    ModelPoint,
    analyze,
    analyze_predictions,
    resolve_set,
)
from heldout.analysis.fit import TRANSFORMS, Band, LineFit, Transform, fit_line, from_scale, to_scale
from heldout.analysis.paired import PairedComparison, compare_paired, compare_ranking
from heldout.analysis.reference import (
    REFERENCE_SOURCES,
    ReferenceLine,
    list_reference_lines,
    load_reference_line,
    reference_for,
    variant_of,
)
from heldout.analysis.report import render_report, write_report
from heldout.analysis.shift import ShiftCheck, auc_interval, shift_check

__all__ = [
    "Analysis",
    "Band",
    "ClassDrop",
    "LineFit",
    "ModelPoint",
    "PairedComparison",
    "REFERENCE_SOURCES",
    "ReferenceLine",
    "ShiftCheck",
    "TRANSFORMS",
    "Transform",
    "analyze",
    "analyze_predictions",
    "auc_interval",
    "compare_paired",
    "compare_ranking",
    "fit_line",
    "from_scale",
    "list_reference_lines",
    "load_reference_line",
    "reference_for",
    "render_report",
    "resolve_set",
    "shift_check",
    "to_scale",
    "variant_of",
    "write_report",
]
