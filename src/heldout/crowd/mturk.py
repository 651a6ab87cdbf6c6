"""The Amazon Mechanical Turk bridge: open tasks become HITs showing heldout's own app, and the
assignments come back into the catalog as workers, assignments and answers.

    >>> client = create_client()                                       # doctest: +SKIP
    >>> create_hits(project, client, base_url="https://crowd.example.org")  # doctest: +SKIP
    >>> sync_assignments(project, client)                              # doctest: +SKIP
    >>> approve(project, client, ["3XMVN1BINNIXMTM9TTDO1GKMECV7GA"])   # doctest: +SKIP

**Sandbox by default.** :func:`create_client` talks to the requester sandbox; the live marketplace
(real money) needs ``live=True`` *and* a ``confirm`` callable that returns the typed string
``"LIVE"``. Every other function works on whichever marketplace its client points at, and only
on the HITs created there.

**HITs** (ImageNetV2's settings, :class:`HitSettings`): one HIT type per :func:`create_hits` call
(reward 0.10 USD, 600 s per assignment, auto-approval after 3 days), then one HIT per open grid
or verify task: an ``ExternalQuestion`` showing ``<base_url>/work/mturk?task=<task uuid>``, to
which MTurk appends ``assignmentId``, ``hitId``, ``workerId`` and ``turkSubmitTo``;
``MaxAssignments`` is the task's ``max_assignments`` (MTurk charges a higher fee from 10 on),
lifetime 7 days, and ``RequesterAnnotation`` = ``UniqueRequestToken`` = the task's uuid, so a
retried call cannot make a second HIT. The task's payload records ``hit_id``, ``hit_type_id`` and
``mturk_environment`` (``sandbox`` or ``live``) as soon as its HIT exists; a task that has a HIT
is skipped, except that a task with only a sandbox HIT gets a live one (which replaces the
record).

**The answer contract with the app.** The page posts to ``<turkSubmitTo>/mturk/externalSubmit``
the field ``assignmentId`` and one field ``answers`` (:data:`ANSWER_FIELD`): a JSON object mapping
task positions (``TaskQuestion.position``, as strings) to answer values, 0 = no, 1 = maybe,
2 = yes. A position left out means no, so a grid posts its ticked positions, ``{"3": 2,
"17": 2}``, and a verify task every label it was asked about. MTurk hands it back as a
``FreeText`` in its ``QuestionFormAnswers`` XML; :func:`sync_assignments` stores one answer per
task question. An answer naming an unknown position or value is not stored and is listed in
the report's ``malformed`` instead.

**Workers** are stored only as ``sha256(WorkerId + secret)`` (hex, ImageNetV2's scheme), the
secret taken from the ``HELDOUT_SECRET`` environment variable. Without it, a random secret is
made once and kept in ``<project>/.heldout-secret`` (mode 0600; a warning is logged): keep that
file out of shared copies of the project, and keep it, since a new secret splits every worker
in two.

**Errors.** Settings heldout can check before calling (a live client without LIVE, a reward or
URL MTurk would refuse, a rejection without feedback, missing credentials) raise
:class:`~heldout.errors.ConfigError` before any call; MTurk's own refusals (``RequestError``,
``ServiceFault``) and connection failures raise a :class:`~heldout.errors.HeldoutError` naming
the operation and MTurk's message.

Try the sandbox on a copy of the project: assignments synced from the sandbox are stored like
live ones and would count in aggregation.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.sax.saxutils import escape

from sqlalchemy import func, insert, select, update

from heldout.catalog import Answer, Assignment, Task, TaskQuestion, Worker
from heldout.crowd.tokens import hash_worker_id, project_secret
from heldout.errors import ConfigError, CrowdError
from heldout.project import Project, utcnow

try:  # boto3 is optional: without it, only create_client complains
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
except ImportError:  # pragma: no cover - the test environment has boto3
    boto3 = None
    _BOTO_ERRORS: tuple[type[Exception], ...] = ()
    _CREDENTIAL_ERRORS: tuple[type[Exception], ...] = ()
else:
    _BOTO_ERRORS = (BotoCoreError, ClientError)
    _CREDENTIAL_ERRORS = (NoCredentialsError,)

__all__ = [
    "ANSWER_FIELD",
    "LIVE_ENDPOINT",
    "SANDBOX_ENDPOINT",
    "CreatedHit",
    "HitProgress",
    "HitSettings",
    "ReviewReport",
    "SyncReport",
    "approve",
    "client_environment",
    "create_client",
    "create_hits",
    "external_question",
    "hash_worker_id",
    "progress",
    "project_secret",
    "reject",
    "sync_assignments",
]

logger = logging.getLogger(__name__)

SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
REGION = "us-east-1"
ANSWER_FIELD = "answers"
"""The FreeText field of the submitted form holding the JSON answers."""
WORKABLE_KINDS = ("grid", "verify")
LIVE_CONFIRMATION = "LIVE"

_EXTERNAL_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
)
_STATUSES = {"Submitted": "submitted", "Approved": "approved", "Rejected": "rejected"}
_PAGE_SIZE = 100  # MTurk's maximum for list_assignments_for_hit
_MAX_ANSWER_CHARS = 65_536
_MAX_FEEDBACK_CHARS = 1024  # MTurk's limit on RequesterFeedback
_ANSWER_VALUES = (0, 1, 2)


@dataclass(frozen=True)
class HitSettings:
    """The HIT type and the HITs' lifetime; the defaults are ImageNetV2's."""

    title: str = "Label new images for machine learning dataset"
    description: str = "Select images containing objects of the appropriate type"
    keywords: str = "image, label, machine learning, artificial intelligence"
    assignment_duration_s: int = 600
    """Time a worker has for one assignment."""
    auto_approval_delay_s: int = 259_200
    """Submitted assignments are approved automatically after this (3 days)."""
    lifetime_s: int = 604_800
    """A HIT can be accepted for this long (7 days)."""
    frame_height_px: int = 0
    """Height of the app's frame in the worker's page; 0 fills the window."""


@dataclass(frozen=True)
class CreatedHit:
    """One HIT made for one task."""

    task_id: int
    task_uuid: str
    hit_id: str
    hit_type_id: str
    hit_group_id: str | None
    environment: str

    @property
    def preview_url(self) -> str | None:
        """Where a worker (or you) can see the HIT's group on the marketplace."""
        if not self.hit_group_id:
            return None
        host = "workersandbox.mturk.com" if self.environment == "sandbox" else "worker.mturk.com"
        return f"https://{host}/projects/{self.hit_group_id}/tasks"


