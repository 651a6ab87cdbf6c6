"""The MTurk bridge against botocore's Stubber: every call is checked against the real MTurk API model."""

from __future__ import annotations

import functools
import hashlib
import shutil
import stat
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import boto3
import pytest
import typer
from botocore.stub import Stubber
from sqlalchemy import select
from typer.testing import CliRunner

from heldout.catalog import Answer, Assignment, Image, Question, Task, TaskQuestion, Worker
from heldout.cli import mturk as mturk_cli
from heldout.crowd import mturk
from heldout.crowd.tokens import SECRET_FILE
from heldout.errors import ConfigError, HeldoutError
from heldout.project import Project, utcnow

CLASS, OTHER = "n01440764", "n01443537"  # tench; goldfish (its most similar class here)
BASE_URL = "https://crowd.example.org"
SECRET = "test-secret-0123456789abcdef"
STATUSES = ["Submitted", "Approved", "Rejected"]
ANSWER_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
)
QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
)
UUIDS = ["0b7d3c2e-8a51-4a0e-9a41-2f1e6c1d0a01", "0b7d3c2e-8a51-4a0e-9a41-2f1e6c1d0a02"]
HIT_IDS = ["3SA4EMRVJV2KQ6J9Y8Z1YQWEXAMPL1", "3SA4EMRVJV2KQ6J9Y8Z1YQWEXAMPL2"]
HIT_TYPE_ID = "3AQGTWEXAMPLEHITTYPE0000000001"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIVE_SQLITE_FILES = shutil.ignore_patterns("*-wal", "*-shm")  # the template is checkpointed on close


# --- fixtures ---------------------------------------------------------------------------------


