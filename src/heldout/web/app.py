"""``create_app(project)``: the FastAPI app, its error mapping and its guards.

* Every ``HeldoutError`` becomes a 4xx response in one handler (:data:`STATUS`): an HTML page for
  browsers, ``{"error": ..., "fix": ...}`` otherwise. Only crowd errors show their own text (it is
  written for workers); other errors show a generic phrase, since their ``what``/``where`` may
  name image ids or paths.
* Request bodies over ``[crowd] max_body_bytes`` are refused with 413 before they are read whole.
* Every response carries ``Referrer-Policy: no-referrer`` (token URLs never leak to linked pages),
  ``X-Content-Type-Options: nosniff`` and a content security policy allowing our own scripts only
  and framing by MTurk only.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heldout.crowd.tokens import TokenSigner, project_secret
from heldout.errors import (
    AssignmentClosedError,
    ConfigError,
    CrowdError,
    DuplicateAnswerError,
    HeldoutError,
    InvalidAnswersError,
    InvalidFieldError,
    NoTaskAvailableError,
    StoreError,
    TaskNotAssignedError,
    TokenError,
    UnknownTaskError,
    WorkerPausedError,
)
from heldout.project import Project
from heldout.web import admin, images, review, review_duplicates, work
from heldout.web.deps import AppState, NotAdminError
from heldout.web.writer import Writer

__all__ = ["STATUS", "create_app", "create_app_from_env"]

HERE = Path(__file__).resolve().parent

STATUS: dict[type[HeldoutError], int] = {
    NotAdminError: 401,
    TokenError: 403,
    TaskNotAssignedError: 403,
    WorkerPausedError: 403,
    UnknownTaskError: 404,
    NoTaskAvailableError: 404,
    StoreError: 404,
    DuplicateAnswerError: 409,
    AssignmentClosedError: 410,
    InvalidAnswersError: 422,
    InvalidFieldError: 422,
    ConfigError: 400,
}
"""HTTP status per error class; the most specific class in an error's MRO wins; default 400."""

_GENERIC = {
    400: "This request cannot be served.",
    401: "Please sign in.",
    403: "This link is not valid for you.",
    404: "Not found.",
    409: "This was already done differently.",
    410: "This is finished.",
    413: "The request is too large.",
    422: "The request is malformed.",
}

_CSP = (
    "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "form-action 'self' https://www.mturk.com https://workersandbox.mturk.com; "
    "frame-ancestors 'self' https://www.mturk.com https://workersandbox.mturk.com; base-uri 'none'"
)

_SECURITY_HEADERS = [
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", _CSP.encode()),
]


def status_of(error: HeldoutError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def create_app(project: Project, *, secret: str | None = None, close_project: bool = False) -> FastAPI:
    """The app serving ``project``. ``secret`` defaults to :func:`~heldout.crowd.tokens.project_secret`."""
    secret = secret or project_secret(project.root)
    signer = TokenSigner(secret)
    writer = Writer(project)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    state = AppState(
        project=project,
        secret=secret,
        signer=signer,
        writer=writer,
        templates=templates,
        admin_key=os.environ.get("HELDOUT_ADMIN_KEY") or signer.admin_key(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        writer.close()
        if close_project:
            project.close()

    app = FastAPI(title="heldout", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.heldout = state
    app.include_router(work.router)
    app.include_router(images.router)
    app.include_router(admin.router)
    app.include_router(review_duplicates.router)
    app.include_router(review.router)

    @app.get("/static/work.js", include_in_schema=False)
    def script() -> FileResponse:
        return FileResponse(HERE / "static" / "work.js", media_type="text/javascript")

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return _page(state, request, 200, "heldout", "Open the link you were given to start a task.")

    @app.exception_handler(HeldoutError)
    async def heldout_error(request: Request, error: HeldoutError) -> Response:
        status = status_of(error)
        if isinstance(error, CrowdError):
            message, fix = error.what, error.fix
        else:
            message, fix = _GENERIC.get(status, _GENERIC[400]), None
        return _error(state, request, status, message, fix)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        return _error(state, request, 422, _GENERIC[422], None)

    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=project.config.crowd.max_body_bytes)
    return app


def create_app_from_env() -> FastAPI:
    """The app of the project named by ``HELDOUT_PROJECT`` (uvicorn's factory for ``heldout serve``)."""
    root = os.environ.get("HELDOUT_PROJECT")
    if not root:
        raise ConfigError("HELDOUT_PROJECT is not set", fix="run `heldout serve -P DIR`")
    return create_app(Project.open(root), close_project=True)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _error(state: AppState, request: Request, status: int, message: str, fix: str | None) -> Response:
    if _wants_html(request):
        return _page(state, request, status, "Sorry", message, fix)
    return JSONResponse({"error": message, "fix": fix}, status_code=status)


def _page(state: AppState, request: Request, status: int, title: str, message: str, fix: str | None = None):
    return state.templates.TemplateResponse(
        request, "message.html", {"title": title, "message": message, "fix": fix}, status_code=status
    )


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse bodies over ``max_bytes`` (413): by ``Content-Length`` up front, else while reading."""

    def __init__(self, app: ASGIApp, *, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _plain(send, 413 if declared.isdigit() else 400, _GENERIC[413])
            return
        seen, started = 0, False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except _TooLarge:
            if not started:
                await _plain(send, 413, _GENERIC[413])


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"etag", b"last-modified", b"server")
                ]
                headers += _SECURITY_HEADERS
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _plain(send: Send, status: int, text: str) -> None:
    body = f'{{"error": "{text}", "fix": null}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