@dataclass(frozen=True)
class SyncReport:
    """What :func:`sync_assignments` found and changed."""

    hits: int
    assignments: int
    """Assignments MTurk listed (submitted, approved or rejected)."""
    added: int
    """Assignments new to the catalog."""
    updated: int
    """Assignments whose status (or MTurk id) changed."""
    answers: int
    workers: int
    """Workers new to the catalog."""
    malformed: tuple[str, ...] = ()
    """``"<AssignmentId>: <why>"`` for assignments whose answer could not be read (not stored)."""


@dataclass(frozen=True)
class ReviewReport:
    """Assignments approved or rejected, and those skipped because the catalog already had that status."""

    done: tuple[str, ...]
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class HitProgress:
    """One HIT's assignments as MTurk counts them."""

    task_uuid: str
    hit_id: str
    status: str
    max_assignments: int
    available: int
    pending: int
    completed: int


@dataclass(frozen=True)
class _Hit:
    task_id: int
    task_uuid: str
    hit_id: str


class _MalformedAnswer(Exception):
    """An assignment's answer does not follow the contract (internal: becomes a report line)."""


def create_client(
    *, live: bool = False, confirm: Callable[[], str] | None = None, session: Any = None
) -> Any:
    """A boto3 MTurk client for the requester sandbox, or for the live marketplace.

    Live needs ``live=True`` and ``confirm``, a callable asking the user, that returns exactly
    ``"LIVE"``; anything else is refused before a client exists. ``session`` is a
    ``boto3.session.Session`` (credentials, profile); by default the usual AWS environment.
    """
    if boto3 is None:
        raise ConfigError("boto3 is not installed", fix="pip install 'heldout[mturk]' (or boto3)")
    if live:
        typed = confirm() if confirm is not None else None
        if typed != LIVE_CONFIRMATION:
            raise ConfigError(
                "refusing the live MTurk marketplace: it spends real money and needs the typed confirmation LIVE",
                where=LIVE_ENDPOINT,
                fix="type LIVE when asked (in Python: pass confirm=lambda: 'LIVE'), or leave live off for the sandbox",
            )
    endpoint = LIVE_ENDPOINT if live else SANDBOX_ENDPOINT
    try:
        return (session or boto3.session.Session()).client("mturk", region_name=REGION, endpoint_url=endpoint)
    except _BOTO_ERRORS as exc:
        raise ConfigError(f"cannot make an MTurk client: {exc}", where=endpoint) from exc


