"""The b-33 report in headless Debian Chromium: loads cleanly offline, the model table sorts on
click, and a screenshot is kept in tests/artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from heldout.analysis import write_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ER_COLUMN = "effective robustness (points)"


@pytest.fixture(scope="module")
def loaded_page(b33_analysis, browser, tmp_path_factory):
    """The report opened from disk; yields (page, console messages and page errors seen)."""
    ARTIFACTS.mkdir(exist_ok=True)
    html = write_report(b33_analysis, tmp_path_factory.mktemp("report") / "report.html")[0]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on(
        "request",
        lambda r: problems.append(f"request: {r.url}") if not r.url.startswith(("file:", "data:")) else None,
    )
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    yield page, problems
    context.close()


def _column(page, name: str) -> list[str]:
    index = page.eval_on_selector_all(
        "#models thead th", f"hs => hs.findIndex(h => h.textContent === {name!r})"
    )
    return page.eval_on_selector_all(
        "#models tbody tr",
        f"rows => rows.map(r => r.cells[{index}].dataset.value ?? r.cells[{index}].textContent)",
    )


def test_report_loads_with_no_console_errors_and_no_requests(loaded_page):
    page, problems = loaded_page
    assert page.title() == "imagenetv2-b-33 against imagenet-validation-original"
    assert problems == []


def test_plots_are_decoded_by_the_browser(loaded_page):
    page, _ = loaded_page
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 500)")


def test_clicking_a_header_sorts_descending_then_ascending(loaded_page):
    page, _ = loaded_page
    header = page.locator("#models th", has_text=ER_COLUMN)
    header.click()
    values = [float(v) for v in _column(page, ER_COLUMN)]
    assert values == sorted(values, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    page.screenshot(path=ARTIFACTS / "analysis-report-sorted.png", full_page=False)
    header.click()
    values = [float(v) for v in _column(page, ER_COLUMN)]
    assert values == sorted(values)


def test_clicking_the_model_header_sorts_by_name(loaded_page):
    page, _ = loaded_page
    page.locator("#models th", has_text="model").first.click()
    names = _column(page, "model")
    assert names == sorted(names, key=str.lower, reverse=True)


def test_screenshot_of_the_report_is_kept(loaded_page):
    page, _ = loaded_page
    path = ARTIFACTS / "analysis-report.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=path, full_page=False)
    assert path.stat().st_size > 10_000
