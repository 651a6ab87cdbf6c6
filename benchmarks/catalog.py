"""Benchmark: catalog insert rate of 1M Flickr-like candidate records, on SQLite and PostgreSQL.

* Ours: ``heldout.collect.candidates.add_candidates(project, source_id, batch)`` on consecutive
  batches of the records into a fresh, empty catalog: one transaction per call, which runs one
  ``SELECT image_id, class_key FROM image WHERE image_id IN (...)`` over the batch's ids and
  alternate ids, then two bulk ``INSERT``s. The first of ``--batch-sizes`` (5,000, the recommended
  default) runs on all ``--count`` records and gives the ratio; the others run on the first
  ``--compare-count`` records, each into its own fresh catalog, and are compared with the same
  prefix of the main run.
* Baseline: what a naive stage does: one ``Image`` and one ``Candidate`` ORM object per record,
  ``session.add`` each, one ``session.commit()`` per 1,000 records (2,000 rows), and no duplicate
  check at all (which only flatters it). The models have no ``relationship()``, so the unit of work
  would flush a chunk's candidates before their images and break the foreign key: the chunk's
  images are added and flushed first, then its candidates added and committed. It is timed on the
  first ``--baseline-count`` records (20,000) in a fresh catalog and its time per record is
  extrapolated to ``--count``. That flatters the baseline too (it never meets the indexes of a
  catalog holding a million rows), so it also runs once more, on as many records ours did not
  insert, into the catalog ours just filled, and that is compared with ours' last tenth.

Both are timed in wall-clock seconds around the insert calls only. CPU seconds of this process,
and for PostgreSQL of the server's processes, are shown too: on a shared machine the wall time
includes waiting for a CPU. A ratio on CPU seconds is printed next to the (wall-time) ratio.

The records are what the Flickr source yields (``FlickrSource._record``): 40-hex ids (sha1 of a
numeric photo id made from a counter, plus "flickr", as ImageNetV2's ``id_ours``), an alternate
id for the same photo under another class, the ImageNet class keys of ``project.classes.ids`` in
runs of one 250-record result page per query, static.flickr.com URLs of the url_o/k/h/c/z types
in the published proportions, upload and taken dates, sizes, licenses, owners, and a ``record``
dict with the 20 keys, in order, of the published search records
(``imagenetv2/search_results/flickr_2018-10-24.json``). They are made from ``--seed`` before
anything is timed (and then frozen out of the garbage collector's way), so every backend and
every run insert exactly the same records. Row counts are checked after every run.

PostgreSQL runs on a throwaway PostgreSQL 15 cluster on 127.0.0.1 (initdb/pg_ctl, as user postgres
when root, like the tests' ``postgres_server`` fixture, with fsync off), stopped and removed at the
end even on errors; SQLite uses heldout's own engine settings (WAL, synchronous=NORMAL, foreign
keys on). The catalog size is the SQLite file (after closing, so the WAL is checkpointed into it)
or ``pg_database_size``.

A million records take 3 to 4 minutes on SQLite and about 5 on PostgreSQL on a busy 2-core
machine (10 minutes for the whole script), so to keep the default run near 5 minutes ours stops
after ``--max-seconds 100`` per backend and says so (how many records it did, the projected total);
``--max-seconds 0`` always does all ``--count`` records.

Run: ``.venv/bin/python benchmarks/catalog.py [--count 1000000] [--backends sqlite,postgresql]
[--batch-sizes 5000,20000] [--compare-count 60000] [--baseline-count 20000] [--max-seconds 100]``.
"""

from __future__ import annotations

import argparse
import gc
import getpass
import hashlib
import math
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from heldout.catalog import Candidate, Image
from heldout.classes import ClassSet
from heldout.collect.candidates import add_candidates, source_row
from heldout.collect.records import CandidateRecord, flickr_id
from heldout.project import Project, utcnow

