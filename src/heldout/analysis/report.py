"""One self-contained HTML report per analysis, plus its plots as PNG files.

Everything is inside the file: plots as base64 PNG, styles and the few lines of sorting script
inline, and a Content-Security-Policy that forbids loading anything else, so the report can be
mailed, archived or opened offline and shows the same thing. Text from models, datasets and the
datasheet is escaped. Nothing time-dependent is written: the same analysis gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path

from heldout.analysis.analyze import Analysis, ModelPoint
from heldout.analysis.fit import LineFit
from heldout.analysis.plots import available_plots, render_png
from heldout.atomic import write_atomic

__all__ = ["markdown_to_html", "render_report", "write_report"]

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 2px 8px; text-align: right; } td { white-space: nowrap; }
td:first-child, th:first-child { text-align: left; } tr:nth-child(even) { background: #f6f6f6; }
th { background: #eee; position: sticky; top: 0; } table.sortable th { cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.ci { color: #777; font-size: 0.85em; } .bad { color: #b00; } .good { color: #070; } .flag { color: #a60; }
img { max-width: 100%; } pre { background: #f6f6f6; padding: 0.5em; overflow: auto; }
.note { color: #555; } .datasheet { border-left: 3px solid #ccc; padding-left: 1em; }
"""
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], col = th.cellIndex, numeric = th.dataset.type === "number";
  const dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
  th.closest("tr").querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir);
  const key = (row) => { const c = row.cells[col], v = c.dataset.value ?? c.textContent;
    return numeric ? (v === "" || isNaN(v) ? -Infinity : parseFloat(v)) : v.toLowerCase(); };
  const rows = Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (dir === "ascending" ? 1 : -1); });
  rows.forEach((row) => body.appendChild(row));
}));
"""


def write_report(analysis: Analysis, path: str | Path, *, title: str | None = None) -> list[Path]:
    """Write ``path`` (HTML) and its plots beside it (``<stem>.png``, ``<stem>-real.png``)."""
    path = Path(path)
    images = {kind: render_png(analysis, kind) for kind in available_plots(analysis)}
    written = [write_atomic(path, render_report(analysis, title=title, images=images))]
    for kind, png in images.items():
        suffix = "" if kind == "new" else f"-{kind}"
        written.append(write_atomic(path.with_name(f"{path.stem}{suffix}.png"), png))
    return written


def render_report(
    analysis: Analysis, *, title: str | None = None, images: dict[str, bytes] | None = None
) -> str:
    """The report as one HTML string (plots are drawn unless given as PNG bytes by kind)."""
    if images is None:
        images = {kind: render_png(analysis, kind) for kind in available_plots(analysis)}
    title = title or f"{analysis.new_set} against {analysis.original_set}"
    sections = [
        f"<h1>{_e(title)}</h1>",
        _summary(analysis),
        "<h2>Accuracy on the line</h2>",
        *(_figure(kind, png) for kind, png in images.items()),
        _fits_table(analysis),
        "<h2>Models</h2>",
        _models_table(analysis),
        "<h2>Is the ranking significant?</h2>",
        _ranking(analysis),
        "<h2>Classes that lost the most accuracy</h2>",
        _class_drops(analysis),
        "<h2>Distribution-shift check</h2>",
        _shift(analysis),
    ]
    if analysis.datasheet:
        sections += [
            "<h2>Datasheet</h2>",
            f'<div class="datasheet">{markdown_to_html(analysis.datasheet)}</div>',
        ]
    sections += ["<h2>Provenance</h2>", _provenance(analysis)]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n"
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def markdown_to_html(text: str) -> str:
    """A small, safe subset of Markdown: headings, paragraphs, lists, code, bold, italics, links.

    Everything is escaped first, so a datasheet cannot inject markup; headings are shifted down
    to sit under the report's own headings.
    """
    out: list[str] = []
    paragraph: list[str] = []
    list_tag: str | None = None

    def flush() -> None:
        nonlocal list_tag
        if paragraph:
            out.append(f"<p>{' '.join(paragraph)}</p>")
            paragraph.clear()
        if list_tag:
            out.append(f"</{list_tag}>")
            list_tag = None

    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        item = re.match(r"(?:[-*+]|(\d+)\.)\s+(.*)", line)
        if not line:
            flush()
        elif heading:
            flush()
            level = min(len(heading.group(1)) + 2, 6)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif item:
            tag = "ol" if item.group(1) else "ul"
            if paragraph or list_tag != tag:
                flush()
                out.append(f"<{tag}>")
                list_tag = tag
            out.append(f"<li>{_inline(item.group(2))}</li>")
        else:
            if list_tag:
                flush()
            paragraph.append(_inline(line))
    flush()
    return "\n".join(out)


def _inline(text: str) -> str:
    text = _e(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![*\w])\*([^*]+)\*(?![*\w])", r"<em>\1</em>", text)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', text)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _cell(value: float | None, text: str | None = None, css: str = "") -> str:
    data = "" if value is None or math.isnan(value) else repr(round(float(value), 6))
    klass = f' class="{css}"' if css else ""
    return f'<td data-value="{data}"{klass}>{text if text is not None else _num(value)}</td>'


def _interval_cell(value: float | None, interval: tuple[float, float] | None) -> str:
    if value is None or interval is None:
        return _cell(None, "")
    return _cell(value, f'{_num(value)} <span class="ci">[{_num(interval[0])}, {_num(interval[1])}]</span>')


def _summary(analysis: Analysis) -> str:
    fitted = [p for p in analysis.points if p.in_fit]
    gaps = [p.gap for p in fitted]
    fit = analysis.fit
    text = (
        f"{len(analysis.points)} models scored on both sets; the line is fitted over {fit.n} of them "
        f"({fit.transform} axes): new = {fit.slope:.3f} · original {fit.intercept:+.3f} "
        f"(r = {fit.r:.4f}, residual SD {fit.residual_sd_pp:.2f} points). "
        f"Mean {analysis.metric} change of the fitted models: {sum(gaps) / len(gaps):+.2f} points "
        f"(from {min(gaps):+.2f} to {max(gaps):+.2f})."
    )
    if analysis.reference is not None:
        ref = analysis.reference
        offsets = [p.new - float(ref.predict(p.original, fit.transform)) for p in fitted]
        text += (
            f" Against the published {ref.name} line, the fitted models sit "
            f"{sum(offsets) / len(offsets):+.2f} points away on average: a systematic offset is this test "
            "set's difficulty relative to the published one."
        )
    return f'<p class="note">{_e(text)}</p>'


def _figure(kind: str, png: bytes) -> str:
    alt = "new-set accuracy" if kind == "new" else "ReaL accuracy"
    data = base64.b64encode(png).decode()
    return f'<figure><img id="plot-{_e(kind)}" alt="{alt} against original accuracy" src="data:image/png;base64,{data}"></figure>'


def _fit_rows(name: str, fit: LineFit) -> str:
    return (
        f"<tr><td>{_e(name)}</td><td>{fit.transform}</td><td>{fit.n}</td>"
        f'<td>{fit.slope:.4f} <span class="ci">[{fit.slope_ci[0]:.3f}, {fit.slope_ci[1]:.3f}]</span></td>'
        f'<td>{fit.intercept:+.4f} <span class="ci">[{fit.intercept_ci[0]:+.3f}, {fit.intercept_ci[1]:+.3f}]</span></td>'
        f"<td>{fit.r:.4f}</td><td>{fit.residual_sd_pp:.2f}</td></tr>"
    )


def _fits_table(analysis: Analysis) -> str:
    transform = analysis.transform
    rows = [_fit_rows(f"{analysis.new_set} vs {analysis.original_set}", analysis.fit)]
    if analysis.real_fit is not None:
        rows.append(_fit_rows(f"ReaL vs {analysis.original_set}", analysis.real_fit))
    for ref in (analysis.reference, analysis.real_reference):
        if ref is not None:
            fit = ref.fits[transform]
            rows.append(
                f"<tr><td>published {_e(ref.name)} ({_e(ref.selection)})</td><td>{transform}</td><td>{len(ref)}</td>"
                f"<td>{fit['slope']:.4f}</td><td>{fit['intercept']:+.4f}</td><td>{fit['r']:.4f}</td>"
                f"<td>{fit['residual_sd_pp']:.2f}</td></tr>"
            )
    head = "<tr><th>line</th><th>axes</th><th>models</th><th>slope [95 % bootstrap]</th><th>intercept</th><th>r</th><th>residual SD (points)</th></tr>"
    return f'<table id="fits"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


_MODEL_COLUMNS = (
    ("model", "text"),
    ("original", "number"),
    ("new", "number"),
    ("ReaL", "number"),
    ("gap", "number"),
    ("expected new", "number"),
    ("effective robustness (points)", "number"),
    ("effective robustness (transformed)", "number"),
    ("in fit", "text"),
    ("flags", "text"),
)


def _model_row(p: ModelPoint) -> str:
    er_css = "good" if p.effective_robustness_pp > 0 else "bad"
    cells = [
        f"<td>{_e(p.model)}</td>",
        _interval_cell(p.original, p.original_interval),
        _interval_cell(p.new, p.new_interval),
        _interval_cell(p.real, p.real_interval),
        _cell(p.gap, _num(p.gap, sign=True)),
        _cell(p.expected_new),
        _cell(p.effective_robustness_pp, _num(p.effective_robustness_pp, sign=True), er_css),
        _cell(p.effective_robustness, _num(p.effective_robustness, 4, sign=True)),
        f"<td>{'yes' if p.in_fit else 'no'}</td>",
        f'<td class="flag">{_e("; ".join(p.flags))}</td>',
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _models_table(analysis: Analysis) -> str:
    head = "".join(f'<th data-type="{kind}">{_e(name)}</th>' for name, kind in _MODEL_COLUMNS)
    rows = "".join(_model_row(p) for p in sorted(analysis.points, key=lambda p: (-p.original, p.model)))
    note = (
        f'<p class="note">Accuracies in % with {100 * analysis.confidence:g} % Clopper–Pearson intervals; '
        "effective robustness is the distance above the fitted line (in accuracy points, and in "
        f"{analysis.transform} units). Click a column header to sort.</p>"
    )
    return f'{note}<table id="models" class="sortable"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _ranking(analysis: Analysis) -> str:
    if not analysis.ranking:
        return '<p class="note">Not computed: per-image predictions on the new set were not given.</p>'
    unresolved = [c for c in analysis.ranking if not c.significant]
    confidence = analysis.ranking[0].confidence
    intro = (
        f"Each model against the next one down the ranking on {analysis.new_set} "
        f"(exact McNemar test on the images only one of them gets right; interval for the difference "
        f"conditional on those). {len(unresolved)} of {len(analysis.ranking)} adjacent pairs are NOT "
        f"significantly different at the {100 * (1 - confidence):g} % level: their order is not established "
        "by this test set."
    )
    head = "<tr><th>model</th><th>next</th><th>difference (points)</th><th>only first right</th><th>only next right</th><th>p</th><th>significant</th></tr>"
    rows = "".join(
        f"<tr><td>{_e(c.model_a)}</td><td>{_e(c.model_b)}</td>"
        f'<td>{c.difference:+.2f} <span class="ci">[{c.difference_low:+.2f}, {c.difference_high:+.2f}]</span></td>'
        f"<td>{c.only_a}</td><td>{c.only_b}</td><td>{c.p_value:.3g}</td>"
        f"<td>{'yes' if c.significant else 'no'}</td></tr>"
        for c in analysis.ranking
    )
    return f'<p class="note">{_e(intro)}</p><table id="ranking"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _class_drops(analysis: Analysis) -> str:
    if not analysis.class_drops:
        return '<p class="note">Not computed: the results carry no per-class accuracies.</p>'
    head = "<tr><th>class</th><th>name</th><th>original</th><th>new</th><th>change</th><th>hardest new images</th></tr>"
    rows = "".join(
        f"<tr><td>{d.index} {_e(d.class_id)}</td><td>{_e(d.name)}</td><td>{d.original:.1f}</td>"
        f"<td>{d.new:.1f}</td><td>{d.drop:+.1f}</td><td><code>{_e(', '.join(d.examples))}</code></td></tr>"
        for d in analysis.class_drops
    )
    note = (
        "Per-class top-1 accuracy averaged over the fitted models; example images are the new-set images of "
        "the class that the fewest fitted models classify correctly."
    )
    return f'<p class="note">{_e(note)}</p><table id="classes"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _shift(analysis: Analysis) -> str:
    if analysis.shift is None:
        return '<p class="note">Not run: no image features were given for the two sets.</p>'
    shift = analysis.shift
    folds = ", ".join(f"{a:.3f}" for a in shift.fold_aucs)
    return (
        f'<p id="shift">{_e(shift.summary())}</p>'
        f'<p class="note">A logistic regression on the features tries to tell original from new images; '
        f"0.5 means it cannot. Per-fold AUC: {_e(folds)}; seed {shift.seed}.</p>"
    )


def _provenance(analysis: Analysis) -> str:
    record = {
        "original_set": analysis.original_set,
        "new_set": analysis.new_set,
        "metric": analysis.metric,
        "transform": analysis.transform,
        "interval_confidence": analysis.confidence,
        "reference": analysis.reference.name if analysis.reference else None,
        **analysis.provenance,
        "fit_models": sorted(p.model for p in analysis.points if p.in_fit),
    }
    return f"<pre>{_e(json.dumps(record, indent=1, sort_keys=True, default=_jsonable))}</pre>"


def _jsonable(value: object) -> object:
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return str(value)
