"""Fixtures of the dedup tests: a helper that writes catalog rows (images, candidates with source
photo ids, neighbours, frequency scores) straight into a project, so each test states its graph."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from heldout.catalog import Candidate, Image, Neighbour, Question, Score, Source
from heldout.project import Project, utcnow


class CatalogRows:
    """Adds rows to one project; each method is one transaction."""

    def __init__(self, project: Project):
        self.project = project
        self._source_id: int | None = None

    def images(self, ids: Iterable[str], *, role: str = "candidate", class_key: str = "n01440764") -> None:
        now = utcnow()
        with self.project.transaction() as session:
            session.add_all(
                Image(
                    image_id=i,
                    role=role,
                    split="val" if role == "reference" else None,
                    class_key=class_key,
                    status="metadata",
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
                for i in ids
            )

    def photo(self, image_id: str, photo_id: str) -> None:
        """Give a candidate its search-engine (Flickr) photo id."""
        with self.project.transaction() as session:
            if self._source_id is None:
                source = Source(kind="folder", uri="test", parameters={}, created_at=utcnow())
                session.add(source)
                session.flush()
                self._source_id = source.source_id
            session.add(
                Candidate(image_id=image_id, source_id=self._source_id, id_search_engine=photo_id, record={})
            )

    def neighbours(self, image_id: str, metric: str, pairs: list[tuple[str, float]]) -> None:
        with self.project.transaction() as session:
            session.add_all(
                Neighbour(image_id=image_id, metric=metric, rank=r, neighbour_id=n, distance=d)
                for r, (n, d) in enumerate(pairs)
            )

    def frequency(self, image_id: str, class_key: str, value: float) -> None:
        with self.project.transaction() as session:
            question = Question(image_id=image_id, class_key=class_key)
            session.add(question)
            session.flush()
            session.add(
                Score(question_id=question.question_id, method="frequency", value=value, annotations=10)
            )


@pytest.fixture()
def rows(project) -> CatalogRows:
    return CatalogRows(project)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_project(request, tmp_path_factory):
    """One project per backend shared by a module's tests (for setups too slow to repeat)."""
    import uuid

    import psycopg

    url = admin = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = "dedup_" + uuid.uuid4().hex[:8]
        admin = server.replace("postgresql+psycopg", "postgresql") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = f"{server}/{name}"
    with Project.create(tmp_path_factory.mktemp("dedup") / "project", catalog_url=url) as project:
        yield project
    if admin:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
