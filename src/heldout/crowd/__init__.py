"""Crowd work: tasks, assignments and answers, and imports of published answers."""

from heldout.crowd.real_import import RealImport, import_real

__all__ = ["RealImport", "import_real"]