def client_environment(client: Any) -> str:
    """``"sandbox"`` or ``"live"``, from the client's endpoint."""
    return "sandbox" if "sandbox" in client.meta.endpoint_url else "live"


def external_question(base_url: str, task_uuid: str, *, frame_height_px: int = 0) -> str:
    """The ExternalQuestion XML showing the app's page for one task."""
    url = f"{_check_base_url(base_url)}/work/mturk?{urlencode({'task': task_uuid})}"
    return (
        f'<ExternalQuestion xmlns="{_EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        f"<FrameHeight>{int(frame_height_px)}</FrameHeight>"
        "</ExternalQuestion>"
    )


def create_hits(
    project: Project,
    client: Any,
    *,
    base_url: str,
    task_ids: Sequence[int] | None = None,
    reward: str = "0.10",
    settings: HitSettings | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> list[CreatedHit]:
    """Create one HIT type, then one HIT per open grid or verify task that has none yet.

    ``task_ids`` (catalog ``task_id``s) limits it to those tasks, which must exist and be open;
    ``reward`` is in USD per assignment. Each HIT's ids are written to its task's payload in a
    transaction of its own right after MTurk made it, so an interrupted run loses nothing and a
    rerun creates only the missing HITs. With nothing to create, MTurk is not called at all.
    """
    reward = _check_reward(reward)
    _check_base_url(base_url)
    settings = settings or HitSettings()
    environment = client_environment(client)
    with project.transaction() as session:
        tasks = _tasks_without_hit(session, task_ids, environment)
    if not tasks:
        return []
    hit_type_id = _call(
        client,
        "create_hit_type",
        AutoApprovalDelayInSeconds=settings.auto_approval_delay_s,
        AssignmentDurationInSeconds=settings.assignment_duration_s,
        Reward=reward,
        Title=settings.title,
        Keywords=settings.keywords,
        Description=settings.description,
    )["HITTypeId"]
    created = []
    for done, (task_id, task_uuid, max_assignments) in enumerate(tasks, start=1):
        hit = _call(
            client,
            "create_hit_with_hit_type",
            HITTypeId=hit_type_id,
            MaxAssignments=max_assignments,
            LifetimeInSeconds=settings.lifetime_s,
            Question=external_question(base_url, task_uuid, frame_height_px=settings.frame_height_px),
            RequesterAnnotation=task_uuid,
            UniqueRequestToken=task_uuid,
        )["HIT"]
        with project.transaction() as session:
            task = session.get(Task, task_id)
            task.payload = {
                **task.payload,
                "hit_id": hit["HITId"],
                "hit_type_id": hit_type_id,
                "mturk_environment": environment,
            }
        created.append(
            CreatedHit(task_id, task_uuid, hit["HITId"], hit_type_id, hit.get("HITGroupId"), environment)
        )
        logger.info("created %s HIT %s for task %s", environment, hit["HITId"], task_uuid)
        if progress:
            progress(done, len(tasks))
    return created


def sync_assignments(
    project: Project, client: Any, *, progress: Callable[[int, int | None], None] | None = None
) -> SyncReport:
    """Read every submitted, approved or rejected assignment of this marketplace's HITs into the catalog.

    New assignments arrive with their worker (hashed id only) and one answer per task question;
    known ones (by MTurk's AssignmentId, or by task and worker when the app recorded them first)
    get MTurk's status, and get answers only if they have none, so a re-sync adds nothing. One
    transaction per HIT, after that HIT's pages are read.
    """
    environment = client_environment(client)
    secret = project_secret(project.root)
    with project.transaction() as session:
        hits = _tasks_with_hit(session, environment)
    totals = {"assignments": 0, "added": 0, "updated": 0, "answers": 0, "workers": 0}
    malformed: list[str] = []
    for done, hit in enumerate(hits, start=1):
        records = list(_list_assignments(client, hit.hit_id))
        with project.transaction() as session:
            _store_assignments(session, hit, records, secret, totals, malformed)
        if progress:
            progress(done, len(hits))
    for line in malformed:
        logger.warning("assignment not stored: %s", line)
    return SyncReport(hits=len(hits), malformed=tuple(malformed), **totals)


def approve(
    project: Project,
    client: Any,
    assignment_ids: Sequence[str],
    *,
    feedback: str | None = None,
    override_rejection: bool = False,
) -> ReviewReport:
    """Approve assignments (pays the workers), by MTurk AssignmentId; the catalog follows each call.

    Assignments the catalog already has as approved are skipped. ``override_rejection`` approves
    a rejected one (MTurk refuses otherwise).
    """
    ids = _check_assignment_ids(assignment_ids)
    if feedback:
        _check_feedback_length(feedback)
    extra: dict[str, Any] = {"RequesterFeedback": feedback} if feedback else {}
    if override_rejection:
        extra["OverrideRejection"] = True
    return _review(project, client, ids, "approve_assignment", "approved", extra)


def reject(project: Project, client: Any, assignment_ids: Sequence[str], *, feedback: str) -> ReviewReport:
    """Reject assignments (the workers are not paid), telling them why; by MTurk AssignmentId.

    ``feedback`` is required (MTurk shows it to the worker) and checked before any call.
    Assignments the catalog already has as rejected are skipped.
    """
    ids = _check_assignment_ids(assignment_ids)
    _check_feedback(feedback)
    return _review(project, client, ids, "reject_assignment", "rejected", {"RequesterFeedback": feedback})


def progress(project: Project, client: Any) -> list[HitProgress]:
    """Per HIT of this marketplace: its status and available, pending and completed assignments."""
    with project.transaction() as session:
        hits = _tasks_with_hit(session, client_environment(client))
    rows = []
    for hit in hits:
        remote = _call(client, "get_hit", HITId=hit.hit_id)["HIT"]
        rows.append(
            HitProgress(
                task_uuid=hit.task_uuid,
                hit_id=hit.hit_id,
                status=remote.get("HITStatus", "unknown"),
                max_assignments=int(remote.get("MaxAssignments", 0)),
                available=int(remote.get("NumberOfAssignmentsAvailable", 0)),
                pending=int(remote.get("NumberOfAssignmentsPending", 0)),
                completed=int(remote.get("NumberOfAssignmentsCompleted", 0)),
            )
        )
    return rows


def _call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """One MTurk call; botocore's errors become heldout errors naming the operation."""
    try:
        return getattr(client, operation)(**params)
    except _CREDENTIAL_ERRORS as exc:
        raise ConfigError(
            f"no AWS credentials for MTurk ({operation})",
            fix="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, for the requester account",
        ) from exc
    except _BOTO_ERRORS as exc:
        error = getattr(exc, "response", {}).get("Error", {})
        if error:
            what = f"MTurk refused {operation}: {error.get('Code', 'error')}: {error.get('Message', '')}"
        else:
            what = f"MTurk call {operation} failed: {exc}"
        fix = (
            "MTurk had an internal fault; try again later"
            if error.get("Code") == "ServiceFault"
            else "check the message; for a new account, link it to AWS and fund it (sandbox too)"
        )
        raise CrowdError(what, where=client.meta.endpoint_url, fix=fix) from exc


def _check_reward(reward: str) -> str:
    try:
        value = Decimal(str(reward))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value <= 0 or value.as_tuple().exponent < -2:
        raise ConfigError(
            f"reward {reward!r} is not a positive amount in USD with at most 2 decimals",
            where="reward",
            fix='e.g. "0.10"',
        )
    return f"{value:.2f}"


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"MTurk shows only HTTPS pages: {base_url!r} is not an https://host[/path] URL",
            where="base_url",
            fix="serve the app behind HTTPS (a reverse proxy or tunnel) and pass its public URL",
        )
    return base_url.rstrip("/")


