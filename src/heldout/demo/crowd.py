"""A simulated crowd that works through the real web app, as people's browsers do.

**What is simulated, and how.** Each simulated worker is one of the 85 real ReaL raters, drawn in
proportion to how much that rater answered, and behaves by that rater's 2 x 3 confusion matrix
P(no / maybe / yes | the label fits or not), fitted by Dawid–Skene on the 924,810 real answers
(``scripts/fit_demo_raters.py``; package data ``heldout/data/real-raters.json``). So the crowd
has the real raters' noise, their spammers (one ReaL rater said yes to 99 % of everything) and
their "maybe". A grid only has ticks: a "maybe" becomes a tick with probability ``maybe_tick``,
by default 1 (maybe = tick), as the app's pause rule and its honest-worker prior (fitted on the
same raters) count "maybe" as a positive answer.

**What the crowd knows.** Only what a person would: the pages and images the app serves, and the
truth as a person sees it, i.e. a table mapping the sha256 of an image's *decoded pixels* (as
served: the 500 px rendition) to its true class, built from the demo's source files by the same
rendering function ingest uses (:func:`truth_table`). It never reads the catalog, and URLs carry
only opaque tokens.

**How it works.** The lab (the demo) starts the real app with uvicorn on 127.0.0.1 in a
subprocess, logs in with the admin key and makes one invite link per worker (``POST
/admin/invites``). Each worker opens its link, agrees, and takes tasks (``POST
/work/w/{token}/next``), loads the grid page and every image on it, ticks images and submits the
form (``POST /work/a/{token}``), a few tasks per visit, workers taking turns in a seeded order,
until the app has no task left for anyone. Workers the app pauses (its spammer rule) stop.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from heldout.classes import ClassSet
from heldout.crowd.tokens import TokenSigner, project_secret
from heldout.errors import ConfigError
from heldout.images import prepare

__all__ = [
    "CrowdReport",
    "CrowdSettings",
    "RaterTable",
    "SimulatedWorker",
    "draw_workers",
    "live_server",
    "load_raters",
    "pixel_key",
    "run_crowd",
    "served_key",
    "truth_table",
]

Progress = Callable[[int, int | None], None]
YES, MAYBE = 2, 1


@dataclass(frozen=True, eq=False)
class RaterTable:
    """The real raters' fitted behaviour: ids, answer counts and (n, 2, 3) confusion matrices."""

    ids: np.ndarray
    answers: np.ndarray
    confusion: np.ndarray


@dataclass(frozen=True)
class CrowdSettings:
    """How many workers, how a "maybe" maps to a tick, how many tasks a visit takes, the seed."""

    workers: int = 40
    maybe_tick: float = 1.0
    parallel_images: int = 6
    """Images of a page loaded at once, as a browser does (over one host's connections)."""
    tasks_per_visit: int = 3
    seed: int = 0


@dataclass(frozen=True, eq=False)
class SimulatedWorker:
    """One simulated worker: an invite label and the confusion matrix of the rater it copies."""

    label: str
    rater_id: int
    confusion: np.ndarray

    def ticks(self, fits: np.ndarray, rng: np.random.Generator, *, maybe_tick: float) -> np.ndarray:
        """Which images of a grid this worker ticks, given whether each truly fits the class."""
        cumulative = np.cumsum(self.confusion[fits.astype(np.int64)], axis=1)
        answer = (rng.random(len(fits))[:, None] > cumulative[:, :-1]).sum(axis=1)
        coin = rng.random(len(fits)) < maybe_tick
        return (answer == YES) | ((answer == MAYBE) & coin)


@dataclass
class CrowdReport:
    """What the simulated crowd did, and how well (it knows the truth, so this is measured)."""

    workers: int = 0
    paused_workers: int = 0
    assignments: int = 0
    images_loaded: int = 0
    ticks: int = 0
    correct: int = 0
    unknown_images: int = 0
    seconds: float = 0.0
    raters_used: list[int] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of the crowd's tick / no-tick answers that match the truth."""
        return self.correct / max(1, self.images_loaded - self.unknown_images)

    def describe(self, settings: CrowdSettings) -> str:
        """One paragraph for the demo's output: the crowd is simulated, and how."""
        return (
            f"SIMULATED crowd: {self.workers} workers, each behaving like one of the "
            f"{len(set(self.raters_used))} real ReaL raters it was drawn from (confusion matrices "
            f"P(no/maybe/yes | fits) fitted by Dawid-Skene on their 924,810 real answers); "
            f"'maybe' = a tick with probability {settings.maybe_tick:g}. They answered through the real "
            f"web app over HTTP (uvicorn on 127.0.0.1): {self.assignments} grid assignments, "
            f"{self.images_loaded} images loaded, {self.ticks} ticks, {self.accuracy:.1%} of answers "
            f"right; {self.paused_workers} worker(s) paused by the app's spammer rule."
        )


