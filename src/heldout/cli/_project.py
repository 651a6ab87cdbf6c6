"""The ``--project`` option every project command takes, and opening the project it names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heldout.project import Project

ProjectOption = Annotated[
    Path,
    typer.Option("--project", "-P", help="Project folder (holding heldout.toml).", envvar="HELDOUT_PROJECT"),
]


def open_project(path: Path) -> Project:
    return Project.open(path)