def _check_assignment_ids(assignment_ids: Sequence[str]) -> list[str]:
    if isinstance(assignment_ids, str):
        assignment_ids = [assignment_ids]
    ids = list(dict.fromkeys(a.strip() for a in assignment_ids))
    if not ids or not all(ids):
        raise ConfigError("no assignment ids given", fix="pass MTurk AssignmentIds (see the admin page)")
    return ids


def _check_feedback(feedback: str | None) -> None:
    if not feedback or not feedback.strip():
        raise ConfigError(
            "a rejection needs feedback: MTurk shows the worker why",
            where="feedback",
            fix='say what was wrong, e.g. "most control images were answered wrongly"',
        )
    _check_feedback_length(feedback)


def _check_feedback_length(feedback: str) -> None:
    if len(feedback) > _MAX_FEEDBACK_CHARS:
        raise ConfigError(
            f"feedback is {len(feedback)} characters; MTurk takes at most {_MAX_FEEDBACK_CHARS}",
            where="feedback",
        )


def _has_hit(payload: Mapping[str, Any], environment: str) -> bool:
    """A task keeps its HIT, unless that is a sandbox HIT and we are going live."""
    if not payload.get("hit_id"):
        return False
    return payload.get("mturk_environment") != "sandbox" or environment == "sandbox"


