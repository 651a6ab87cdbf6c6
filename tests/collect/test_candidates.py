"""Adding candidates in bulk: large batches, duplicates, alternate ids."""

from __future__ import annotations

from sqlalchemy import func, select

from heldout.catalog import Candidate
from heldout.collect import CandidateRecord, add_candidates, flickr_id
from heldout.collect.candidates import source_row


def _records(count: int, class_key: str = "n01440764") -> list[CandidateRecord]:
    return [
        CandidateRecord(
            image_id=flickr_id(str(n)),
            class_key=class_key,
            location=f"https://farm.example/{n}.jpg",
            id_search_engine=str(n),
            record={"id_ours": flickr_id(str(n)), "wnid": class_key},
            alternate_id=flickr_id(str(n), class_key),
        )
        for n in range(count)
    ]


def _source(project) -> int:
    with project.transaction() as session:
        return source_row(session, "test", "memory", {})


def test_a_batch_larger_than_the_bind_parameter_limit_inserts(project):
    added, known = add_candidates(project, _source(project), _records(33_000))
    assert (added, known) == (33_000, 0)


def test_the_same_batch_again_adds_nothing(project):
    source = _source(project)
    add_candidates(project, source, _records(500))
    assert add_candidates(project, source, _records(500)) == (0, 500)


def test_a_photo_found_for_another_class_gets_its_alternate_id_and_record(project):
    source = _source(project)
    add_candidates(project, source, _records(3))
    add_candidates(project, source, _records(3, class_key="n01443537"))
    records = project.candidates.records("n01443537")
    assert [r["id_ours"] for r in records] == sorted(flickr_id(str(n), "n01443537") for n in range(3))
    with project.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Candidate)) == 6
