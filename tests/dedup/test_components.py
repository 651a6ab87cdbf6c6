from __future__ import annotations

import numpy as np
from sqlalchemy import select

from heldout.catalog import DuplicateOverride, DuplicatePair, DuplicateStatus
from heldout.dedup.components import DuplicateGraph, build_components, is_near_duplicate, resolve
from heldout.project import utcnow

A, B, C = "n01440764", "n01443537", "n01484850"


def _pairs(project, pairs):
    with project.transaction() as session:
        session.add_all(
            DuplicatePair(image_id=a, other_id=b, origin="test", created_at=utcnow()) for a, b in pairs
        )


def _statuses(project) -> dict[str, tuple[int, str]]:
    with project.transaction() as session:
        return {r.image_id: (r.component, r.status) for r in session.scalars(select(DuplicateStatus))}


def _graph(ids, edges, keys, freq, *, reference=(), overridden=(), good=None) -> DuplicateGraph:
    ids = np.asarray(ids, dtype=str)
    return DuplicateGraph(
        ids=ids,
        edges=np.asarray(edges, dtype=np.int64).reshape(-1, 2),
        is_reference=np.isin(ids, list(reference)),
        class_keys=np.asarray(keys, dtype=str),
        frequency=np.asarray(freq, dtype=float),
        overridden=np.isin(ids, list(overridden)),
        good_per_class=good or {},
    )


def _kept(result) -> list[str]:
    return sorted(result.ids[result.status == "kept"].tolist())


def test_a_component_touching_a_reference_image_removes_all_its_candidates(rows):
    rows.images(["c1", "c2", "c3"])
    rows.images(["ILSVRC2012_val_00000001.JPEG"], role="reference")
    _pairs(rows.project, [("c1", "c2"), ("c2", "ILSVRC2012_val_00000001.JPEG")])
    resolve(rows.project)
    statuses = _statuses(rows.project)
    assert {k: v[1] for k, v in statuses.items()} == {"c1": "reference", "c2": "reference"}
    assert statuses["c1"][0] == statuses["c2"][0]


def test_a_candidate_only_component_keeps_exactly_one_member(rows):
    rows.images(["c1", "c2", "c3", "c4"])
    _pairs(rows.project, [("c1", "c2"), ("c3", "c2"), ("c4", "c4")])
    rows.frequency("c3", A, 0.9)
    resolve(rows.project)
    statuses = {k: v[1] for k, v in _statuses(rows.project).items()}
    assert statuses == {"c1": "duplicate", "c2": "duplicate", "c3": "kept", "c4": "kept"}
    assert is_near_duplicate(rows.project, ["c1", "c3", "c9"]).tolist() == [True, False, False]


def test_same_flickr_photo_candidates_form_a_component(rows):
    rows.images(["c1", "c2", "c3"])
    for image_id in ("c1", "c2", "c3"):
        rows.photo(image_id, "flickr-7")
    rows.frequency("c2", A, 0.8)
    resolve(rows.project)
    statuses = _statuses(rows.project)
    assert {k: v[1] for k, v in statuses.items()} == {"c1": "duplicate", "c2": "kept", "c3": "duplicate"}


def test_an_override_wins_over_the_rule(rows):
    rows.images(["c1", "c2"])
    _pairs(rows.project, [("c1", "c2")])
    rows.frequency("c2", A, 1.0)
    with rows.project.transaction() as session:
        session.add(DuplicateOverride(image_id="c1", reviewer="ana", created_at=utcnow()))
    resolve(rows.project)
    assert _statuses(rows.project)["c1"][1] == "kept"


def test_resolution_rewrites_the_previous_statuses(rows):
    rows.images(["c1", "c2"])
    _pairs(rows.project, [("c1", "c2")])
    resolve(rows.project)
    with rows.project.transaction() as session:
        session.query(DuplicatePair).delete()
    resolve(rows.project)
    assert _statuses(rows.project) == {}


def test_a_class_at_0_7_beats_a_better_class_with_more_good_candidates():
    graph = _graph(["a", "b"], [(0, 1)], [A, B], [0.75, 0.95], good={A: 3, B: 50})
    assert _kept(build_components(graph)) == ["a"]


def test_without_a_class_at_0_7_classes_at_0_6_compete():
    graph = _graph(["a", "b", "c"], [(0, 1), (1, 2)], [A, B, C], [0.65, 0.62, 0.5], good={A: 9, B: 2, C: 0})
    assert _kept(build_components(graph)) == ["b"]


def test_below_0_6_the_best_class_wins_ties_to_the_larger_key():
    graph = _graph(["a", "b", "c"], [(0, 1), (1, 2)], [A, B, C], [0.3, 0.5, 0.5], good={C: 9})
    assert _kept(build_components(graph)) == ["c"]


def test_ties_in_good_counts_go_to_the_smaller_class_key():
    graph = _graph(["a", "b"], [(0, 1)], [B, A], [0.8, 0.8], good={A: 4, B: 4})
    assert _kept(build_components(graph)) == ["b"]


def test_within_the_class_the_highest_frequency_member_is_kept_ties_to_the_larger_id():
    graph = _graph(["a", "b", "c", "d"], [(0, 1), (1, 2), (2, 3)], [A, A, A, A], [0.9, 0.95, 0.95, 0.1])
    assert _kept(build_components(graph)) == ["c"]


def test_many_components_resolve_independently():
    n = 300
    ids = [f"x{i:04d}" for i in range(2 * n)]
    edges = [(2 * i, 2 * i + 1) for i in range(n)]
    freq = np.tile([0.1, 0.9], n)
    result = build_components(_graph(ids, edges, [A] * (2 * n), freq))
    assert _kept(result) == ids[1::2]
    assert len(np.unique(result.component)) == n
