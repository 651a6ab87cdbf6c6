"""Where a project stands: images per class and status, references per split, the last run of each stage."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from heldout.catalog import Blacklist, Image, Run
from heldout.project import Project

__all__ = ["ProjectStatus", "project_status"]


@dataclass(frozen=True)
class ProjectStatus:
    """``per_class[class_key][status]`` counts candidates; ``references[split][status]`` reference images."""

    per_class: dict[str, dict[str, int]]
    references: dict[str, dict[str, int]]
    blacklisted: int
    runs: list[tuple[str, str, str, dict]]
    """(stage, status, finished or started at, counts) of the last run of each stage."""

    @property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for counts in self.per_class.values():
            for status, n in counts.items():
                out[status] = out.get(status, 0) + n
        return out


def project_status(project: Project) -> ProjectStatus:
    with project.transaction() as session:
        grouped = session.execute(
            select(Image.role, Image.split, Image.class_key, Image.status, func.count()).group_by(
                Image.role, Image.split, Image.class_key, Image.status
            )
        ).all()
        blacklisted = session.scalar(select(func.count()).select_from(Blacklist)) or 0
        last = select(Run.stage, func.max(Run.run_id).label("run_id")).group_by(Run.stage).subquery()
        runs = session.scalars(select(Run).join(last, Run.run_id == last.c.run_id).order_by(Run.stage)).all()
        run_rows = [(r.stage, r.status, str(r.finished_at or r.started_at), dict(r.counts)) for r in runs]
    per_class: dict[str, dict[str, int]] = {}
    references: dict[str, dict[str, int]] = {}
    for role, split, class_key, status, count in grouped:
        target = (
            per_class.setdefault(class_key or "", {})
            if role == "candidate"
            else references.setdefault(split or "", {})
        )
        target[status] = target.get(status, 0) + count
    return ProjectStatus(per_class, references, blacklisted, run_rows)
