"""Bulk inserts for the large imports (answers, questions): COPY on PostgreSQL, executemany on SQLite.

The ORM's row-by-row path costs tens of microseconds per row; these paths cost a few, so a
million answers import in seconds. They run on the session's own connection, inside the
caller's transaction: a failed import leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

__all__ = ["analyze", "bulk_insert"]


def bulk_insert(session: Session, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; returns the number inserted."""
    connection = session.connection()
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        count = 0
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    batch = [tuple(_sqlite_value(v) for v in row) for row in rows]
    if not batch:
        return 0
    placeholders = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", batch)
    return len(batch)


def _sqlite_value(value: object) -> object:
    """Datetimes in the text form SQLAlchemy's SQLite dialect reads back (with microseconds)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def analyze(session: Session, *tables: str) -> None:
    """Refresh the planner's statistics after a bulk load (PostgreSQL). Without it the planner
    still believes the tables are empty and joins a million answers by nested loops."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
