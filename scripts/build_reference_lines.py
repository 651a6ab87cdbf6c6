"""Regenerate ``src/heldout/data/reference_lines.json`` from the published accuracy tables.

Run by a developer (``python scripts/build_reference_lines.py [DATA_DIR]``, DATA_DIR defaults to
``../shared/data``); the output is committed, so heldout never reads the tables at run time. It
holds the (original, new) accuracy pairs of each published model set and, per transform, the
line fitted through them (bootstrap over models with imagenet-testbed's seed). The selection
rules are written into the file. Numbers are rounded and serialised in a fixed order, so running
this twice gives byte-identical output (a test checks that).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

from heldout.analysis.fit import TESTBED_SEED, TRANSFORMS, fit_line

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "heldout" / "data" / "reference_lines.json"
FORMAT = "heldout-reference-lines/1"
TESTBED_NEW_COLUMNS = {
    "matched-frequency": "imagenetv2-matched-frequency-format-val",
    "threshold0.7": "imagenetv2-threshold-0.7-format-val",
    "top-images": "imagenetv2-top-images-format-val",
}
TESTBED_EXCLUDED_NAMES = ("subsample", "aws", "batch64")
TESTBED_MIN_VAL = 55.0
TIMM_NEW_FILES = {
    "matched-frequency": "results-imagenetv2-matched-frequency.csv",
    "real": "results-imagenet-real.csv",
}
RESAMPLES = 1000


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fits(original: list[float], new: list[float]) -> dict[str, dict[str, object]]:
    fits = {}
    for transform in TRANSFORMS:
        fit = fit_line(original, new, transform, resamples=RESAMPLES, seed=TESTBED_SEED)
        fits[transform] = {
            "slope": round(fit.slope, 6),
            "intercept": round(fit.intercept, 6),
            "r": round(fit.r, 6),
            "residual_sd_pp": round(fit.residual_sd_pp, 4),
            "slope_ci95": [round(v, 6) for v in fit.slope_ci],
            "intercept_ci95": [round(v, 6) for v in fit.intercept_ci],
        }
    return fits


def testbed_lines(data_dir: Path) -> list[dict[str, object]]:
    """imagenet-testbed: its "standard models" line (Taori et al. 2020), one per ImageNetV2 variant."""
    folder = data_dir / "published" / "imagenet-testbed"
    table, types = folder / "robustness_top1s.csv", folder / "model_types.csv"
    kind = {row["model"]: row["model_type"] for row in _rows(types)}
    rows = [
        row
        for row in _rows(table)
        if kind.get(row["model"]) == "STANDARD"
        and row["val"]
        and float(row["val"]) >= TESTBED_MIN_VAL
        and not any(word in row["model"] for word in TESTBED_EXCLUDED_NAMES)
    ]
    lines = []
    for variant, column in TESTBED_NEW_COLUMNS.items():
        kept = sorted((r for r in rows if r[column]), key=lambda r: (float(r["val"]), r["model"]))
        original = [round(float(r["val"]), 4) for r in kept]
        new = [round(float(r[column]), 4) for r in kept]
        lines.append(
            {
                "name": f"testbed/{variant}",
                "source": "imagenet-testbed",
                "variant": variant,
                "original_column": "val",
                "new_column": column,
                "selection": "model_type STANDARD in model_types.csv, val >= 55, "
                "name without subsample/aws/batch64",
                "files": {table.name: _sha256(table), types.name: _sha256(types)},
                "fits": _fits(original, new),
                "models": [r["model"] for r in kept],
                "original": original,
                "new": new,
            }
        )
    return lines


def timm_lines(data_dir: Path) -> list[dict[str, object]]:
    """timm's results tables: every (model, img_size) row, joined to ImageNet val on both keys."""
    folder = data_dir / "published" / "timm"
    base = folder / "results-imagenet.csv"
    val = {(r["model"], r["img_size"]): float(r["top1"]) for r in _rows(base)}
    lines = []
    for variant, name in TIMM_NEW_FILES.items():
        path = folder / name
        other = {(r["model"], r["img_size"]): float(r["top1"]) for r in _rows(path)}
        if other.keys() != val.keys():
            raise SystemExit(f"{name} and {base.name} list different (model, img_size) rows")
        keys = sorted(val, key=lambda k: (val[k], other[k], k))
        original = [val[k] for k in keys]
        new = [other[k] for k in keys]
        lines.append(
            {
                "name": f"timm/{variant}",
                "source": "timm",
                "variant": variant,
                "original_column": f"{base.name}:top1",
                "new_column": f"{name}:top1",
                "selection": "every (model, img_size) row",
                "files": {base.name: _sha256(base), name: _sha256(path)},
                "fits": _fits(original, new),
                "models": [],
                "original": original,
                "new": new,
            }
        )
    return lines


def render(lines: list[dict[str, object]]) -> bytes:
    """One reference line per text line: diffs stay readable, the file stays small."""
    body = ",\n".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False) for line in lines)
    return f'{{"format":"{FORMAT}","lines":[\n{body}\n]}}\n'.encode()


def build(data_dir: Path) -> bytes:
    return render([*testbed_lines(data_dir), *timm_lines(data_dir)])


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    OUTPUT.write_bytes(build(root))
    print(OUTPUT.relative_to(OUTPUT.parents[3]), OUTPUT.stat().st_size)
