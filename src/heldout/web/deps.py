"""What handlers receive: the app's state (project, token signer, writer, templates) and the admin
check, as ``Annotated`` dependencies (``StateDep``, ``ProjectDep``, ``AdminDep``)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from heldout.crowd.tokens import TokenSigner
from heldout.errors import CrowdError
from heldout.project import Project
from heldout.web.writer import Writer

__all__ = ["ADMIN_COOKIE", "AdminDep", "AppState", "NotAdminError", "ProjectDep", "StateDep", "is_admin"]

ADMIN_COOKIE = "heldout_admin"


@dataclass
class AppState:
    project: Project
    secret: str
    signer: TokenSigner
    writer: Writer
    templates: Jinja2Templates
    admin_key: str
    grid_pages: dict[int, list[str]] = field(default_factory=dict)
    """Per task, its grid page rendered once, cut where the tokens go (see ``work._grid_page``)."""


class NotAdminError(CrowdError):
    """The admin pages need the admin key."""


# async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop (and a
# GIL hand-off) per request for an attribute read
async def get_state(request: Request) -> AppState:
    return request.app.state.heldout


async def get_project(request: Request) -> Project:
    return request.app.state.heldout.project


StateDep = Annotated[AppState, Depends(get_state)]
ProjectDep = Annotated[Project, Depends(get_project)]


def is_admin(request: Request, state: AppState) -> bool:
    given = request.cookies.get(ADMIN_COOKIE, "")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        given = header[7:].strip()
    return bool(given) and hmac.compare_digest(given.encode(), state.admin_key.encode())


async def require_admin(request: Request) -> AppState:
    state = request.app.state.heldout
    if not is_admin(request, state):
        raise NotAdminError(
            "the admin pages need the admin key", fix="open the admin link `heldout serve` printed"
        )
    return state


AdminDep = Annotated[AppState, Depends(require_admin)]