def add_grid_tasks(project: Project) -> None:
    """Two open grid tasks of 42 candidates + 3 positive + 3 negative controls, and one finished
    imported task, over metadata-only images."""
    now = utcnow()
    with project.transaction() as session:
        for t, task_uuid in enumerate(UUIDS):
            images = [(f"cand-{t}-{i:02d}", "candidate", None, CLASS, "candidate") for i in range(42)]
            images += [
                (f"ILSVRC2012_val_{t}000000{i}.JPEG", "reference", "val", CLASS, "positive") for i in range(3)
            ]
            images += [
                (f"ILSVRC2012_val_{t}000001{i}.JPEG", "reference", "val", OTHER, "negative") for i in range(3)
            ]
            task = Task(
                uuid=task_uuid,
                kind="grid",
                class_key=CLASS,
                max_assignments=10,
                payload={"seed": t},
                created_at=now,
            )
            session.add(task)
            session.flush()
            order = list(range(48))
            order = order[t * 7 :] + order[: t * 7]  # a different display order per task
            for position, (image_id, role, split, class_key, question_role) in zip(
                order, images, strict=True
            ):
                session.add(
                    Image(
                        image_id=image_id,
                        role=role,
                        split=split,
                        class_key=class_key,
                        status="metadata",
                        created_at=now,
                        updated_at=now,
                    )
                )
                question = Question(image_id=image_id, class_key=CLASS)
                session.add(question)
                session.flush()
                session.add(
                    TaskQuestion(
                        task_id=task.task_id,
                        position=position,
                        question_id=question.question_id,
                        role=question_role,
                    )
                )
        session.add(
            Task(
                uuid="real:raters:x",
                kind="imported",
                status="done",
                payload={"file": "raters.npz"},
                created_at=now,
            )
        )


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A project of two classes (quick to open) with the tasks; tests get copies, or read it as is."""
    root = tmp_path_factory.mktemp("mturk") / "project"
    root.mkdir()
    (root / "classes.csv").write_text(f"id,name\n{CLASS},tench\n{OTHER},goldfish\n")
    with Project.create(root, classes="classes.csv") as project:
        add_grid_tasks(project)
    with Project.open(root) as project:
        yield project


@pytest.fixture()
def grid_project(template, tmp_path):
    """A private copy of the project with the two open grid tasks."""
    with Project.open(
        shutil.copytree(template.root, tmp_path / "project", ignore=LIVE_SQLITE_FILES)
    ) as project:
        yield project


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("HELDOUT_SECRET", SECRET)
    return SECRET


@functools.cache
def aws_session() -> boto3.session.Session:
    """One boto3 session with dummy credentials (MTurk's API model loads once)."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


@pytest.fixture()
def stub():
    """A real sandbox MTurk client from create_client, stubbed: (client, stubber)."""
    client = mturk.create_client(session=aws_session())
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.fixture()
def live_stub():
    client = mturk.create_client(live=True, confirm=lambda: "LIVE", session=aws_session())
    with Stubber(client) as stubber:
        yield client, stubber


# --- helpers ----------------------------------------------------------------------------------


def answer_xml(**fields: str) -> str:
    """An Answer in MTurk's QuestionFormAnswers format, as externalSubmit produces it."""
    body = "".join(
        f"<Answer><QuestionIdentifier>{name}</QuestionIdentifier>"
        f"<FreeText>{escape(value, {chr(34): '&quot;'})}</FreeText></Answer>"
        for name, value in fields.items()
    )
    return f'<?xml version="1.0" encoding="ASCII"?><QuestionFormAnswers xmlns="{ANSWER_NS}">{body}</QuestionFormAnswers>'


def grid_answer(selected: list[int], **other_fields: str) -> str:
    """What the grid page posts: its ticked positions as yes, plus any other form fields."""
    return answer_xml(answers="{" + ", ".join(f'"{p}": 2' for p in selected) + "}", **other_fields)


def assignment(n: int, hit: int = 0, *, status: str = "Submitted", worker: str | None = None, answer=None):
    record = {
        "AssignmentId": f"3XMVN1BINNIXMTM9TTDO1GKMEC{hit}{n:03d}",
        "WorkerId": worker or f"A2WORKER{n:06d}",
        "HITId": HIT_IDS[hit],
        "AssignmentStatus": status,
        "AcceptTime": T0 + timedelta(minutes=n),
        "SubmitTime": T0 + timedelta(minutes=n, seconds=95),
        "AutoApprovalTime": T0 + timedelta(days=3, minutes=n),
        "Answer": answer if answer is not None else grid_answer([n % 48, (n + 5) % 48]),
    }
    if status == "Approved":
        record["ApprovalTime"] = T0 + timedelta(hours=1)
    return record


def list_params(hit: int, token: str | None = None) -> dict:
    params = {"HITId": HIT_IDS[hit], "MaxResults": 100, "AssignmentStatuses": STATUSES}
    if token:
        params["NextToken"] = token
    return params


def give_hits(project: Project, environment: str = "sandbox") -> None:
    """Record HITs on both grid tasks as create_hits would."""
    with project.transaction() as session:
        for task_uuid, hit_id in zip(UUIDS, HIT_IDS, strict=True):
            task = session.scalar(select(Task).where(Task.uuid == task_uuid))
            task.payload = {
                **task.payload,
                "hit_id": hit_id,
                "hit_type_id": HIT_TYPE_ID,
                "mturk_environment": environment,
            }


def stub_listing(stubber, pages: dict[int, list[list[dict]]]) -> None:
    """Queue list_assignments_for_hit pages for HIT 0 then HIT 1 (a NextToken between pages)."""
    for hit in (0, 1):
        hit_pages = pages.get(hit, [[]])
        for number, page in enumerate(hit_pages):
            response = {"NumResults": len(page), "Assignments": page}
            if number + 1 < len(hit_pages):
                response["NextToken"] = f"token-{hit}-{number + 1}"
            stubber.add_response(
                "list_assignments_for_hit",
                response,
                list_params(hit, f"token-{hit}-{number}" if number else None),
            )


def stored(project: Project, *columns):
    with project.transaction() as session:
        return session.execute(select(*columns)).all()


def answers_by_assignment(project: Project) -> dict[str, dict[int, int]]:
    """AssignmentId -> {task position: value}."""
    with project.transaction() as session:
        rows = session.execute(
            select(Assignment.external_id, TaskQuestion.position, Answer.value)
            .join(Answer, Answer.assignment_id == Assignment.assignment_id)
            .join(
                TaskQuestion,
                (TaskQuestion.question_id == Answer.question_id)
                & (TaskQuestion.task_id == Assignment.task_id),
            )
        ).all()
    out: dict[str, dict[int, int]] = {}
    for external_id, position, value in rows:
        out.setdefault(external_id, {})[position] = value
    return out


# --- the client -------------------------------------------------------------------------------


def test_client_uses_the_sandbox_by_default():
    client = mturk.create_client(session=aws_session())
    assert client.meta.endpoint_url == mturk.SANDBOX_ENDPOINT
    assert mturk.client_environment(client) == "sandbox"


def test_live_client_is_refused_without_a_confirmation():
    with pytest.raises(ConfigError, match="LIVE"):
        mturk.create_client(live=True, session=aws_session())


@pytest.mark.parametrize("typed", ["", "live", "yes", "LIVE ", "Live"])
def test_live_client_is_refused_unless_LIVE_is_typed(typed):
    with pytest.raises(ConfigError, match="refusing the live MTurk marketplace"):
        mturk.create_client(live=True, confirm=lambda: typed, session=aws_session())


def test_typing_LIVE_gives_a_live_client():
    client = mturk.create_client(live=True, confirm=lambda: "LIVE", session=aws_session())
    assert client.meta.endpoint_url == mturk.LIVE_ENDPOINT
    assert mturk.client_environment(client) == "live"


# --- creating HITs ----------------------------------------------------------------------------


def expected_hit_type(reward: str = "0.10") -> dict:
    return {
        "AutoApprovalDelayInSeconds": 259_200,
        "AssignmentDurationInSeconds": 600,
        "Reward": reward,
        "Title": "Label new images for machine learning dataset",
        "Keywords": "image, label, machine learning, artificial intelligence",
        "Description": "Select images containing objects of the appropriate type",
    }


def expected_hit(task: int) -> dict:
    return {
        "HITTypeId": HIT_TYPE_ID,
        "MaxAssignments": 10,
        "LifetimeInSeconds": 604_800,
        "Question": (
            f'<ExternalQuestion xmlns="{QUESTION_NS}">'
            f"<ExternalURL>{BASE_URL}/work/mturk?task={UUIDS[task]}</ExternalURL>"
            "<FrameHeight>0</FrameHeight></ExternalQuestion>"
        ),
        "RequesterAnnotation": UUIDS[task],
        "UniqueRequestToken": UUIDS[task],
    }


def stub_creation(stubber, reward: str = "0.10") -> None:
    stubber.add_response("create_hit_type", {"HITTypeId": HIT_TYPE_ID}, expected_hit_type(reward))
    for task in (0, 1):
        stubber.add_response(
            "create_hit_with_hit_type",
            {"HIT": {"HITId": HIT_IDS[task], "HITTypeId": HIT_TYPE_ID, "HITGroupId": "3GROUPEXAMPLE"}},
            expected_hit(task),
        )


def test_create_hits_sends_one_hit_type_then_one_external_question_hit_per_open_task(grid_project, stub):
    client, stubber = stub
    stub_creation(stubber)
    created = mturk.create_hits(grid_project, client, base_url=BASE_URL + "/")
    stubber.assert_no_pending_responses()
    assert [(h.task_uuid, h.hit_id, h.hit_type_id) for h in created] == [
        (UUIDS[0], HIT_IDS[0], HIT_TYPE_ID),
        (UUIDS[1], HIT_IDS[1], HIT_TYPE_ID),
    ]
    assert created[0].preview_url == "https://workersandbox.mturk.com/projects/3GROUPEXAMPLE/tasks"


def test_create_hits_records_the_hit_in_the_task_payload(grid_project, stub):
    client, stubber = stub
    stub_creation(stubber)
    mturk.create_hits(grid_project, client, base_url=BASE_URL)
    payloads = dict(stored(grid_project, Task.uuid, Task.payload))
    assert payloads[UUIDS[0]] == {
        "seed": 0,
        "hit_id": HIT_IDS[0],
        "hit_type_id": HIT_TYPE_ID,
        "mturk_environment": "sandbox",
    }
    assert payloads[UUIDS[1]]["hit_id"] == HIT_IDS[1]
    assert "hit_id" not in payloads["real:raters:x"]


def test_create_hits_again_calls_mturk_not_at_all(grid_project, stub):
    client, stubber = stub
    stub_creation(stubber)
    mturk.create_hits(grid_project, client, base_url=BASE_URL)
    assert mturk.create_hits(grid_project, client, base_url=BASE_URL) == []  # the Stubber has nothing left
    stubber.assert_no_pending_responses()


def test_create_hits_for_chosen_tasks_only(grid_project, stub):
    client, stubber = stub
    stubber.add_response("create_hit_type", {"HITTypeId": HIT_TYPE_ID}, expected_hit_type("0.25"))
    stubber.add_response("create_hit_with_hit_type", {"HIT": {"HITId": HIT_IDS[1]}}, expected_hit(1))
    task_id = {u: t for t, u in stored(grid_project, Task.task_id, Task.uuid)}[UUIDS[1]]
    created = mturk.create_hits(grid_project, client, base_url=BASE_URL, task_ids=[task_id], reward="0.25")
    assert [h.task_uuid for h in created] == [UUIDS[1]]


def test_create_hits_refuses_a_task_that_is_not_open(template, stub):
    client, _ = stub
    (imported,) = [t for t, kind in stored(template, Task.task_id, Task.kind) if kind == "imported"]
    with pytest.raises(ConfigError, match="not open grid or verify"):
        mturk.create_hits(template, client, base_url=BASE_URL, task_ids=[imported])


def test_live_hits_replace_sandbox_hits(grid_project, live_stub):
    give_hits(grid_project, "sandbox")
    client, stubber = live_stub
    stub_creation(stubber)
    mturk.create_hits(grid_project, client, base_url=BASE_URL)
    payload = dict(stored(grid_project, Task.uuid, Task.payload))[UUIDS[0]]
    assert payload["mturk_environment"] == "live"


def test_sandbox_hits_are_not_made_for_tasks_already_live(grid_project, stub):
    give_hits(grid_project, "live")
    client, _ = stub
    assert mturk.create_hits(grid_project, client, base_url=BASE_URL) == []


@pytest.mark.parametrize("reward", ["0", "0.105", "ten cents"])
def test_create_hits_refuses_a_bad_reward_before_any_call(template, stub, reward):
    client, _ = stub
    with pytest.raises(ConfigError, match="reward"):
        mturk.create_hits(template, client, base_url=BASE_URL, reward=reward)


@pytest.mark.parametrize("url", ["http://crowd.example.org", "crowd.example.org", "https://x.org/?a=1"])
def test_create_hits_refuses_a_base_url_mturk_would_not_show(template, stub, url):
    client, _ = stub
    with pytest.raises(ConfigError, match="HTTPS"):
        mturk.create_hits(template, client, base_url=url)


def test_external_question_quotes_the_task_in_the_url():
    xml = mturk.external_question("https://x.org/app", "a&b")
    assert "<ExternalURL>https://x.org/app/work/mturk?task=a%26b</ExternalURL>" in xml


# --- syncing assignments ----------------------------------------------------------------------


def test_sync_stores_48_answers_per_assignment_selected_yes_others_no(grid_project, stub):
    give_hits(grid_project)
    client, stubber = stub
    stub_listing(
        stubber,
        {0: [[assignment(1, answer=grid_answer([0, 7, 47], comment="fun"))]], 1: [[assignment(2, 1)]]},
    )
    report = mturk.sync_assignments(grid_project, client)
    answers = answers_by_assignment(grid_project)
    first = answers[assignment(1)["AssignmentId"]]
    assert len(first) == 48 and len(answers[assignment(2, 1)["AssignmentId"]]) == 48
    assert {p for p, v in first.items() if v == 2} == {0, 7, 47}
    assert {v for p, v in first.items() if p not in (0, 7, 47)} == {0}
    assert (report.hits, report.assignments, report.added, report.answers) == (2, 2, 2, 96)


def test_sync_stores_only_hashed_worker_ids(grid_project, stub):
    give_hits(grid_project)
    client, stubber = stub
    stub_listing(stubber, {0: [[assignment(1, worker="A3RAWWORKERID")]]})
    mturk.sync_assignments(grid_project, client)
    (external_id,) = [row[0] for row in stored(grid_project, Worker.external_id)]
    assert external_id == hashlib.sha256(b"A3RAWWORKERID" + SECRET.encode()).hexdigest()
    with grid_project.transaction() as session:
        dump = "\n".join(
            str(tuple(row))
            for model in (Worker, Assignment, Answer, Task)
            for row in session.execute(select(*model.__table__.columns))
        )
    assert "A3RAWWORKERID" not in dump


def test_sync_stores_status_and_times_in_utc(grid_project, stub):
    give_hits(grid_project)
    client, stubber = stub
    stub_listing(
        stubber, {0: [[assignment(1), assignment(2, status="Approved"), assignment(3, status="Rejected")]]}
    )
    mturk.sync_assignments(grid_project, client)
    rows = stored(grid_project, Assignment.status, Assignment.submitted_at)
    assert sorted(tuple(row) for row in rows) == [
        ("approved", datetime(2026, 11, 23, 12, 3, 35)),
        ("rejected", datetime(2026, 11, 23, 12, 4, 35)),
        ("submitted", datetime(2026, 11, 23, 12, 2, 35)),
    ]


def test_resync_adds_nothing(grid_project, stub):
    give_hits(grid_project)
    client, stubber = stub
    page = {0: [[assignment(1), assignment(2)]], 1: [[assignment(3, 1)]]}
    stub_listing(stubber, page)
    stub_listing(stubber, page)
    mturk.sync_assignments(grid_project, client)
    before = len(stored(grid_project, Answer.answer_id))
    report = mturk.sync_assignments(grid_project, client)
    assert (report.assignments, report.added, report.updated, report.answers, report.workers) == (
        3,
        0,
        0,
        0,
        0,
    )
    assert len(stored(grid_project, Answer.answer_id)) == before == 3 * 48


def test_resync_updates_a_changed_status(grid_project, stub):
    give_hits(grid_project)
    client, stubber = stub
    stub_listing(stubber, {0: [[assignment(1)]]})
    stub_listing(stubber, {0: [[assignment(1, status="Approved")]]})
    mturk.sync_assignments(grid_project, client)
    report = mturk.sync_assignments(grid_project, client)
    assert report.updated == 1 and report.answers == 0
    assert stored(grid_project, Assignment.status) == [("approved",)]


def test_sync_follows_next_token(grid_project, stub):
    give_hits(grid_project)
    client, stubber = stub
    pages = [[assignment(n) for n in range(0, 3)], [assignment(n) for n in range(3, 6)], [assignment(6)]]
    stub_listing(stubber, {0: pages})
    report = mturk.sync_assignments(grid_project, client)
    stubber.assert_no_pending_responses()
    assert report.added == 7 and len(stored(grid_project, Assignment.assignment_id)) == 7


@pytest.mark.parametrize(
    "answer",
    [
        answer_xml(selected="img1|img2"),  # ImageNetV2's field, not ours
        answer_xml(answers='{"48": 2}'),  # no such position
        answer_xml(answers='{"3": 5}'),  # no such value
        answer_xml(answers="[3, 4]"),
        "<QuestionFormAnswers><Answer>",
    ],
    ids=["other-field", "unknown-position", "bad-value", "not-an-object", "broken-xml"],
)
def test_sync_reports_a_malformed_answer_and_stores_nothing_of_it(grid_project, stub, answer):
    give_hits(grid_project)
    client, stubber = stub
    stub_listing(stubber, {0: [[assignment(1, answer=answer), assignment(2)]]})
    report = mturk.sync_assignments(grid_project, client)
    assert len(report.malformed) == 1 and report.malformed[0].startswith(assignment(1)["AssignmentId"])
    assert list(answers_by_assignment(grid_project)) == [assignment(2)["AssignmentId"]]
    assert len(stored(grid_project, Worker.worker_id)) == 1


def test_sync_keeps_answers_the_app_already_stored(grid_project, stub):
    give_hits(grid_project)
    now = utcnow()
    with grid_project.transaction() as session:  # the app recorded this worker's submission first
        task = session.scalar(select(Task).where(Task.uuid == UUIDS[0]))
        worker = Worker(external_id=mturk.hash_worker_id("A2WORKER000001", SECRET), created_at=now)
        session.add(worker)
        session.flush()
        mine = Assignment(task_id=task.task_id, worker_id=worker.worker_id, status="submitted")
        session.add(mine)
        session.flush()
        question_id = session.scalar(
            select(TaskQuestion.question_id).where(TaskQuestion.task_id == task.task_id)
        )
        session.add(
            Answer(
                assignment_id=mine.assignment_id, question_id=question_id, worker_id=worker.worker_id, value=2
            )
        )
    client, stubber = stub
    stub_listing(stubber, {0: [[assignment(1, status="Approved")]]})
    report = mturk.sync_assignments(grid_project, client)
    assert (report.added, report.updated, report.answers, report.workers) == (0, 1, 0, 0)
    assert stored(grid_project, Assignment.external_id, Assignment.status) == [
        (assignment(1)["AssignmentId"], "approved")
    ]


def test_sync_only_reads_hits_of_the_clients_marketplace(grid_project, live_stub):
    give_hits(grid_project, "sandbox")
    client, _ = live_stub
    assert mturk.sync_assignments(grid_project, client).hits == 0


def test_hits_and_answers_land_on_sqlite_and_postgresql(project):
    add_grid_tasks(project)
    client = mturk.create_client(session=aws_session())
    with Stubber(client) as stubber:
        stub_creation(stubber)
        stub_listing(stubber, {0: [[assignment(1), assignment(2)]], 1: [[assignment(1, 1)]]})
        mturk.create_hits(project, client, base_url=BASE_URL)
        report = mturk.sync_assignments(project, client)
    payloads = dict(stored(project, Task.uuid, Task.payload))
    assert [payloads[u]["hit_id"] for u in UUIDS] == HIT_IDS
    assert (report.added, report.answers, report.workers) == (3, 144, 2)


# --- the worker secret ------------------------------------------------------------------------


def test_without_HELDOUT_SECRET_a_private_project_secret_is_made_once(grid_project, monkeypatch):
    monkeypatch.delenv("HELDOUT_SECRET")
    first = mturk.project_secret(grid_project.root)
    path = grid_project.root / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 64
    assert mturk.project_secret(grid_project.root) == first


def test_a_short_HELDOUT_SECRET_is_refused(grid_project, monkeypatch):
    monkeypatch.setenv("HELDOUT_SECRET", "short")
    with pytest.raises(ConfigError, match="too short"):
        mturk.project_secret(grid_project.root)


# --- approve, reject, progress ----------------------------------------------------------------


def synced(project: Project, stubber, client, *statuses: str) -> list[str]:
    give_hits(project)
    records = [assignment(n, status=s) for n, s in enumerate(statuses, start=1)]
    stub_listing(stubber, {0: [records]})
    mturk.sync_assignments(project, client)
    return [r["AssignmentId"] for r in records]


def test_approve_calls_mturk_and_updates_the_catalog(grid_project, stub):
    client, stubber = stub
    ids = synced(grid_project, stubber, client, "Submitted", "Submitted")
    for external_id in ids:
        stubber.add_response(
            "approve_assignment", {}, {"AssignmentId": external_id, "RequesterFeedback": "thanks"}
        )
    report = mturk.approve(grid_project, client, ids, feedback="thanks")
    stubber.assert_no_pending_responses()
    assert report.done == tuple(ids)
    assert stored(grid_project, Assignment.status) == [("approved",), ("approved",)]


def test_approve_skips_assignments_already_approved(grid_project, stub):
    client, stubber = stub
    done, todo = synced(grid_project, stubber, client, "Approved", "Submitted")
    stubber.add_response("approve_assignment", {}, {"AssignmentId": todo})
    report = mturk.approve(grid_project, client, [done, todo])
    assert report == mturk.ReviewReport(done=(todo,), skipped=(done,))


def test_approve_can_override_a_rejection(grid_project, stub):
    client, stubber = stub
    (rejected,) = synced(grid_project, stubber, client, "Rejected")
    stubber.add_response("approve_assignment", {}, {"AssignmentId": rejected, "OverrideRejection": True})
    mturk.approve(grid_project, client, [rejected], override_rejection=True)
    assert stored(grid_project, Assignment.status) == [("approved",)]


def test_reject_sends_the_feedback(grid_project, stub):
    client, stubber = stub
    (external_id,) = synced(grid_project, stubber, client, "Submitted")
    feedback = "Most control images were answered wrongly."
    stubber.add_response(
        "reject_assignment", {}, {"AssignmentId": external_id, "RequesterFeedback": feedback}
    )
    mturk.reject(grid_project, client, [external_id], feedback=feedback)
    assert stored(grid_project, Assignment.status) == [("rejected",)]


@pytest.mark.parametrize("feedback", ["", "   ", "x" * 1025])
def test_reject_without_usable_feedback_is_refused_before_any_call(template, stub, feedback):
    client, stubber = stub  # nothing queued: any call would fail with a StubResponseError
    with pytest.raises(ConfigError, match="feedback"):
        mturk.reject(template, client, ["3XMVN1BINNIXMTM9TTDO1GKMEC0001"], feedback=feedback)


def test_progress_reports_counts_per_hit(grid_project, stub):
    give_hits(grid_project)
    client, stubber = stub
    for hit, (available, pending, completed) in enumerate([(7, 1, 2), (10, 0, 0)]):
        stubber.add_response(
            "get_hit",
            {
                "HIT": {
                    "HITId": HIT_IDS[hit],
                    "HITStatus": "Assignable",
                    "MaxAssignments": 10,
                    "NumberOfAssignmentsAvailable": available,
                    "NumberOfAssignmentsPending": pending,
                    "NumberOfAssignmentsCompleted": completed,
                }
            },
            {"HITId": HIT_IDS[hit]},
        )
    rows = mturk.progress(grid_project, client)
    assert rows[0] == mturk.HitProgress(UUIDS[0], HIT_IDS[0], "Assignable", 10, 7, 1, 2)
    assert [r.available for r in rows] == [7, 10]


# --- errors -----------------------------------------------------------------------------------


def test_an_mturk_request_error_becomes_a_heldout_error_naming_the_operation(grid_project, stub):
    client, stubber = stub
    stubber.add_client_error(
        "create_hit_type",
        service_error_code="RequestError",
        service_message="Your account must be linked to an AWS account.",
        http_status_code=400,
    )
    with pytest.raises(
        HeldoutError, match="MTurk refused create_hit_type: RequestError: Your account"
    ) as info:
        mturk.create_hits(grid_project, client, base_url=BASE_URL)
    assert info.value.where == mturk.SANDBOX_ENDPOINT and info.value.fix
    assert dict(stored(grid_project, Task.uuid, Task.payload))[UUIDS[0]] == {"seed": 0}


def test_a_failure_midway_keeps_the_hits_already_made(grid_project, stub):
    client, stubber = stub
    stubber.add_response("create_hit_type", {"HITTypeId": HIT_TYPE_ID}, expected_hit_type())
    stubber.add_response("create_hit_with_hit_type", {"HIT": {"HITId": HIT_IDS[0]}}, expected_hit(0))
    stubber.add_client_error(
        "create_hit_with_hit_type", service_error_code="ServiceFault", http_status_code=500
    )
    with pytest.raises(HeldoutError, match="ServiceFault"):
        mturk.create_hits(grid_project, client, base_url=BASE_URL)
    payloads = dict(stored(grid_project, Task.uuid, Task.payload))
    assert payloads[UUIDS[0]]["hit_id"] == HIT_IDS[0] and "hit_id" not in payloads[UUIDS[1]]


def test_missing_credentials_become_a_config_error(grid_project, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    give_hits(grid_project)
    client = mturk.create_client(session=boto3.session.Session())
    with pytest.raises(ConfigError, match="no AWS credentials"):
        mturk.progress(grid_project, client)


# --- the CLI ----------------------------------------------------------------------------------


def test_every_mturk_command_has_an_example():
    commands = typer.main.get_command(mturk_cli.app).commands
    assert sorted(commands) == ["approve", "create-hits", "progress", "reject", "sync"]
    assert all("Example:" in (c.help or "") for c in commands.values())


def test_cli_live_is_refused_when_something_else_is_typed(template):
    result = CliRunner().invoke(
        mturk_cli.app, ["progress", "--live", "-P", str(template.root)], input="yes\n"
    )
    assert isinstance(result.exception, ConfigError)


def test_cli_create_hits_prints_the_preview(grid_project, stub, monkeypatch):
    client, stubber = stub
    stub_creation(stubber)
    monkeypatch.setattr(mturk, "create_client", lambda **_: client)
    result = CliRunner().invoke(
        mturk_cli.app, ["create-hits", "--base-url", BASE_URL, "-P", str(grid_project.root)]
    )
    assert result.exit_code == 0, result.output
    assert (
        "created 2 sandbox HITs" in result.output
        and "workersandbox.mturk.com/projects/3GROUPEXAMPLE" in result.output
    )
