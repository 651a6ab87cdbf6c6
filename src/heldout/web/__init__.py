"""The web app: workers answer tasks at ``/work``, images come from ``/img/<token>``, the admin
watches and decides at ``/admin``.

>>> from heldout.web import create_app
>>> app = create_app(Project.open("my-testset"))   # doctest: +SKIP

``heldout serve -P my-testset`` runs it under uvicorn.
"""

from heldout.web.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]
