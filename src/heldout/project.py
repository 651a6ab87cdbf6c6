"""The project: one folder with ``heldout.toml``, a catalog database and an image store.

Every stage takes a ``Project``. It alone creates the database engine, the session factory and
the store client; stages get a session from :meth:`Project.transaction`, which commits or rolls
back as a whole and nests by savepoints. Opening a project upgrades its catalog to the newest
schema (our "prestart" step), so a project written by an older heldout just works.

    >>> project = Project.create("my-testset", classes="imagenet-1k")   # doctest: +SKIP
    >>> with project.transaction() as session:                           # doctest: +SKIP
    ...     session.add(...)
"""

from __future__ import annotations

import contextvars
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from heldout import __version__
from heldout.catalog import ImageClass, Run, current_revision, head_revision, is_known_revision, upgrade
from heldout.classes import BUILTIN_CLASS_SETS, ClassSet, load_class_set
from heldout.config import CONFIG_FILE, ProjectConfig
from heldout.errors import ConfigError, HeldoutError, ProjectError, ProjectNotFoundError, SchemaVersionError
from heldout.store import ImageStore
from heldout.views import CandidateView, ImageView

__all__ = ["Project", "utcnow"]


def utcnow() -> datetime:
    """Timestamps in the catalog are naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class Project:
    """The handle every stage takes: config, classes, catalog sessions and the image store."""

    def __init__(self, root: Path, config: ProjectConfig):
        self.root = root
        self.config = config
        self.engine = _create_engine(config.catalog_url, root)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._active: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
            f"heldout-session-{id(self)}", default=None
        )
        self.classes: ClassSet = load_class_set(_resolve_classes(config.classes, root))
        self.store = ImageStore(_resolve_store(config.store_url, root), cache_dir=root / config.cache_dir)

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})"

    @property
    def images(self) -> ImageView:
        """Images by id: ``project.images.load(id, "500")``."""
        return ImageView(self)

    @property
    def candidates(self) -> CandidateView:
        """Candidates' search records: ``project.candidates.records(wnid)``."""
        return CandidateView(self)

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        classes: str | Path = "imagenet-1k",
        catalog_url: str | None = None,
        store_url: str | None = None,
        name: str | None = None,
    ) -> Project:
        """Make a new project folder (refuses to overwrite one) and open it."""
        root = Path(path).resolve()
        if (root / CONFIG_FILE).exists():
            raise ProjectError(
                "a project already exists here", where=root, fix="open it, or pick a new folder"
            )
        settings: dict[str, Any] = {"name": name or root.name, "classes": str(classes)}
        if catalog_url:
            settings["catalog_url"] = catalog_url
        if store_url:
            settings["store_url"] = store_url
        config = ProjectConfig.model_validate(settings)
        load_class_set(_resolve_classes(config.classes, root))  # fail before writing anything
        existed = root.exists()
        root.mkdir(parents=True, exist_ok=True)
        config.save(root / CONFIG_FILE)
        try:
            return cls.open(root)
        except HeldoutError:  # e.g. the catalog cannot be reached: leave no half-made project
            if existed:
                (root / CONFIG_FILE).unlink(missing_ok=True)
            else:
                shutil.rmtree(root, ignore_errors=True)
            raise

    @classmethod
    def open(cls, path: str | Path) -> Project:
        """Open a project folder and bring its catalog to the current schema."""
        root = Path(path).resolve()
        if not (root / CONFIG_FILE).is_file():
            raise ProjectNotFoundError(
                f"no {CONFIG_FILE} here",
                where=root,
                fix="run `heldout init DIR` first, or pass --project DIR",
            )
        project = cls(root, ProjectConfig.load(root / CONFIG_FILE))
        project._migrate()
        project._sync_classes()
        return project

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on error; nested calls use savepoints."""
        active = self._active.get()
        if active is not None:
            with active.begin_nested():
                yield active
            return
        session = self._sessions()
        token = self._active.set(session)
        try:
            with session.begin():
                yield session
        finally:
            self._active.reset(token)
            session.close()

    @contextmanager
    def run(self, stage: str, parameters: dict[str, Any], *, seed: int | None = None) -> Iterator[Run]:
        """Record a stage run: parameters, version and seed up front; status, counts and timing at the end."""
        with self.transaction() as session:
            record = Run(
                stage=stage,
                parameters=parameters,
                package_version=__version__,
                seed=seed,
                status="running",
                counts={},
                started_at=utcnow(),
            )
            session.add(record)
        try:
            yield record
        except BaseException as exc:
            self._finish_run(record, "failed", f"{type(exc).__name__}: {exc}")
            raise
        self._finish_run(record, "done", None)

    def _finish_run(self, record: Run, status: str, error: str | None) -> None:
        with self.transaction() as session:
            row = session.get(Run, record.run_id)
            row.status, row.error, row.finished_at = status, error, utcnow()
            row.counts = dict(record.counts)
            flag_modified(
                row, "counts"
            )  # inside an outer transaction ``row`` is ``record``, mutated in place

    def _migrate(self) -> None:
        try:
            with self.engine.begin() as connection:
                current = current_revision(connection)
                head = head_revision()
                if current is not None and current != head and not is_known_revision(current):
                    raise SchemaVersionError(
                        f"the catalog is at schema {current}, newer than this heldout ({head})",
                        where=self.config.catalog_url,
                        fix="upgrade heldout",
                    )
                if current != head:
                    upgrade(connection)
        except SQLAlchemyError as exc:
            raise ProjectError(f"cannot open the catalog: {exc}", where=self.config.catalog_url) from exc

    def _sync_classes(self) -> None:
        """The class table mirrors the class set; it is written once, then checked."""
        with self.transaction() as session:
            stored = session.scalars(select(ImageClass.key).order_by(ImageClass.class_id)).all()
            wanted = self.classes.ids.tolist()
            if not stored:
                session.add_all(
                    ImageClass(class_id=c.index, key=c.id, names=list(c.names), description=c.description)
                    for c in self.classes
                )
            elif list(stored) != wanted:
                raise ProjectError(
                    "the class set differs from the one this project was created with",
                    where=self.root / CONFIG_FILE,
                    fix="keep the classes of a project fixed; start a new project for other classes",
                )


def _resolve_classes(classes: str, root: Path) -> str | Path:
    if classes in BUILTIN_CLASS_SETS:
        return classes
    path = Path(classes)
    return path if path.is_absolute() else root / path


def _resolve_store(url: str, root: Path) -> str:
    if "://" in url:
        return url
    path = Path(url)
    return str(path if path.is_absolute() else root / path)


def _create_engine(url: str, root: Path) -> Engine:
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"not a database URL: {exc}", where=url, fix="e.g. sqlite:///catalog.sqlite"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or "catalog.sqlite"
        if database != ":memory:" and not Path(database).is_absolute():
            parsed = parsed.set(database=str(root / database))
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # pysqlite delays BEGIN until the first write, so a savepoint opened before it would start
    # (and its release commit) a transaction of its own; SQLAlchemy emits BEGIN itself instead
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MB: random 40-hex keys outgrow the 2 MB default
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")
