"""Crowd work: tasks (grid, verify), imports of published tasks and answers, the MTurk bridge."""

from heldout.crowd.hits_import import HitImport, import_published_hits, reproduce_hit_shape
from heldout.crowd.real_import import RealImport, import_real
from heldout.crowd.tasks import (
    TaskSpec,
    build_control_tasks,
    build_grid_tasks,
    build_verify_tasks,
    create_tasks,
    propose_labels,
)

__all__ = [
    "HitImport",
    "RealImport",
    "TaskSpec",
    "build_control_tasks",
    "build_grid_tasks",
    "build_verify_tasks",
    "create_tasks",
    "import_published_hits",
    "import_real",
    "propose_labels",
    "reproduce_hit_shape",
]