def _tasks_without_hit(session, task_ids: Sequence[int] | None, environment: str) -> list[tuple]:
    query = select(Task).order_by(Task.task_id)
    if task_ids is None:
        tasks = session.scalars(query.where(Task.status == "open", Task.kind.in_(WORKABLE_KINDS))).all()
    else:
        wanted = set(task_ids)
        tasks = session.scalars(query.where(Task.task_id.in_(wanted))).all() if wanted else []
        missing = wanted - {t.task_id for t in tasks}
        if missing:
            raise ConfigError(f"no task with id {sorted(missing)}", where="task_ids")
        closed = [t.task_id for t in tasks if t.status != "open" or t.kind not in WORKABLE_KINDS]
        if closed:
            raise ConfigError(
                f"tasks {closed} are not open grid or verify tasks",
                where="task_ids",
                fix="put only open tasks on MTurk",
            )
    return [(t.task_id, t.uuid, t.max_assignments) for t in tasks if not _has_hit(t.payload, environment)]


def _tasks_with_hit(session, environment: str) -> list[_Hit]:
    rows = session.execute(
        select(Task.task_id, Task.uuid, Task.payload)
        .where(Task.kind.in_(WORKABLE_KINDS))
        .order_by(Task.task_id)
    ).all()
    return [
        _Hit(task_id, task_uuid, payload["hit_id"])
        for task_id, task_uuid, payload in rows
        if payload.get("hit_id") and payload.get("mturk_environment") == environment
    ]


def _list_assignments(client: Any, hit_id: str) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {
        "HITId": hit_id,
        "MaxResults": _PAGE_SIZE,
        "AssignmentStatuses": list(_STATUSES),
    }
    while True:
        page = _call(client, "list_assignments_for_hit", **params)
        assignments = page.get("Assignments", [])
        yield from assignments
        if not page.get("NextToken") or not assignments:
            return
        params["NextToken"] = page["NextToken"]


