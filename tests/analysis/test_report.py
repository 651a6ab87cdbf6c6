"""The HTML report of b-33 against val: self-contained, complete, escaped, reproducible."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from heldout.analysis import analyze, render_report, shift_check, write_report
from heldout.analysis.report import markdown_to_html

DATASHEET = """# ImageNetV2 MatchedFrequency

Collected from **Flickr** in 2018; see [the paper](https://arxiv.org/abs/1902.10811).

## Composition
- 10,000 images, `10` per class
- labels from MTurk <script>alert(1)</script>
"""


@pytest.fixture(scope="module")
def report(b33_analysis) -> str:
    return render_report(b33_analysis)


def test_report_loads_nothing_from_outside(report):
    sources = re.findall(r'\bsrc="([^"]*)"', report)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in report and "@import" not in report and "url(" not in report
    assert "default-src 'none'" in report


def test_report_embeds_both_plots_as_png(report):
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', report)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)


def test_models_table_has_one_row_per_model(report, b33_analysis):
    table = report[report.index('<table id="models"') :]
    body = table[: table.index("</table>")]
    assert body.count("<tr>") == len(b33_analysis.points) + 1


def test_models_table_has_the_requested_columns(report):
    head = report[report.index('<table id="models"') :]
    head = head[: head.index("</thead>")]
    for column in ("original", "new", "ReaL", "gap", "effective robustness (points)"):
        assert f">{column}</th>" in head


def test_resnet50_row_shows_its_accuracies_and_intervals(report):
    row = next(r for r in report.split("<tr>") if r.startswith("<td>resnet50</td>"))
    assert "76.13" in row and "63.33" in row and "82.96" in row and 'class="ci"' in row


def test_report_says_how_many_ranking_pairs_are_not_significant(report, b33_analysis):
    unresolved = sum(not c.significant for c in b33_analysis.ranking)
    assert f"{unresolved} of 66 adjacent pairs are NOT significantly different" in report


def test_report_lists_the_worst_class_with_example_ids(report, b33_analysis):
    worst = b33_analysis.class_drops[0]
    assert worst.name in report and worst.examples[0] in report


def test_report_without_shift_features_says_the_check_was_not_run(report):
    assert "Not run: no image features were given" in report


def test_shift_check_result_is_reported(published):
    rng = np.random.default_rng(0)
    shift = shift_check(rng.normal(size=(60, 4)), rng.normal(size=(60, 4)), seed=0)
    result = analyze(
        published["imagenet-validation-original"], published["imagenetv2-b-33"], shift=shift, resamples=10
    )
    assert f"AUC {shift.auc:.3f}" in render_report(result, images={})


def test_datasheet_is_rendered_and_escaped(published):
    result = analyze(
        published["imagenet-validation-original"],
        published["imagenetv2-b-33"],
        datasheet=DATASHEET,
        resamples=10,
    )
    html = render_report(result, images={})
    assert "<h3>ImageNetV2 MatchedFrequency</h3>" in html
    assert "<strong>Flickr</strong>" in html and "<code>10</code>" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_lists_become_list_items():
    assert markdown_to_html("- a\n- b\n\ntext") == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<p>text</p>"


def test_write_report_writes_html_and_pngs_reproducibly(b33_analysis, tmp_path):
    first = write_report(b33_analysis, tmp_path / "a" / "report.html")
    second = write_report(b33_analysis, tmp_path / "b" / "report.html")
    assert [p.name for p in first] == ["report.html", "report.png", "report-real.png"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
