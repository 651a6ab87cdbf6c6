"""Benchmark: the predictions browser's queue on imagenetv2-b-33 with the 66 published models.

``heldout.review.disputed_images`` finds the images most models get wrong at top-1 and, per
image, every model's top-1 class with its votes. The baseline is the seed's way
(``PredictionData.top1_counters_by_image``: a ``collections.Counter`` of top-1 classes per image,
then the images whose label fewer than half the models predict), over the same arrays. Both give
the same images and votes (checked); printed: images found, ``ratio = baseline / ours`` for the
vote counting, and the end-to-end time of ``disputed_images`` on a SQLite catalog holding the
10,000 images as metadata-only rows (``fv_16k`` is left out: the published file is broken).

Run: ``.venv/bin/python benchmarks/review.py [--data ../shared/data]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from heldout.catalog import Dataset, DatasetImage, Image
from heldout.datasets import load_dataset
from heldout.evaluate import find_prediction_files, load_predictions
from heldout.project import Project, utcnow
from heldout.review import _vote_table, disputed_images

REPO = Path(__file__).resolve().parents[1]


def baseline(top1: np.ndarray, labels: np.ndarray) -> dict[int, Counter]:
    """Per image, a Counter of the models' top-1 classes; kept where a majority misses the label."""
    counters = {i: Counter(top1[:, i].tolist()) for i in range(top1.shape[1])}
    majority = top1.shape[0] // 2 + 1
    return {i: c for i, c in counters.items() if top1.shape[0] - c[int(labels[i])] >= majority}


def ours(top1: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """What ``disputed_images`` does: the majority-wrong images, then one vote table for them."""
    wrong = (top1 != labels).sum(axis=0)
    picked = np.flatnonzero(wrong >= top1.shape[0] // 2 + 1)
    return picked, _vote_table(top1[:, picked], labels[picked], 1000)


def as_counters(picked: np.ndarray, table: tuple[np.ndarray, ...]) -> dict[int, dict[int, int]]:
    image, classes, votes, _ = table
    out: dict[int, dict[int, int]] = {int(i): {} for i in picked}
    for column, key, n in zip(image.tolist(), classes.tolist(), votes.tolist(), strict=True):
        if n:
            out[int(picked[column])][key] = n
    return out


def timed(fn, *args, repeat: int = 3):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def catalog_with(testset) -> Project:
    project = Project.create(Path(tempfile.mkdtemp()) / "project")
    now = utcnow()
    pairs = list(zip(testset.ids.tolist(), testset.manifest.wnids.tolist(), strict=True))
    with project.transaction() as session:
        session.add_all(
            Image(
                image_id=i, role="candidate", class_key=k, status="metadata", created_at=now, updated_at=now
            )
            for i, k in pairs
        )
        row = Dataset(
            name="bench-b-0", variant="b", revision=0, seed=0, is_valid=True, manifest={}, created_at=now
        )
        session.add(row)
        session.flush()
        session.add_all(
            DatasetImage(dataset_id=row.dataset_id, position=n, image_id=i, class_key=k)
            for n, (i, k) in enumerate(pairs)
        )
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    folder = parser.parse_args().data / "imagenetv2" / "predictions" / "imagenetv2-b-33"
    testset = load_dataset("imagenetv2-b-33")
    predictions = [load_predictions(f) for f in find_prediction_files(folder)]
    predictions = [p for p in predictions if p.model != "fv_16k"]
    top1 = np.stack([p.ranked[:, 0].astype(np.int64) for p in predictions])
    labels = testset.labels.astype(np.int64)

    base_s, base = timed(baseline, top1, labels)
    ours_s, (picked, table) = timed(ours, top1, labels)
    mine = as_counters(picked, table)
    assert set(base) == set(mine) and all(dict(base[i]) == mine[i] for i in base), "results differ"
    print(f"{len(predictions)} models x {top1.shape[1]} images: {len(mine)} images a majority gets wrong")
    print(
        f"vote counting: baseline {base_s * 1e3:.0f} ms, ours {ours_s * 1e3:.0f} ms, ratio = {base_s / ours_s:.1f}"
    )

    with catalog_with(testset) as project:
        full_s, disputed = timed(disputed_images, project, "bench-b-0", predictions)
        top_s, _ = timed(lambda: disputed_images(project, "bench-b-0", predictions, limit=100))
    print(
        f"disputed_images end to end (SQLite): {full_s:.2f} s for all {len(disputed)}, {top_s:.2f} s for the first 100"
    )


if __name__ == "__main__":
    main()
