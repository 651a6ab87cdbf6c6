"""Plots of the b-33 analysis: PNGs, reproducible bytes, matplotlib only when drawing."""

from __future__ import annotations

import io

from PIL import Image

from heldout.analysis.plots import available_plots, render_png, write_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_is_a_png_image(b33_analysis):
    png = render_png(b33_analysis)
    assert png.startswith(PNG_MAGIC)
    assert Image.open(io.BytesIO(png)).size[0] > 500


def test_same_analysis_gives_the_same_png_bytes(b33_analysis):
    assert render_png(b33_analysis) == render_png(b33_analysis)


def test_real_plot_is_available_when_the_original_set_has_real_labels(b33_analysis):
    assert available_plots(b33_analysis) == ["new", "real"]
    assert render_png(b33_analysis, "real") != render_png(b33_analysis, "new")


def test_write_plots_writes_one_png_per_plot(b33_analysis, tmp_path):
    written = write_plots(b33_analysis, tmp_path / "fig")
    assert [p.name for p in written] == ["fig.png", "fig-real.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in written)


def test_importing_the_analysis_does_not_import_matplotlib_or_sklearn(fresh_process):
    assert (fresh_process["matplotlib"], fresh_process["sklearn"]) == (False, False)