def load_raters() -> RaterTable:
    """The package's fitted table of the real ReaL raters."""
    text = resources.files("heldout").joinpath("data", "real-raters.json").read_text(encoding="utf-8")
    raters = json.loads(text)["raters"]
    return RaterTable(
        np.array([r["id"] for r in raters]),
        np.array([r["answers"] for r in raters]),
        np.array([r["confusion"] for r in raters], dtype=np.float64),
    )


def draw_workers(raters: RaterTable, n: int, rng: np.random.Generator) -> list[SimulatedWorker]:
    """``n`` workers, each copying a rater drawn in proportion to its number of real answers."""
    chosen = rng.choice(len(raters.ids), size=n, p=raters.answers / raters.answers.sum())
    return [
        SimulatedWorker(f"sim-{number:03d}", int(raters.ids[r]), raters.confusion[r])
        for number, r in enumerate(chosen.tolist())
    ]


def pixel_key(pixels: np.ndarray) -> str:
    """sha256 of an image's decoded pixels (shape included), the crowd's only key to the truth."""
    header = f"{pixels.dtype.str}{pixels.shape}".encode()
    return hashlib.sha256(header + np.ascontiguousarray(pixels).tobytes()).hexdigest()


def served_key(data: bytes) -> str:
    """:func:`pixel_key` of image bytes as a browser shows them (decoded to RGB)."""
    with Image.open(io.BytesIO(data)) as image:
        return pixel_key(np.asarray(image.convert("RGB")))


def truth_table(
    items: Iterable[tuple[bytes, str | None]], *, jpeg_quality: int, workers: int = 2
) -> dict[str, str | None]:
    """Pixel key of each source image's served rendition -> its true class (None: no class).

    The rendition is made from the source bytes by :func:`heldout.images.prepare`, the function
    ingest uses, so the keys match what the app serves without the crowd reading the catalog.
    """
    items = list(items)
    data = [item[0] for item in items]
    with ProcessPoolExecutor(workers) as pool:
        keys = list(pool.map(_rendition_key, data, [jpeg_quality] * len(data), chunksize=64))
    table: dict[str, str | None] = {}
    for key, (_, class_key) in zip(keys, items, strict=True):
        table.setdefault(key, class_key)
    return table


def _rendition_key(data: bytes, jpeg_quality: int) -> str:
    return served_key(prepare(data, min_side_px=1, jpeg_quality=jpeg_quality).renditions["500"])


@contextmanager
def live_server(root: str | Path, *, timeout_s: float = 60.0) -> Iterator[str]:
    """The project's web app under uvicorn on a free port of 127.0.0.1, in a subprocess (what
    ``heldout serve`` runs); yields its base URL and stops it afterwards."""
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "heldout.web.app:create_app_from_env",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "HELDOUT_PROJECT": str(Path(root).resolve())}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, timeout_s)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_crowd(
    project_root: str | Path,
    classes: ClassSet,
    truth: Mapping[str, str | None],
    *,
    settings: CrowdSettings = CrowdSettings(),
    raters: RaterTable | None = None,
    progress: Progress | None = None,
) -> CrowdReport:
    """Let a simulated crowd do every open task of the project through the live web app."""
    rng = np.random.default_rng(settings.seed)
    workers = draw_workers(raters or load_raters(), settings.workers, rng)
    report = CrowdReport(workers=len(workers), raters_used=[w.rater_id for w in workers])
    names = {" or ".join(c.names): c.id for c in classes}
    started = time.perf_counter()
    admin_key = TokenSigner(project_secret(project_root)).admin_key()
    with (
        live_server(project_root) as url,
        httpx.Client(base_url=url, headers=_BROWSER) as http,
        ThreadPoolExecutor(settings.parallel_images) as pool,
    ):
        visitor = _Visitor(http, pool, names, truth, settings, report)
        links = _invite_links(url, admin_key, [w.label for w in workers])
        starts = {w.label: visitor.arrive(links[w.label]) for w in workers}
        active = list(workers)
        while active:
            order = rng.permutation(len(active))
            before = report.assignments
            active = [w for w in (active[i] for i in order) if visitor.visit(w, starts[w.label], rng)]
            if progress:
                progress(report.assignments, None)
            if report.assignments == before:
                break
    report.seconds = time.perf_counter() - started
    return report


