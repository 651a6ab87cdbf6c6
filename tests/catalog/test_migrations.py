"""Migrations run up, down and up again on both backends, and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from heldout.catalog import Base, current_revision, downgrade, head_revision, upgrade


def test_upgrade_downgrade_upgrade_round_trips(project):
    with project.engine.begin() as connection:
        assert current_revision(connection) == head_revision()
        downgrade(connection, "base")
    with project.engine.begin() as connection:
        assert current_revision(connection) is None
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        upgrade(connection)
    with project.engine.begin() as connection:
        assert current_revision(connection) == head_revision()
        assert {"image", "candidate", "blob", "blacklist", "run", "source", "search_query", "class"} <= set(
            inspect(connection).get_table_names()
        )


def test_migrations_match_the_models_with_no_autogenerate_diff(project):
    with project.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
