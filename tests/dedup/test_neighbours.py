"""The neighbour stage on real images: near copies of real photos among Fashion-MNIST distractors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import delete, func, select, update

from heldout.catalog import Image, Neighbour, Run
from heldout.collect import FolderSource, collect
from heldout.collect.idx import read_idx
from heldout.collect.reference import add_reference
from heldout.dedup.features import near_copies
from heldout.dedup.neighbours import find_neighbours, metric_names
from heldout.errors import ConfigError
from heldout.ingest import ingest

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
CLASS = "n02123045"
SOURCES = ("chelsea", "coffee", "rocket")
EXPECTED = ("jpeg-q20", "resized", "cropped", "noise", "brighter")
"""Edits whose copy must find its original first; a flipped photo is a different picture to pixels."""


def _jpeg(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def folders(tmp_path_factory, photo_bytes) -> tuple[Path, Path]:
    """references/<class>/: 7 real photos + 8 Fashion-MNIST images (upscaled);
    candidates/<class>/: the edited copies of 3 photos + 4 other Fashion-MNIST images."""
    if not FASHION.is_file():
        pytest.skip(f"Fashion-MNIST not found at {FASHION}")
    root = tmp_path_factory.mktemp("dedup-images")
    references, candidates = root / "references" / CLASS, root / "candidates" / CLASS
    references.mkdir(parents=True)
    candidates.mkdir(parents=True)
    fashion = read_idx(FASHION)[:12]
    for name, data in photo_bytes.items():
        (references / f"{name}.jpg").write_bytes(data)
    for i, pixels in enumerate(fashion):
        target = references if i < 8 else candidates
        (target / f"fashion{i}.jpg").write_bytes(_jpeg(PILImage.fromarray(pixels).resize((112, 112))))
    for name in SOURCES:
        original = PILImage.open(io.BytesIO(photo_bytes[name]))
        for edit, copy in near_copies(original, seed=1).items():
            (candidates / f"{name}--{edit}.jpg").write_bytes(_jpeg(copy))
    return root / "references", root / "candidates"


@pytest.fixture(scope="module")
def ingested(module_project, folders):
    references, candidates = folders
    add_reference(module_project, split="val", folder=references)
    collect(module_project, FolderSource(candidates), classes=[CLASS])
    ingest(module_project)
    return module_project


@pytest.fixture()
def pool(ingested):
    """The ingested project with no neighbours and no neighbour runs yet."""
    with ingested.transaction() as session:
        session.execute(delete(Neighbour))
        session.execute(
            update(Run).where(Run.stage == "dedup-neighbours").values(stage="dedup-neighbours-old")
        )
    return ingested


def _names(project) -> dict[str, str]:
    with project.transaction() as session:
        rows = session.execute(select(Image.image_id, Image.location)).all()
    return {image_id: Path(location).stem for image_id, location in rows}


def _top(project, metric) -> dict[str, list[tuple[str, float]]]:
    names = _names(project)
    with project.transaction() as session:
        rows = session.execute(
            select(Neighbour.image_id, Neighbour.neighbour_id, Neighbour.distance)
            .where(Neighbour.metric == metric)
            .order_by(Neighbour.image_id, Neighbour.rank)
        ).all()
    out: dict[str, list[tuple[str, float]]] = {}
    for image_id, neighbour_id, distance in rows:
        out.setdefault(names[image_id], []).append((names[neighbour_id], distance))
    return out


def _assert_copies_find_their_original(top):
    for name in SOURCES:
        for edit in EXPECTED:
            assert top[f"{name}--{edit}"][0][0] == name, (name, edit, top[f"{name}--{edit}"][:3])


def test_l2_near_copies_find_their_original_first(pool):
    report = find_neighbours(pool, "l2", k=5, against="reference")
    top = _top(pool, "l2")
    assert report.candidates == len(top) == 3 * 6 + 4
    _assert_copies_find_their_original(top)
    assert all(len(pairs) == 5 for pairs in top.values())


def test_l2_distances_are_squared_pixel_distances_sorted(pool):
    find_neighbours(pool, "l2", k=3, against="both")
    for pairs in _top(pool, "l2").values():
        distances = [d for _, d in pairs]
        assert distances == sorted(distances) and all(float(d).is_integer() for d in distances)


def test_within_the_pool_a_candidate_is_never_its_own_neighbour(pool):
    find_neighbours(pool, "l2", k=30, against="candidates")
    top = _top(pool, "l2")
    assert all(name not in {n for n, _ in pairs} for name, pairs in top.items())
    assert all(len(pairs) == 21 for pairs in top.values())  # the other 21 candidates
    # copies of one photo find each other first
    assert top["chelsea--noise"][0][0].startswith("chelsea--")


def test_dssim_near_copies_find_their_original_first(pool):
    find_neighbours(pool, "dssim", k=3, against="reference")
    top = _top(pool, "dssim")
    _assert_copies_find_their_original(top)
    assert all(0.0 <= d <= 1.0 for pairs in top.values() for _, d in pairs)


def test_dssim_on_a_shortlist_of_l2_neighbours_equals_the_full_search_there(pool):
    find_neighbours(pool, "l2", k=4, against="reference")
    report = find_neighbours(pool, "dssim", k=3, against="reference", shortlist=["l2"], shortlist_depth=4)
    top = _top(pool, "dssim")
    _assert_copies_find_their_original(top)
    full = find_neighbours(pool, "dssim", k=30, against="reference", recompute=True)
    everything = _top(pool, "dssim")
    l2 = _top(pool, "l2")
    for name, pairs in top.items():
        shortlisted = {n for n, _ in l2[name]}
        expected = [(n, d) for n, d in everything[name] if n in shortlisted][:3]
        assert [n for n, _ in pairs] == [n for n, _ in expected]
        assert np.allclose([d for _, d in pairs], [d for _, d in expected], rtol=0, atol=1e-12)
    assert report.provenance["shortlist"] == ["l2"] and full.candidates == report.candidates


def test_a_dssim_shortlist_needs_the_cheaper_neighbours_first(pool):
    with pytest.raises(ConfigError, match="no l2 neighbours") as error:
        find_neighbours(pool, "dssim", shortlist=["l2"])
    assert "heldout dedup neighbours l2" in error.value.fix
    with pytest.raises(ConfigError, match="only applies to dssim"):
        find_neighbours(pool, "l2", shortlist=["efficientnet-lite0"])


def test_the_stage_resumes_with_only_candidates_lacking_results(pool):
    first = find_neighbours(pool, "l2", k=2, against="reference", limit=5)
    second = find_neighbours(pool, "l2", k=2, against="reference")
    third = find_neighbours(pool, "l2", k=2, against="reference")
    assert (first.candidates, first.remaining) == (5, 17)
    assert (second.candidates, second.remaining, third.candidates) == (17, 0, 0)
    with pool.transaction() as session:
        runs = session.scalars(
            select(Run.counts).where(Run.stage == "dedup-neighbours").order_by(Run.run_id)
        ).all()
        rows = session.scalar(select(func.count()).select_from(Neighbour))
    assert [r["candidates"] for r in runs] == [5, 17, 0] and rows == 22 * 2


def test_recompute_replaces_the_rows_of_recomputed_candidates(pool):
    find_neighbours(pool, "l2", k=4, against="reference")
    find_neighbours(pool, "l2", k=2, against="reference", recompute=True)
    with pool.transaction() as session:
        assert session.scalar(select(func.max(Neighbour.rank))) == 1


def test_unknown_metric_is_refused(pool):
    project = pool
    assert {"l2", "dssim", "efficientnet-lite0"} <= set(metric_names())
    with pytest.raises(ConfigError, match="unknown metric"):
        find_neighbours(project, "pixels")


def test_cnn_near_copies_find_their_original_first(pool):
    find_neighbours(pool, "efficientnet-lite0", k=3, against="reference")
    top = _top(pool, "efficientnet-lite0")
    _assert_copies_find_their_original(top)
    assert np.isfinite([d for pairs in top.values() for _, d in pairs]).all()


def test_a_dask_cluster_finds_the_same_neighbours_as_a_local_run(pool):
    distributed = pytest.importorskip("distributed")
    find_neighbours(pool, "l2", k=4, against="both")
    local = _top(pool, "l2")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        find_neighbours(pool, "l2", k=4, against="both", dask=client, recompute=True, round_size=7)
    assert _top(pool, "l2") == local


def test_rows_read_through_a_small_row_cache_equal_the_extracted_features(pool):
    from heldout.dedup.features import create_extractor, extract_features
    from heldout.dedup.neighbours import _FeatureRows

    with pool.transaction() as session:
        ids = np.array(sorted(session.scalars(select(Image.image_id).where(Image.status == "stored"))))
    extractor = create_extractor("pixels")
    rows = _FeatureRows(pool, ids, extractor, cache_bytes=2 * extractor.dim)  # room for two rows
    picks = np.array([3, 0, 3, 1, 0])
    assert np.array_equal(rows[picks], extract_features(pool, ids[picks].tolist(), extractor=extractor))
    assert np.array_equal(rows[1:4], extract_features(pool, ids[1:4].tolist(), extractor=extractor))


def test_rows_read_from_two_threads_through_a_full_row_cache_stay_right(pool):
    """The exact re-ranking reads rows on a thread per CPU; an eviction by one thread must not
    lose a row the other is about to return (the default demo hit this once the cache filled)."""
    from concurrent.futures import ThreadPoolExecutor

    from heldout.dedup.features import create_extractor, extract_features
    from heldout.dedup.neighbours import _FeatureRows

    with pool.transaction() as session:
        ids = np.array(sorted(session.scalars(select(Image.image_id).where(Image.status == "stored"))))
    extractor = create_extractor("pixels")
    expected = extract_features(pool, ids.tolist(), extractor=extractor)
    rows = _FeatureRows(pool, ids, extractor, cache_bytes=3 * extractor.dim)
    picks = [np.random.default_rng(seed).integers(len(ids), size=4) for seed in range(40)]
    with ThreadPoolExecutor(2) as threads:
        results = list(threads.map(rows.__getitem__, picks))
    assert all(np.array_equal(got, expected[pick]) for got, pick in zip(results, picks, strict=True))


def test_rounds_of_a_pixel_search_share_one_map_of_the_searched_rows(pool, monkeypatch):
    from heldout.dedup.features import PixelExtractor

    mapped = []
    bound = PixelExtractor.lower_bound

    def counting(rows):
        mapped.append(len(rows))
        return bound(rows)

    monkeypatch.setattr(PixelExtractor, "lower_bound", staticmethod(counting))
    with pool.transaction() as session:
        searched = session.scalar(select(func.count()).select_from(Image).where(Image.status == "stored"))
    report = find_neighbours(pool, "l2", k=2, against="both", round_size=5)
    assert report.candidates == 22 and sum(mapped) < 2 * searched  # not once per round (5 rounds)
