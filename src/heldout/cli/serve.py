"""``heldout serve``: the worker web app, image tokens and admin pages under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console
from heldout.crowd.tokens import TokenSigner, project_secret


def serve(
    project: ProjectOption = Path("."),
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="uvicorn worker processes (on 2 cores, 1 is often fastest).", min=1, max=64)
    ] = 1,
) -> None:
    """Serve the worker pages (/work), opaque image URLs (/img) and the admin pages (/admin).

    Workers arrive by an invite link (made on /admin) or from MTurk (/work/mturk?task=...). Set
    HELDOUT_SECRET to the same value for every process serving the project, or keep the project's
    .heldout-secret file; the admin link printed here carries the admin key.

    Example:

        heldout serve -P my-testset --host 0.0.0.0 --port 8000
    """
    import uvicorn  # the web extra; imported here so the CLI starts without it

    opened = open_project(project)
    root = opened.root
    admin_key = os.environ.get("HELDOUT_ADMIN_KEY") or TokenSigner(project_secret(root)).admin_key()
    opened.close()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(
        f"serving {root} on http://{host}:{port}  (admin: http://{shown}:{port}/admin/login?key={admin_key})"
    )
    os.environ["HELDOUT_PROJECT"] = str(root)
    uvicorn.run(
        "heldout.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        proxy_headers=False,
    )
