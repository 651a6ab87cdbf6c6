"""Worker pages: arrive (invite link or MTurk), take a task, answer it, submit.

    GET  /work/invite/{invite}          register an invited worker; consent and instructions
    GET  /work/w/{worker}               the same start page, for a returning worker
    POST /work/w/{worker}/next          issue an assignment → 303 to its page
    GET  /work/mturk?task=&assignmentId=&hitId=&workerId=&turkSubmitTo=
                                        MTurk's ExternalQuestion: preview, or register + issue
    GET  /work/a/{assignment}           the grid or verify page (or "already submitted")
    POST /work/a/{assignment}           submit: form fields (``selected`` positions of a grid,
                                        ``answer-<position>`` = no/maybe/yes of a verify task) or
                                        JSON ``{"selected": [...]}`` / ``{"answers": {pos: 0..2}}``

Every id in a URL is a signed token (:mod:`heldout.crowd.tokens`). Writes go through the app's one
writer and are committed before the response is sent.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from heldout.crowd.assignments import (
    AssignmentView,
    Submission,
    assignment_view,
    issue_assignment,
    submit_many,
    submitted_answers,
    task_summary,
)
from heldout.crowd.tokens import AssignmentRef
from heldout.crowd.workers import check_field, register_worker
from heldout.errors import InvalidAnswersError, InvalidFieldError, TaskNotAssignedError
from heldout.project import utcnow
from heldout.web.deps import AppState, StateDep
from heldout.web.schemas import ANSWER_VALUES, MTURK_SUBMIT_HOSTS, Receipt, SubmitBody, position

__all__ = ["router"]

router = APIRouter(prefix="/work", tags=["work"])

_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
_TaskUuid = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_Field = Annotated[str | None, Query(max_length=200)]


@router.get("/invite/{token}")
async def invite(token: str, request: Request, state: StateDep) -> Response:
    label = state.signer.read_invite(token, now=utcnow())
    worker = await state.writer.run(
        register_worker, state.project, state.secret, platform_id=label, via="invite"
    )
    return _start(request, state, state.signer.worker(worker.worker_id))


@router.get("/w/{token}")
def start(token: str, request: Request, state: StateDep) -> Response:
    state.signer.read_worker(token, now=utcnow())
    return _start(request, state, token)


@router.post("/w/{token}/next")
async def next_task(token: str, state: StateDep) -> Response:
    worker_id = state.signer.read_worker(token, now=utcnow())
    issued = await state.writer.run(issue_assignment, state.project, worker_id)
    page = state.signer.assignment(issued.assignment_id, worker_id, expires_at=issued.expires_at)
    return RedirectResponse(f"/work/a/{page}", status_code=303)


@router.get("/mturk")
async def mturk(
    request: Request,
    state: StateDep,
    task: _TaskUuid,
    assignmentId: _Field = None,  # noqa: N803 - MTurk's parameter names
    hitId: _Field = None,  # noqa: N803
    workerId: _Field = None,  # noqa: N803
    turkSubmitTo: _Field = None,  # noqa: N803
) -> Response:
    if assignmentId is None or assignmentId == _PREVIEW:
        summary = await run_in_threadpool(task_summary, state.project, task)
        context = _class_context(state, summary.class_key) | {
            "kind": summary.kind,
            "crowd": state.project.config.crowd,
        }
        return state.templates.TemplateResponse(request, "preview.html", context)
    for value, name in ((assignmentId, "assignmentId"), (hitId, "hitId"), (workerId, "workerId")):
        check_field(value or "", name)
    submit_to = (turkSubmitTo or "").rstrip("/")
    if submit_to not in MTURK_SUBMIT_HOSTS:
        raise InvalidFieldError("turkSubmitTo is not an MTurk address", fix="open the task from MTurk")
    worker = await state.writer.run(
        register_worker, state.project, state.secret, platform_id=workerId, via="mturk"
    )
    issued = await state.writer.run(
        issue_assignment, state.project, worker.worker_id, task_uuid=task, external_id=assignmentId
    )
    page = state.signer.assignment(
        issued.assignment_id, worker.worker_id, expires_at=issued.expires_at, submit_to=submit_to
    )
    return RedirectResponse(f"/work/a/{page}", status_code=303)


# The task page and its submit are what every worker hits: plain Starlette routes (added below),
# not FastAPI's, which would solve dependencies and validate parameters per request for one path
# parameter; HeldoutErrors still reach the app's handlers.


async def assignment_page(request: Request) -> Response:
    token, state = request.path_params["token"], request.app.state.heldout
    if state.project.engine.dialect.name == "sqlite":
        # a local read of a few rows and a render (about a millisecond): cheaper on the event
        # loop than the hop to a thread and back; PostgreSQL reads wait on the network instead
        return _assignment_page(token, request, state)
    return await run_in_threadpool(_assignment_page, token, request, state)


def _assignment_page(token: str, request: Request, state: AppState) -> Response:
    now = utcnow()
    ref = state.signer.read_assignment(token, now=now)
    view = assignment_view(state.project, ref.assignment_id, now=now)
    if view.worker_id != ref.worker_id:
        raise TaskNotAssignedError("this task was given to someone else")
    if view.status in ("submitted", "approved", "rejected"):
        return _done(request, state, ref, view, already=True)
    if not view.is_open:
        return state.templates.TemplateResponse(
            request,
            "message.html",
            {"title": "Time is up", "message": "The time for this task ran out.", "fix": "Start a new task."},
            status_code=410,
        )
    images = state.signer.images(view.assignment_id, view.positions, expires_at=view.expires_at)
    is_grid = view.kind == "grid" or (view.kind != "verify" and len(set(view.class_keys)) == 1)
    if is_grid:
        return HTMLResponse(_grid_page(state, view, token, images))
    context = _page_context(state, view, f"/work/a/{token}", images)
    labels = [
        (position, _class_context(state, key))
        for position, key in zip(view.positions, view.class_keys, strict=True)
    ]
    context |= {"labels": labels, "image": images[0], "values": ANSWER_VALUES}
    return state.templates.TemplateResponse(request, "verify.html", context)


_SLOT = f"slot-{secrets.token_hex(16)}"
"""Stands for a token while a grid page is rendered once per task (no text of a page has it)."""
_MAX_GRID_PAGES = 5000


def _grid_page(state: AppState, view: AssignmentView, token: str, images: list[str]) -> str:
    """The grid page: rendered once per task with :data:`_SLOT` for the page's own token and each
    image token, kept as the text between them, then filled in per request. (A page differs from
    another of its task only by these tokens, which are base64url: nothing to escape.)"""
    parts = state.grid_pages.get(view.task_id)
    if parts is None:
        slots = [_SLOT] * len(view.positions)
        context = _page_context(state, view, f"/work/a/{_SLOT}", slots)
        context |= _class_context(state, view.class_key or view.class_keys[0])
        parts = state.templates.get_template("grid.html").render(context).split(_SLOT)
        if len(parts) != len(slots) + 2:
            raise RuntimeError("grid.html must show the page's token once and each image token once")
        if len(state.grid_pages) >= _MAX_GRID_PAGES:
            state.grid_pages.clear()
        state.grid_pages[view.task_id] = parts
    pieces = [parts[0]]
    for value, part in zip((token, *images), parts[1:], strict=True):
        pieces += (value, part)
    return "".join(pieces)


def _page_context(state: AppState, view: AssignmentView, action: str, images: list[str]) -> dict:
    tiles = list(zip(view.positions, images, strict=True))
    return {"action": action, "tiles": tiles, "crowd": state.project.config.crowd, "links": view.links}


async def submit(request: Request) -> Response:
    token, state = request.path_params["token"], request.app.state.heldout
    ref = state.signer.read_assignment(token, now=utcnow())
    is_json = request.headers.get("content-type", "").startswith("application/json")
    body = await _read_body(request, is_json)
    submission = Submission(ref.assignment_id, body.positions(), body.selected, ref.worker_id)
    receipt = await state.writer.run_batched(submit_many, state.project, item=submission)
    if is_json or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(Receipt.of(receipt).model_dump(mode="json"))
    view = await run_in_threadpool(assignment_view, state.project, ref.assignment_id)
    return _done(request, state, ref, view, already=receipt.is_repeat)


router.add_route(f"{router.prefix}/a/{{token}}", assignment_page, methods=["GET"], include_in_schema=False)
router.add_route(f"{router.prefix}/a/{{token}}", submit, methods=["POST"], include_in_schema=False)


async def _read_body(request: Request, is_json: bool) -> SubmitBody:
    try:
        if is_json:
            return SubmitBody.model_validate(json.loads(await request.body()))
        form = await request.form()
        if "selected" in form or not any(key.startswith("answer-") for key in form):
            return SubmitBody.model_validate(
                {"selected": [position(str(v)) for v in form.getlist("selected")]}
            )
        answers = {}
        for key, value in form.multi_items():
            if not key.startswith("answer-") or str(value) not in ANSWER_VALUES:
                raise InvalidAnswersError("the answers could not be read", fix="answer no, maybe or yes")
            answers[key.removeprefix("answer-")] = ANSWER_VALUES[str(value)]
        return SubmitBody.model_validate({"answers": answers})
    except (ValueError, ValidationError) as exc:
        raise InvalidAnswersError("the answers could not be read", fix="submit the form again") from exc


def _start(request: Request, state: AppState, worker_token: str) -> Response:
    return state.templates.TemplateResponse(
        request, "start.html", {"crowd": state.project.config.crowd, "next": f"/work/w/{worker_token}/next"}
    )


def _done(
    request: Request,
    state: AppState,
    ref: AssignmentRef,
    view: AssignmentView,
    *,
    already: bool,
    answers: dict[int, int] | None = None,
) -> Response:
    """The thanks page: a "next task" button, or (MTurk) the form handing the assignment back to
    MTurk with ``assignmentId`` and ``answers`` (JSON of the positions answered other than no)."""
    context = {"already": already, "submit_to": None, "assignment_external": None, "next": None}
    if ref.submit_to:
        if answers is None:
            answers = submitted_answers(state.project, view.assignment_id)
        context["submit_to"] = f"{ref.submit_to}/mturk/externalSubmit"
        context["assignment_external"] = view.external_id
        context["answers_json"] = json.dumps({str(p): v for p, v in sorted(answers.items()) if v})
    else:
        context["next"] = f"/work/w/{state.signer.worker(ref.worker_id)}/next"
    return state.templates.TemplateResponse(request, "done.html", context)


def _class_context(state: AppState, class_key: str | None) -> dict:
    if class_key is None or class_key not in state.project.classes:
        return {"names": "", "gloss": ""}
    info = state.project.classes[class_key]
    return {"names": " or ".join(info.names), "gloss": info.description}
