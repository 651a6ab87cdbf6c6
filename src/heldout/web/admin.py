"""Admin pages (``/admin``): progress, a task inspector, workers' control accuracy, approve and
reject, the cost and fairness ledger, invite links. They need the admin key (``heldout serve``
prints the link): ``/admin/login?key=...`` sets an HttpOnly, SameSite=Strict cookie, so forms on
other sites cannot post here; scripts may send ``Authorization: Bearer <key>``.

    GET  /admin                          progress (GET /admin/progress.json for scripts)
    GET  /admin/tasks/{task_id}          one task's images with each worker's answers
    GET  /admin/tasks/{task_id}/images/{position}
    POST /admin/assignments/{id}/approve | /reject
    GET  /admin/workers                  control accuracy per worker; pause / resume
    POST /admin/workers/{worker_id}/status
    GET  /admin/ledger                   cost and fairness
    POST /admin/invites                  a signed invite link for a lab's own crowd
"""

from __future__ import annotations

import hmac
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from heldout.crowd.assignments import review_assignment
from heldout.crowd.progress import cost_ledger, crowd_progress, inspect_task, task_image, worker_accuracy
from heldout.crowd.workers import check_field, check_text, set_worker_status
from heldout.errors import UnknownTaskError
from heldout.project import utcnow
from heldout.web.deps import ADMIN_COOKIE, AdminDep, NotAdminError, StateDep
from heldout.web.images import IMAGE_HEADERS

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"])

_Reason = Annotated[str, Form(max_length=500)]


@router.get("/login")
def login(request: Request, state: StateDep, key: Annotated[str, Query(max_length=200)] = "") -> Response:
    if not key:
        return state.templates.TemplateResponse(request, "admin_login.html", {})
    if not hmac.compare_digest(key.encode(), state.admin_key.encode()):
        raise NotAdminError("wrong admin key", fix="open the admin link `heldout serve` printed")
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(ADMIN_COOKIE, key, httponly=True, samesite="strict", max_age=12 * 3600)
    return response


@router.get("")
def progress_page(request: Request, state: AdminDep) -> Response:
    progress = crowd_progress(state.project)
    return state.templates.TemplateResponse(request, "admin_index.html", {"p": progress})


@router.get("/progress.json")
def progress_json(state: AdminDep) -> JSONResponse:
    return JSONResponse(asdict(crowd_progress(state.project)))


@router.get("/tasks")
def find_task(state: AdminDep, task_id: Annotated[int, Query(ge=1)]) -> Response:
    return RedirectResponse(f"/admin/tasks/{task_id}", status_code=303)


@router.get("/tasks/{task_id}")
def task_page(task_id: int, request: Request, state: AdminDep) -> Response:
    inspection = inspect_task(state.project, task_id)
    names = {}
    for key in set(inspection.class_keys):
        names[key] = " or ".join(state.project.classes[key].names) if key in state.project.classes else key
    return state.templates.TemplateResponse(
        request,
        "admin_task.html",
        {
            "t": inspection,
            "names": names,
            "rows": list(
                zip(
                    inspection.positions,
                    inspection.image_ids,
                    inspection.class_keys,
                    inspection.roles,
                    inspection.answers,
                    inspection.yes_share,
                    strict=True,
                )
            ),
        },
    )


@router.get("/tasks/{task_id}/images/{position}")
def task_image_bytes(task_id: int, position: int, state: AdminDep) -> Response:
    return Response(
        task_image(state.project, task_id, position), media_type="image/jpeg", headers=IMAGE_HEADERS
    )


@router.post("/assignments/{assignment_id}/{decision}")
async def review(
    assignment_id: int, decision: str, state: AdminDep, task_id: Annotated[int | None, Form()] = None
) -> Response:
    if decision not in ("approve", "reject"):
        raise UnknownTaskError("unknown decision", fix="approve or reject")
    await state.writer.run(review_assignment, state.project, assignment_id, approve=decision == "approve")
    return RedirectResponse(f"/admin/tasks/{task_id}" if task_id is not None else "/admin", status_code=303)


@router.get("/workers")
def workers_page(request: Request, state: AdminDep) -> Response:
    return state.templates.TemplateResponse(
        request, "admin_workers.html", {"rows": worker_accuracy(state.project)}
    )


@router.post("/workers/{worker_id}/status")
async def worker_status(
    worker_id: int,
    state: AdminDep,
    status: Annotated[str, Form(max_length=16)],
    reason: _Reason = "",
) -> Response:
    check_text(reason, "reason")
    await state.writer.run(set_worker_status, state.project, worker_id, status, reason=reason)
    return RedirectResponse("/admin/workers", status_code=303)


@router.get("/ledger")
def ledger_page(request: Request, state: AdminDep) -> Response:
    return state.templates.TemplateResponse(request, "admin_ledger.html", {"l": cost_ledger(state.project)})


@router.post("/invites")
def invite(
    request: Request,
    state: AdminDep,
    label: Annotated[str, Form(max_length=64)],
    days: Annotated[int, Form(ge=1, le=365)] = 30,
) -> Response:
    check_field(label, "invite label")
    token = state.signer.invite(label, expires_at=utcnow() + timedelta(days=days))
    link = f"{str(request.base_url).rstrip('/')}/work/invite/{token}"
    return state.templates.TemplateResponse(
        request, "admin_invite.html", {"label": label, "link": link, "days": days}
    )