BACKENDS = ("sqlite", "postgresql")
PAGE = 250  # records per search-result page: each page is one class, like the Flickr source yields them
URL_TYPES = ("url_o", "url_k", "url_h", "url_c", "url_z")
URL_TYPE_P = (0.87, 0.06, 0.01, 0.04, 0.02)  # as in the published flickr_2018-10-24.json
URL_SUFFIX = {"url_o": "o", "url_k": "k", "url_h": "h", "url_c": "c", "url_z": "z"}
URL_LONG_SIDE = {"url_k": 2048, "url_h": 1600, "url_c": 800, "url_z": 640}
LICENSES = ("1", "2", "3", "4", "5", "6", "9", "10")
UPLOADERS = ("becca", "ludwig", "vaishaal", "ben")
TAKEN_FROM = datetime(2012, 7, 11)
WINDOW_DAYS = 730
PG_BIN = Path("/usr/lib/postgresql/15/bin")


# --------------------------------------------------------------------------------------------------
# The records (made before anything is timed).


def search_key(names: Sequence[str], key: str) -> str:
    """ImageNetV2's search keys are lemma names without spaces ("oil filter" -> "oilfilter")."""
    return (names[0] if names else key).replace(" ", "").replace("_", "").lower()


def generate(count: int, seed: int, classes: ClassSet) -> list[CandidateRecord]:
    """``count`` distinct Flickr-like records, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    keys = classes.ids.tolist()
    keywords = [search_key(c.names, c.id) for c in classes]
    pages = (count + PAGE - 1) // PAGE
    page_class = rng.integers(len(keys), size=pages).tolist()
    page_window = rng.integers(0, WINDOW_DAYS - 60, size=pages).tolist()  # a 60-day window per query
    page_uploader = rng.integers(len(UPLOADERS), size=pages).tolist()
    url_type = rng.choice(len(URL_TYPES), size=count, p=URL_TYPE_P).tolist()
    long_side = rng.integers(2000, 6001, size=count).tolist()
    aspect = rng.choice(np.array([4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4, 2 / 3]), size=count).tolist()
    taken_offset = rng.integers(0, 60 * 86400, size=count).tolist()
    upload_delay = rng.integers(60, 30 * 86400, size=count).tolist()
    license_index = rng.integers(len(LICENSES), size=count).tolist()
    farm, server = rng.integers(1, 10, size=count).tolist(), rng.integers(1000, 9999, size=count).tolist()
    secrets = rng.integers(0, 2**40, size=count).tolist()
    owners = rng.integers(0, 200_000, size=count).tolist()
    records = []
    for page in range(pages):
        class_key, keyword = keys[page_class[page]], keywords[page_class[page]]
        window_start = TAKEN_FROM + timedelta(days=page_window[page])
        shared = (  # the keys every record of one query page has in common, before and after its dates
            {
                "wnid": class_key,
                "search_key": keyword,
                "search_engine": "flickr",
                "uploader": UPLOADERS[page_uploader[page]],
                "date_upload_our_db": str(datetime(2018, 10, 24, 9) + timedelta(seconds=page)),
            },
            {
                "max_taken_date": (window_start + timedelta(days=60)).date().isoformat(),
                "max_uploaded_date": "2018-10-24",
                "min_taken_date": window_start.date().isoformat(),
                "min_uploaded_date": "2012-07-11",
                "search_sort": "date-posted-asc",
                "max_images": 200,
                "batch": hashlib.sha256(f"{seed}-{page}".encode()).hexdigest(),
            },
        )
        for i in range(page * PAGE, min(count, (page + 1) * PAGE)):
            photo_id = str(7_000_000_000 + 37 * i + seed)  # a counter, spaced like real Flickr ids
            kind = URL_TYPES[url_type[i]]
            width = long_side[i] if kind == "url_o" else URL_LONG_SIDE[kind]
            height = round(width / aspect[i])
            if aspect[i] < 1:
                width, height = height, width
            url = (
                f"https://farm{farm[i]}.staticflickr.com/{server[i]}/{photo_id}_{secrets[i]:010x}_"
                f"{URL_SUFFIX[kind]}.jpg"
            )
            taken = window_start + timedelta(seconds=taken_offset[i])
            date_taken = str(taken)  # "YYYY-MM-DD HH:MM:SS" (no microseconds), faster than strftime
            date_upload = str(taken + timedelta(seconds=upload_delay[i]))
            image_id = flickr_id(photo_id)
            record = {
                "id_ours": image_id,
                "id_search_engine": photo_id,
                "url": url,
                "url_type": kind,
                **shared[0],
                "date_taken": date_taken,
                "date_upload_search_engine": date_upload,
                "width": width,
                "height": height,
                **shared[1],
            }
            records.append(
                CandidateRecord(
                    image_id=image_id,
                    class_key=class_key,
                    location=url,
                    search_key=keyword,
                    id_search_engine=photo_id,
                    url=url,
                    url_type=kind,
                    license=LICENSES[license_index[i]],
                    owner=f"{owners[i]}@N0{owners[i] % 8}",
                    date_taken=date_taken,
                    date_upload_search_engine=date_upload,
                    width=width,
                    height=height,
                    record=record,
                    alternate_id=flickr_id(photo_id, class_key),
                )
            )
    return records


# --------------------------------------------------------------------------------------------------
# Catalogs: fresh SQLite projects, or fresh databases on a throwaway PostgreSQL cluster.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_tool(name: str) -> str:
    path = PG_BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        sys.exit(f"PostgreSQL server binaries ({name}) are required: apt-get install postgresql")
    return found


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"FAIL: {' '.join(command)}: {done.stderr.strip() or done.stdout.strip()}")


def _stat(pid: int | str) -> list[str]:
    """Fields 3.. of /proc/PID/stat (state, ppid, ...; utime is [11], stime [12], cutime [13], cstime [14])."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cluster_cpu_seconds(data: Path) -> float:
    """CPU seconds used so far by a PostgreSQL cluster: the postmaster, its live children and the
    children it has reaped (backends that exited)."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    fields = _stat(postmaster)
    ticks = sum(int(x) for x in fields[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == str(postmaster):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def postgres_cluster() -> Iterator[tuple[str, Path]]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (fsync off), stopped and removed on the way out.

    Yields its SQLAlchemy URL (no database) and its data folder.
    """
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="heldout-pg-"))
    data = base / "data"
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else getpass.getuser()
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    started = False
    try:
        if as_root:
            shutil.chown(base, "postgres")
            base.chmod(0o755)
        port = _free_port()
        run([*prefix, initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"])
        options = (
            f"-p {port} -h 127.0.0.1 -k {base} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = True  # from here on, try to stop it even if start fails half-way
        run([*prefix, pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o", options, "start"])
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}", data
    finally:
        if started:
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Catalogs:
    """Makes fresh, empty project catalogs on one backend and says how big they got."""

    backend: str
    folder: Path
    server: str | None = None  # PostgreSQL: the cluster's URL
    data: Path | None = None  # and its data folder
    made: list[str] = field(default_factory=list)

    def create(self, label: str) -> Project:
        root = self.folder / f"{self.backend}-{label}"
        url = None
        if self.server is not None:
            import psycopg

            name = f"bench_{label}".replace("-", "_")
            with psycopg.connect(self._admin(), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            url = f"{self.server}/{name}"
        self.made.append(label)
        return Project.create(root, catalog_url=url)

    def size(self, project: Project) -> int:
        """Bytes the catalog takes: the SQLite file (and WAL), or pg_database_size."""
        if self.server is None:
            path = Path(project.engine.url.database)
            project.close()  # the last connection checkpoints the WAL into the file
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        with project.engine.connect() as connection:
            connection.execute(text("CHECKPOINT"))
            return int(connection.scalar(text("SELECT pg_database_size(current_database())")))

    def drop(self, project: Project) -> None:
        """Free the disk: remove a SQLite project's folder, or drop the PostgreSQL database."""
        project.close()
        if self.server is None:
            shutil.rmtree(project.root, ignore_errors=True)
            return
        import psycopg

        with psycopg.connect(self._admin(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{project.engine.url.database}" WITH (FORCE)')
        shutil.rmtree(project.root, ignore_errors=True)

    def server_cpu(self) -> float:
        """CPU seconds the database server has used so far (0 for SQLite, which runs in this process)."""
        return 0.0 if self.data is None else cluster_cpu_seconds(self.data)

    def _admin(self) -> str:
        return self.server.replace("postgresql+psycopg", "postgresql") + "/postgres"


def server_version(project: Project) -> str:
    with project.engine.connect() as connection:
        if project.engine.dialect.name == "sqlite":
            return "SQLite " + connection.scalar(text("SELECT sqlite_version()"))
        return "PostgreSQL " + connection.scalar(text("SHOW server_version")).split()[0]


def count_rows(project: Project) -> tuple[int, int]:
    with project.engine.connect() as connection:
        images = connection.scalar(select(func.count()).select_from(Image))
        candidates = connection.scalar(select(func.count()).select_from(Candidate))
    return int(images), int(candidates)


def new_source(project: Project) -> int:
    with project.transaction() as session:
        return source_row(session, "flickr", "benchmark://catalog", {"benchmark": True})


# --------------------------------------------------------------------------------------------------
# The two sides.


def run_ours(
    project: Project, records: Sequence[CandidateRecord], batch_size: int, max_seconds: float
) -> list[float]:
    """``add_candidates`` on consecutive batches, stopping after ``max_seconds`` (0: never).

    Returns the wall seconds of every call.
    """
    source_id = new_source(project)
    seconds = []
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        began = time.perf_counter()
        added, skipped = add_candidates(project, source_id, batch)
        seconds.append(time.perf_counter() - began)
        if added != len(batch) or skipped:
            sys.exit(f"FAIL: batch at {start}: added {added}, skipped {skipped} of {len(batch)}")
        if max_seconds and sum(seconds) >= max_seconds:
            break
    return seconds


def run_baseline(project: Project, records: Sequence[CandidateRecord], commit_every: int) -> None:
    """The naive stage: an Image and a Candidate ORM object per record, a commit every ``commit_every``.

    The models have no ``relationship()`` between them, so the unit of work does not know to insert
    a chunk's images before its candidates (the foreign key fails if both are flushed together):
    the chunk's images are added and flushed first, then its candidates added and committed.
    """
    source_id = new_source(project)
    with Session(project.engine) as session:
        for start in range(0, len(records), commit_every):
            chunk = records[start : start + commit_every]
            now = utcnow()
            for record in chunk:
                session.add(
                    Image(
                        image_id=record.image_id,
                        role="candidate",
                        split=None,
                        class_key=record.class_key,
                        status="failed" if record.failure else "pending",
                        reason=record.failure,
                        location=record.location,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
            session.flush()
            for record in chunk:
                session.add(
                    Candidate(
                        image_id=record.image_id,
                        source_id=source_id,
                        search_query_id=record.search_query_id,
                        id_search_engine=record.id_search_engine,
                        search_key=record.search_key,
                        url=record.url,
                        url_type=record.url_type,
                        license=record.license,
                        owner=record.owner,
                        date_taken=record.date_taken,
                        date_upload_search_engine=record.date_upload_search_engine,
                        width=record.width,
                        height=record.height,
                        record=record.record,
                    )
                )
            session.commit()


# --------------------------------------------------------------------------------------------------


@dataclass
class Cost:
    """Wall seconds, CPU seconds of this process, and CPU seconds of the database server."""

    wall: float = 0.0
    cpu: float = 0.0
    server: float = 0.0

    def describe(self) -> str:
        server = f" + {self.server:.1f} s server" if self.server else ""
        return f"{self.wall:.1f} s [CPU {self.cpu:.1f} s here{server}]"


@contextmanager
def measure(catalogs: Catalogs) -> Iterator[Cost]:
    cost = Cost()
    wall, cpu, server = time.perf_counter(), time.process_time(), catalogs.server_cpu()
    yield cost
    cost.wall = time.perf_counter() - wall
    cost.cpu = time.process_time() - cpu
    cost.server = catalogs.server_cpu() - server


def first_seconds(seconds: list[float], batch_size: int, n: int) -> float:
    """Seconds of the first ``n`` records (``n`` a multiple of ``batch_size``)."""
    return float(sum(seconds[: n // batch_size]))


def check_rows(project: Project, expected: int, what: str) -> None:
    found = count_rows(project)
    if found != (expected, expected):
        sys.exit(f"FAIL: {what}: the catalog holds {found} (image, candidate) rows, expected {expected}")


def bench_backend(
    catalogs: Catalogs, records: list[CandidateRecord], extra: list[CandidateRecord], args: argparse.Namespace
) -> float:
    """Run both sides on one backend and print its results; returns the ratio.

    ``extra`` are records ours never inserts, for the baseline's run on the full catalog.
    """
    backend, count = catalogs.backend, len(records)
    tag = f"[{backend}]"
    primary, *others = args.batch_sizes

    # Ours, on every record (or until --max-seconds), into a fresh catalog.
    project = catalogs.create(f"ours-{primary}")
    print(f"{tag} {server_version(project)}")
    with measure(catalogs) as cost:
        seconds = run_ours(project, records, primary, args.max_seconds)
    done = min(count, len(seconds) * primary)
    check_rows(project, done, f"ours on {backend}")
    size = catalogs.size(project)
    # The baseline once more, on records ours did not insert, into the catalog ours just filled.
    late = records[done : done + args.baseline_count]
    late += extra[: args.baseline_count - len(late)]
    with measure(catalogs) as late_cost:
        run_baseline(project, late, args.commit_every)
    check_rows(project, done + len(late), f"the baseline after ours on {backend}")
    catalogs.drop(project)
    total = float(sum(seconds))
    tenth = max(1, len(seconds) // 10)
    first_rate = tenth * primary / first_seconds(seconds, primary, tenth * primary)
    last_rate = (done - (len(seconds) - tenth) * primary) / float(sum(seconds[-tenth:]))
    print(
        f"{tag} ours (add_candidates, {primary:,} records per call): {done:,} records in "
        f"{cost.describe()}: {done / total:,.0f} records/s (first tenth {first_rate:,.0f}/s, last "
        f"tenth {last_rate:,.0f}/s; slowest call {max(seconds):.2f} s)"
    )
    what = "catalog file (SQLite, with its WAL)" if backend == "sqlite" else "database (pg_database_size)"
    print(f"{tag} {what}: {size / 1e6:,.0f} MB, {size / done:,.0f} bytes per record")
    if done < count:
        rest = (count - done) / last_rate
        print(
            f"{tag} STOPPED by --max-seconds {args.max_seconds:g}: {done:,} of {count:,} records done; "
            f"the {count:,}-record time was NOT measured (at the last tenth's rate the rest would take "
            f"~{rest:.0f} s more, ~{total + rest:.0f} s in all; rerun with --max-seconds 0)"
        )

    # Other batch sizes, on a common prefix, each into a fresh catalog.
    for batch_size in others:
        n = min(done, args.compare_count or count)
        n -= n % math.lcm(primary, batch_size)
        if n == 0:
            print(f"{tag} batch size {batch_size:,}: skipped (no common prefix of whole batches)")
            continue
        project = catalogs.create(f"ours-{batch_size}")
        with measure(catalogs) as other_cost:
            other = run_ours(project, records[:n], batch_size, 0)
        check_rows(project, n, f"ours with {batch_size} per call on {backend}")
        catalogs.drop(project)
        mine = first_seconds(seconds, primary, n)
        print(
            f"{tag} batch sizes on the first {n:,} records: {batch_size:,} per call "
            f"{n / sum(other):,.0f} records/s in {other_cost.describe()}, slowest call {max(other):.2f} s; "
            f"{primary:,} per call {n / mine:,.0f} records/s in {mine:.1f} s, slowest call "
            f"{max(seconds[: n // primary]):.2f} s"
        )

    # The baseline, on the first --baseline-count records, into a fresh catalog.
    sample = records[: min(args.baseline_count, done)]
    project = catalogs.create("baseline")
    with measure(catalogs) as base:
        run_baseline(project, sample, args.commit_every)
    check_rows(project, len(sample), f"the baseline on {backend}")
    catalogs.drop(project)
    per_record = base.wall / len(sample)
    how = (
        "measured"
        if len(sample) == count
        else f"extrapolated from {len(sample):,} timed in {base.describe()}"
    )
    print(
        f"{tag} baseline (ORM session.add per Image and Candidate, commit every {args.commit_every:,} "
        f"records): {per_record * count:.1f} s for {count:,} ({how}): {1 / per_record:,.0f} records/s"
    )
    if len(sample) % primary == 0:
        mine = first_seconds(seconds, primary, len(sample))
        print(
            f"{tag} like for like, the same first {len(sample):,} records into an empty catalog: ours "
            f"{len(sample) / mine:,.0f} records/s vs baseline {1 / per_record:,.0f} records/s: "
            f"{base.wall / mine:.1f}x"
        )
    print(
        f"{tag} at the end, into the catalog holding ours' {done:,}: baseline {len(late) / late_cost.wall:,.0f} "
        f"records/s ({len(late):,} records in {late_cost.describe()}) vs ours' last tenth "
        f"{last_rate:,.0f} records/s: {last_rate * late_cost.wall / len(late):.1f}x"
    )
    cpu_ratio = ((base.cpu + base.server) / len(sample)) / ((cost.cpu + cost.server) / done)
    print(f"{tag} on CPU seconds (this process + server) per record: baseline / ours = {cpu_ratio:.1f}x")
    ratio = per_record * done / total
    over = f"{count:,} records" if done == count else f"the {done:,} records done (NOT {count:,})"
    print(f"{tag} ratio = baseline / ours = {ratio:.1f}x  (wall time over {over}, {primary:,} per call)")
    return ratio


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="candidate records to insert")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--batch-sizes",
        default="5000,20000",
        help="records per add_candidates call, comma-separated: the first runs on all records and gives "
        "the ratio, the others on the first --compare-count records",
    )
    parser.add_argument(
        "--compare-count",
        type=int,
        default=60_000,
        help="records the other batch sizes are compared on (0: all)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=100,
        help="stop ours on a backend after this many seconds and say so (0: never)",
    )
    parser.add_argument(
        "--baseline-count", type=int, default=20_000, help="records the ORM baseline is timed on"
    )
    parser.add_argument("--commit-every", type=int, default=1_000, help="records per commit in the baseline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown or not args.backends:
        parser.error(f"--backends: unknown {unknown}; choose from {','.join(BACKENDS)}")
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    if args.count < 1 or not args.batch_sizes or min(args.batch_sizes) < 1:
        parser.error("--count and --batch-sizes must be positive")
    args.baseline_count = max(1, min(args.baseline_count, args.count))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print("heldout benchmark: catalog inserts (add_candidates in batches) vs ORM session.add per row")
    print(
        f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"sqlite3 {sqlite3.sqlite_version}, {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f} (a busy machine slows the wall times)")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="heldout-catalog-") as tmp:
        folder = Path(tmp)
        with Project.create(folder / "classes") as project:
            classes = project.classes  # the 1,000 ImageNet classes every project here gets
        start = time.perf_counter()
        gc.disable()  # a million small dicts: no point collecting while making them
        records = generate(args.count + args.baseline_count, args.seed, classes)
        records, extra = records[: args.count], records[args.count :]
        gc.freeze()  # and none in re-scanning them during the timed runs
        gc.enable()
        print(
            f"generated {len(records) + len(extra):,} Flickr-like records over "
            f"{len({r.class_key for r in records})} classes in {time.perf_counter() - start:.1f} s (not timed)"
        )
        ratios = {}
        for backend in args.backends:
            if backend == "sqlite":
                ratios[backend] = bench_backend(Catalogs(backend, folder), records, extra, args)
            else:
                with postgres_cluster() as (server, data):
                    catalogs = Catalogs(backend, folder, server, data)
                    ratios[backend] = bench_backend(catalogs, records, extra, args)
    print(
        f"\nwall time of the whole run: {time.perf_counter() - began:.0f} s; "
        f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    for backend, ratio in ratios.items():
        print(f"{backend}: ratio = baseline / ours = {ratio:.1f}x")


if __name__ == "__main__":
    main()