def _invite_links(url: str, admin_key: str, labels: list[str]) -> dict[str, str]:
    """The lab's part: sign in to the admin pages and make one invite link per worker."""
    with httpx.Client(base_url=url, headers=_BROWSER) as admin:
        _get(admin, f"/admin/login?key={admin_key}", ok=(303,))
        pages = {label: _post(admin, "/admin/invites", {"label": label, "days": "30"}) for label in labels}
    return {label: _Page(page.text).inputs["invite-link"] for label, page in pages.items()}


_BROWSER = {"accept": "text/html,application/xhtml+xml", "user-agent": "heldout-demo-simulated-worker"}


class _Visitor:
    """One worker's browser session: follow links, load images, tick, submit."""

    def __init__(
        self,
        http: httpx.Client,
        pool: ThreadPoolExecutor,
        names: Mapping[str, str],
        truth: Mapping[str, str | None],
        settings: CrowdSettings,
        report: CrowdReport,
    ):
        self.http, self.pool, self.names, self.truth = http, pool, names, truth
        self.settings, self.report = settings, report
        self.seen: dict[str, str] = {}  # sha256 of served bytes -> pixel key (saves re-decoding)

    def arrive(self, invite_link: str) -> str:
        """Open a worker's invite link; returns the "start a task" form's address."""
        return _Page(_get(self.http, invite_link).text).forms[0]

    def visit(self, worker: SimulatedWorker, start: str, rng: np.random.Generator) -> bool:
        """Up to ``tasks_per_visit`` tasks; False when the app has nothing more for this worker."""
        for _ in range(self.settings.tasks_per_visit):
            issued = self.http.post(start)
            if issued.status_code in (403, 404):
                self.report.paused_workers += issued.status_code == 403
                return False
            if issued.status_code != 303:
                raise ConfigError(f"the app answered {issued.status_code} to a task request", where=start)
            self._answer(worker, issued.headers["location"], rng)
        return True

    def _answer(self, worker: SimulatedWorker, address: str, rng: np.random.Generator) -> None:
        page = _Page(_get(self.http, address).text)
        asked = self.names.get(page.class_name)
        loaded = self.pool.map(lambda src: _get(self.http, src).content, page.images)
        keys = [self._key(data) for data in loaded]
        known = np.array([key in self.truth for key in keys])
        fits = np.array([self.truth.get(key) == asked for key in keys])
        ticks = worker.ticks(fits, rng, maybe_tick=self.settings.maybe_tick)
        selected = [value for value, tick in zip(page.checkboxes, ticks.tolist(), strict=True) if tick]
        _post(self.http, page.forms[0], {"selected": selected}, ok=(200,))
        self.report.assignments += 1
        self.report.images_loaded += len(keys)
        self.report.unknown_images += int((~known).sum())
        self.report.ticks += int(ticks.sum())
        self.report.correct += int(((ticks == fits) & known).sum())

    def _key(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if digest not in self.seen:
            self.seen[digest] = served_key(data)
        return self.seen[digest]


class _Page(HTMLParser):
    """What a browser would see on a page: form actions, images, checkboxes, the class asked for,
    and named inputs' values."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[str] = []
        self.images: list[str] = []
        self.checkboxes: list[str] = []
        self.inputs: dict[str, str] = {}
        self.class_name = ""
        self._in_class = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(values.get("action", ""))
        elif tag == "img":
            self.images.append(values.get("src", ""))
        elif tag == "input" and values.get("type") == "checkbox":
            self.checkboxes.append(values.get("value", ""))
        elif tag == "input" and "id" in values:
            self.inputs[values["id"]] = values.get("value", "")
        self._in_class = tag == "span" and values.get("class") == "class" and not self.class_name

    def handle_data(self, data: str) -> None:
        if self._in_class:
            self.class_name += data

    def handle_endtag(self, tag: str) -> None:
        self._in_class = False


def _get(http: httpx.Client, address: str, *, ok: tuple[int, ...] = (200,)) -> httpx.Response:
    response = http.get(address)
    _check(response, address, ok)
    return response


def _post(http: httpx.Client, address: str, form: dict, *, ok: tuple[int, ...] = (200,)) -> httpx.Response:
    response = http.post(address, data=form)
    _check(response, address, ok)
    return response


def _check(response: httpx.Response, address: str, ok: tuple[int, ...]) -> None:
    if response.status_code not in ok:
        raise ConfigError(
            f"the web app answered {response.status_code} to {response.request.method} {address.split('?')[0]}",
            fix="see the app's log; rerun the demo to resume",
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise ConfigError(f"the web app did not start: {error[-500:]}", where=url)
        try:
            if httpx.get(url + "/", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise ConfigError(f"the web app did not answer within {timeout_s:g} s", where=url)