def _store_assignments(
    session,
    hit: _Hit,
    records: list[dict[str, Any]],
    secret: str,
    totals: dict[str, int],
    malformed: list[str],
) -> None:
    question_at = dict(
        session.execute(
            select(TaskQuestion.position, TaskQuestion.question_id).where(TaskQuestion.task_id == hit.task_id)
        ).all()
    )
    known = session.scalars(select(Assignment).where(Assignment.task_id == hit.task_id)).all()
    by_external = {a.external_id: a for a in known if a.external_id}
    by_worker = {a.worker_id: a for a in known}
    hashes = {r["WorkerId"]: hash_worker_id(r["WorkerId"], secret) for r in records}
    worker_of = dict(
        session.execute(
            select(Worker.external_id, Worker.worker_id).where(Worker.external_id.in_(set(hashes.values())))
        ).all()
    )
    now = utcnow()
    for record in records:
        totals["assignments"] += 1
        external_id, status = record["AssignmentId"], _STATUSES[record["AssignmentStatus"]]
        worker_id = worker_of.get(hashes[record["WorkerId"]])
        assignment = by_external.get(external_id) or by_worker.get(worker_id)
        has_answers = assignment is not None and bool(
            session.scalar(
                select(func.count())
                .select_from(Answer)
                .where(Answer.assignment_id == assignment.assignment_id)
            )
        )
        values: dict[int, int] = {}
        if not has_answers:
            try:
                values = _parse_answer(record.get("Answer", ""), question_at)
            except _MalformedAnswer as exc:
                malformed.append(f"{external_id}: {exc}")
                continue
        if worker_id is None:
            worker = Worker(external_id=hashes[record["WorkerId"]], kind="crowd", created_at=now)
            session.add(worker)
            session.flush()
            worker_id = worker_of[worker.external_id] = worker.worker_id
            totals["workers"] += 1
        submitted_at = _naive_utc(record.get("SubmitTime"))
        if assignment is None:
            assignment = Assignment(
                task_id=hit.task_id,
                worker_id=worker_id,
                external_id=external_id,
                status=status,
                started_at=_naive_utc(record.get("AcceptTime")),
                submitted_at=submitted_at,
            )
            session.add(assignment)
            session.flush()
            by_external[external_id] = by_worker[worker_id] = assignment
            totals["added"] += 1
        elif (assignment.status, assignment.external_id) != (status, external_id):
            assignment.status, assignment.external_id = status, external_id
            assignment.submitted_at = assignment.submitted_at or submitted_at
            totals["updated"] += 1
        if not has_answers:
            rows = [
                {
                    "assignment_id": assignment.assignment_id,
                    "question_id": question_at[position],
                    "worker_id": worker_id,
                    "value": value,
                    "answered_at": submitted_at,
                }
                for position, value in sorted(values.items())
            ]
            if rows:
                session.execute(insert(Answer), rows)
            totals["answers"] += len(rows)


def _parse_answer(answer_xml: str, question_at: Mapping[int, int]) -> dict[int, int]:
    """Task position -> value from MTurk's QuestionFormAnswers XML (positions left out are no)."""
    if not answer_xml:
        raise _MalformedAnswer("no answer")
    if len(answer_xml) > _MAX_ANSWER_CHARS:
        raise _MalformedAnswer(f"answer longer than {_MAX_ANSWER_CHARS} characters")
    try:
        root = ET.fromstring(answer_xml)
    except ET.ParseError as exc:
        raise _MalformedAnswer(f"answer is not XML ({exc})") from None
    fields = {}
    for element in root.iter():
        if _local(element.tag) == "Answer":
            children = {_local(child.tag): child.text or "" for child in element}
            fields[children.get("QuestionIdentifier", "")] = children.get("FreeText")
    text = fields.get(ANSWER_FIELD)
    if text is None:
        raise _MalformedAnswer(f"no FreeText field {ANSWER_FIELD!r} (fields: {sorted(fields)})")
    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _MalformedAnswer(f"{ANSWER_FIELD!r} is not JSON ({exc})") from None
    if not isinstance(given, dict):
        raise _MalformedAnswer(f"{ANSWER_FIELD!r} is not a JSON object of position: value")
    values = dict.fromkeys(question_at, 0)
    for key, value in given.items():
        if not key.isdigit() or int(key) not in values:
            raise _MalformedAnswer(f"position {key!r} is not in the task")
        if isinstance(value, bool) or value not in _ANSWER_VALUES:
            raise _MalformedAnswer(f"value {value!r} at position {key} is not 0, 1 or 2")
        values[int(key)] = value
    return values


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _review(
    project: Project, client: Any, ids: list[str], operation: str, status: str, extra: dict[str, Any]
) -> ReviewReport:
    with project.transaction() as session:
        settled = set(
            session.scalars(
                select(Assignment.external_id).where(
                    Assignment.external_id.in_(ids), Assignment.status == status
                )
            ).all()
        )
    done = []
    for external_id in ids:
        if external_id in settled:
            continue
        _call(client, operation, AssignmentId=external_id, **extra)
        with project.transaction() as session:
            session.execute(
                update(Assignment).where(Assignment.external_id == external_id).values(status=status)
            )
        done.append(external_id)
    return ReviewReport(done=tuple(done), skipped=tuple(i for i in ids if i in settled))
