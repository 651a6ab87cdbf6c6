"""Crowd tasks: ImageNetV2's grids, control-heavy grids for MatchedFrequency, ReaL's verify tasks.

Every task is a list of questions (image, class) at display positions, each shown in a *role*:
``candidate`` (what we want answered), ``positive`` / ``negative`` (controls: reference images of
the task's class / of its most similar class), or ``golden`` (a question with expert answers).

**Grid tasks** (:func:`build_grid_tasks`) follow ImageNetV2's rules exactly:

1. The eligible candidates of each class, ordered by image id, are cut into chunks of
   ``images_per_task - positive_controls - negative_controls`` (48 - 3 - 3 = 42).
2. When a class has more than one chunk and the last one is short, it is padded with candidates
   drawn without replacement from the class's earlier chunks (they are labelled twice).
3. A class with fewer candidates than one chunk gets extra controls instead:
   ``ceil(deficit / 2)`` more positives and ``floor(deficit / 2)`` more negatives, so every task
   shows exactly ``images_per_task`` images (30 candidates → 30 + 9 + 9).
4. Per chunk, positives are drawn without replacement from the class's reference images of
   ``reference_split``, negatives from those of ``project.classes.most_similar(class, 1)[0]``.
5. The images are shuffled; each shown image is the question (image, task's class).

Eligible candidates: candidate images that are stored (or metadata-only), not blacklisted, not in
``exclude`` (the dedup stage will feed it the candidates that are near duplicates of a reference
image), without ``min_answers`` valid answers for their class already, and not already shown as a
candidate in an open grid task (so running the builder twice schedules nothing twice).

**Control tasks** (:func:`build_control_tasks`): MatchedFrequency takes each class's target
histogram from >= 20 reference images with >= 10 valid answers each. Where a class has fewer
(counting reference images already scheduled as positives in open grid tasks), control-heavy grids
of 16 new positives + 16 candidates + 16 negatives fill the gap (ImageNetV2's special HITs).

**Verify tasks** (:func:`build_verify_tasks`): ReaL's re-rating, one task per image with its
proposed labels (:func:`propose_labels`: the union of several models' top-k and the original label).

**Golden questions** (``Question.is_golden``) can be mixed in: ``golden_per_task`` golden questions
of the task's class join each grid (on top of its 48 images, shuffled among them), and
``golden_tasks`` verify tasks made of one golden image's golden questions join a verify build at
random places. Their role is ``golden``; workers cannot tell them apart.

Randomness is a numpy ``Generator`` seeded from ``seed`` (per class: ``(seed, class index)``, so
one class's tasks do not depend on which other classes are built); the seed is stored in each
task's payload and in the run record, and task uuids are derived from the seed and the task's
contents, so the same seed on the same catalog gives the same tasks.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from heldout.answers import AGGREGATED_TASK_KINDS, VALID_STATUSES
from heldout.catalog import Answer, Assignment, Blacklist, Image, Question, Task, TaskQuestion, Worker
from heldout.catalog.bulk import bulk_insert
from heldout.errors import ConfigError, PredictionsMismatchError
from heldout.project import Project, utcnow

__all__ = [
    "ROLES",
    "GridChunk",
    "TaskSpec",
    "build_control_tasks",
    "build_grid_tasks",
    "build_verify_tasks",
    "create_tasks",
    "plan_grid_chunks",
    "propose_labels",
]

ROLES = ("candidate", "positive", "negative", "golden")
SHOWABLE = ("stored", "metadata")
"""Image statuses a task may show (metadata-only images come from published releases)."""
OPEN = "open"
_NAMESPACE = uuid.UUID("6f1f2f0e-4b8e-5c33-9a51-8f1f3c0d2a77")
_CHUNK = 4000  # bound parameters per IN (...) query (SQLite >= 3.32 allows 32,766)
_ADD_REFERENCE_FIX = (
    "add reference images of the class: `heldout add-reference --split val --dataset imagenet-val`"
)


@dataclass(frozen=True)
class GridChunk:
    """The plan of one grid task: its candidates (the last ``padded`` repeat earlier ones) and
    how many positive and negative controls it shows."""

    candidates: tuple[str, ...]
    padded: int
    positives: int
    negatives: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(images, candidates, positives, negatives), e.g. (48, 42, 3, 3) or (48, 22, 13, 13)."""
        n = len(self.candidates)
        return (n + self.positives + self.negatives, n, self.positives, self.negatives)


@dataclass(frozen=True)
class TaskSpec:
    """A task to create: ``questions`` are (image id, class key, role) in display order."""

    uuid: str
    kind: str
    questions: tuple[tuple[str, str, str], ...]
    class_key: str | None = None
    max_assignments: int = 10
    status: str = OPEN
    payload: dict[str, Any] = field(default_factory=dict)


def plan_grid_chunks(
    candidates: Sequence[str],
    *,
    rng: np.random.Generator,
    images_per_task: int = 48,
    positive_controls: int = 3,
    negative_controls: int = 3,
) -> list[GridChunk]:
    """Cut one class's candidates (in the given order) into ImageNetV2 grid tasks.

    Chunks of ``images_per_task - positive_controls - negative_controls``; a short last chunk of
    several is padded with candidates drawn (without replacement, by ``rng``) from the earlier
    chunks and appended; a lone short chunk gets ``ceil(deficit/2)`` extra positives and
    ``floor(deficit/2)`` extra negatives.
    """
    per_chunk = images_per_task - positive_controls - negative_controls
    if per_chunk <= 0 or positive_controls < 0 or negative_controls < 0:
        raise ConfigError(
            f"a task of {images_per_task} images cannot hold {positive_controls} + {negative_controls} controls and a candidate",
            fix="use images_per_task > positive_controls + negative_controls",
        )
    ids = list(dict.fromkeys(candidates))
    chunks = [ids[start : start + per_chunk] for start in range(0, len(ids), per_chunk)]
    padded = 0
    if len(chunks) > 1 and len(chunks[-1]) < per_chunk:
        earlier = np.array(ids[: per_chunk * (len(chunks) - 1)])
        padded = per_chunk - len(chunks[-1])
        chunks[-1] = chunks[-1] + earlier[rng.choice(len(earlier), size=padded, replace=False)].tolist()
    plans = []
    for number, chunk in enumerate(chunks):
        deficit = per_chunk - len(chunk)
        plans.append(
            GridChunk(
                candidates=tuple(chunk),
                padded=padded if number == len(chunks) - 1 else 0,
                positives=positive_controls + math.ceil(deficit / 2),
                negatives=negative_controls + deficit // 2,
            )
        )
    return plans


def build_grid_tasks(
    project: Project,
    *,
    seed: int,
    classes: Sequence[str] | None = None,
    images_per_task: int = 48,
    positive_controls: int = 3,
    negative_controls: int = 3,
    assignments: int = 10,
    min_answers: int = 10,
    reference_split: str = "val",
    golden_per_task: int = 0,
    exclude: Iterable[str] | None = None,
) -> list[int]:
    """Build ImageNetV2 grid tasks for the eligible candidates of ``classes`` (default: all);
    returns the new task ids (see the module docstring for the rules)."""
    keys = _class_keys(project, classes)
    excluded = set(exclude or ())
    parameters = {
        "classes": None if classes is None else keys,
        "images_per_task": images_per_task,
        "positive_controls": positive_controls,
        "negative_controls": negative_controls,
        "assignments": assignments,
        "min_answers": min_answers,
        "reference_split": reference_split,
        "golden_per_task": golden_per_task,
        "exclude": _digest(excluded),
    }
    with project.run("crowd-grid", parameters, seed=seed) as run, project.transaction() as session:
        pool, skipped = _eligible_candidates(session, keys, min_answers=min_answers, exclude=excluded)
        built = [key for key in keys if pool.get(key)]
        negative_of = {key: _negative_class(project, key) for key in built}
        references = _reference_pools(session, reference_split, {*built, *negative_of.values()})
        golden = _golden_pools(session, built) if golden_per_task else {}
        plans = {}
        for key in built:
            rng = _class_rng(seed, project, key)
            plans[key] = (
                rng,
                plan_grid_chunks(
                    pool[key],
                    rng=rng,
                    images_per_task=images_per_task,
                    positive_controls=positive_controls,
                    negative_controls=negative_controls,
                ),
            )
        _check_controls(plans, references, negative_of, reference_split, golden, golden_per_task)
        specs = []
        for key, (rng, chunks) in plans.items():
            for number, chunk in enumerate(chunks):
                shown = [(c, "candidate") for c in chunk.candidates]
                shown += [(r, "positive") for r in _draw(rng, references[key], chunk.positives)]
                shown += [(r, "negative") for r in _draw(rng, references[negative_of[key]], chunk.negatives)]
                taken = {image for image, _ in shown}
                free = [g for g in golden.get(key, ()) if g not in taken]
                shown += [(g, "golden") for g in _draw(rng, free, golden_per_task)]
                order = rng.permutation(len(shown))
                questions = tuple((shown[i][0], key, shown[i][1]) for i in order)
                payload = {
                    "seed": seed,
                    "variant": "grid",
                    "chunk": number,
                    "chunks": len(chunks),
                    "negative_class": negative_of[key],
                    "reference_split": reference_split,
                    "counts": _role_counts(questions) | {"padded": chunk.padded},
                }
                specs.append(_spec("grid", seed, key, questions, assignments, payload))
        ids = _create_tasks(session, specs)
        run.counts.update(
            tasks=len(ids),
            classes=len(built),
            candidates=sum(len(pool[k]) for k in built),
            **{f"skipped_{reason}": count for reason, count in skipped.items()},
        )
    return ids


def build_control_tasks(
    project: Project,
    *,
    seed: int,
    classes: Sequence[str] | None = None,
    min_references: int = 20,
    min_answers: int = 10,
    controls_per_task: int = 16,
    images_per_task: int = 48,
    assignments: int = 10,
    reference_split: str = "val",
    exclude: Iterable[str] | None = None,
) -> list[int]:
    """Control-heavy grids where a class has fewer than ``min_references`` reference images with
    ``min_answers`` valid answers (or already scheduled as positives in open grid tasks);
    ``classes`` defaults to the classes that have candidates.

    Each task shows ``controls_per_task`` new positives (reference images of the class not yet
    annotated or scheduled), as many random candidates of the class, and negatives of its most
    similar class for the rest (16 + 16 + 16); returns the new task ids.
    """
    keys = _class_keys(project, classes)
    excluded = set(exclude or ())
    parameters = {
        "classes": None if classes is None else keys,
        "min_references": min_references,
        "min_answers": min_answers,
        "controls_per_task": controls_per_task,
        "images_per_task": images_per_task,
        "assignments": assignments,
        "reference_split": reference_split,
        "exclude": _digest(excluded),
    }
    if 2 * controls_per_task >= images_per_task:
        raise ConfigError(
            f"{controls_per_task} positives and candidates leave no room for negatives in {images_per_task} images",
            fix="use controls_per_task < images_per_task / 2",
        )
    with project.run("crowd-controls", parameters, seed=seed) as run, project.transaction() as session:
        if classes is None:  # the classes a test set will sample from: those with candidates
            present = session.scalars(select(Image.class_key).where(Image.role == "candidate").distinct())
            keys = _class_keys(project, sorted(k for k in present if k in project.classes))
        references = _reference_pools(session, reference_split, set(keys))
        done = _annotated_references(session, keys, min_answers=min_answers)
        lacking = {}
        for key in keys:
            have = [r for r in references.get(key, ()) if r in done.get(key, ())]
            if len(have) < min_references:
                fresh = [r for r in references.get(key, ()) if r not in done.get(key, ())]
                lacking[key] = (min_references - len(have), fresh)
        negative_of = {key: _negative_class(project, key) for key in lacking}
        references |= _reference_pools(session, reference_split, set(negative_of.values()) - set(references))
        candidates = _class_candidates(session, list(lacking), exclude=excluded)
        short = [
            f"{key} ({len(fresh)} new for {need} missing)"
            for key, (need, fresh) in lacking.items()
            if len(fresh) < need
        ]
        if short:
            raise ConfigError(
                f"{len(short)} class(es) have too few {reference_split} reference images to reach "
                f"{min_references} annotated ones: {', '.join(short[:5])}",
                fix=_ADD_REFERENCE_FIX,
            )
        specs = []
        for key, (need, fresh) in lacking.items():
            rng = _class_rng(seed, project, key)
            remaining = list(fresh)
            for number in range(math.ceil(need / controls_per_task)):
                positives = _draw(rng, remaining, min(controls_per_task, len(remaining)))
                drawn = set(positives)
                remaining = [r for r in remaining if r not in drawn]
                chosen = _draw(
                    rng, candidates.get(key, []), min(controls_per_task, len(candidates.get(key, [])))
                )
                n_negative = images_per_task - len(positives) - len(chosen)
                negatives_pool = references.get(negative_of[key], [])
                if len(negatives_pool) < n_negative:
                    raise ConfigError(
                        f"class {negative_of[key]} has {len(negatives_pool)} {reference_split} reference images; "
                        f"a control task of {key} needs {n_negative} negatives",
                        where=key,
                        fix=_ADD_REFERENCE_FIX,
                    )
                shown = [(c, "candidate") for c in chosen] + [(p, "positive") for p in positives]
                shown += [(n, "negative") for n in _draw(rng, negatives_pool, n_negative)]
                order = rng.permutation(len(shown))
                questions = tuple((shown[i][0], key, shown[i][1]) for i in order)
                payload = {
                    "seed": seed,
                    "variant": "control",
                    "chunk": number,
                    "negative_class": negative_of[key],
                    "reference_split": reference_split,
                    "counts": _role_counts(questions),
                }
                specs.append(_spec("grid", seed, key, questions, assignments, payload))
        ids = _create_tasks(session, specs)
        run.counts.update(tasks=len(ids), classes=len(lacking))
    return ids


def propose_labels(
    predictions: Sequence[np.ndarray], original_labels: np.ndarray | None = None, *, k: int = 5
) -> list[np.ndarray]:
    """ReaL's label proposals: per image, the sorted union of each model's top ``k`` class
    indices and the original label. ``predictions`` are (N, >= k) ranked index arrays, best first."""
    columns = []
    for number, ranked in enumerate(predictions):
        ranked = np.asarray(ranked)
        if ranked.ndim != 2 or ranked.shape[1] < k or not np.issubdtype(ranked.dtype, np.integer):
            raise PredictionsMismatchError(
                f"predictions {number} have shape {ranked.shape} ({ranked.dtype}); need integer (N, >= {k})",
                fix="pass ranked class indices, best first",
            )
        columns.append(ranked[:, :k].astype(np.int64))
    if original_labels is not None:
        columns.append(np.asarray(original_labels, dtype=np.int64).reshape(-1, 1))
    if not columns:
        raise PredictionsMismatchError("no predictions and no original labels to propose from")
    rows = {len(c) for c in columns}
    if len(rows) != 1:
        raise PredictionsMismatchError(
            f"predictions and labels differ in rows: {sorted(rows)}",
            fix="every array must have one row per image, in the same order",
        )
    labels = np.sort(np.concatenate(columns, axis=1), axis=1)
    keep = np.ones(labels.shape, dtype=bool)
    keep[:, 1:] = labels[:, 1:] != labels[:, :-1]
    return np.split(labels[keep], np.cumsum(keep.sum(axis=1))[:-1])


def build_verify_tasks(
    project: Project,
    *,
    proposals: Mapping[str, Sequence[str] | np.ndarray],
    seed: int,
    assignments: int = 5,
    golden_tasks: int = 0,
) -> list[int]:
    """One verify task per image (ReaL style) asking about each proposed class; returns new task ids.

    ``proposals`` maps image ids to class ids or class indices (e.g. from :func:`propose_labels`).
    Images must be in the catalog; blacklisted ones are skipped. Labels are shown in a seeded
    random order and tasks are created in a seeded random order; ``golden_tasks`` extra tasks,
    each all golden questions of one image, are mixed in at random places.
    """
    parameters = {"images": len(proposals), "assignments": assignments, "golden_tasks": golden_tasks}
    wanted = {image: _label_keys(project, image, labels) for image, labels in sorted(proposals.items())}
    with project.run("crowd-verify", parameters, seed=seed) as run, project.transaction() as session:
        images = _image_rows(session, list(wanted))
        unknown = sorted(set(wanted) - set(images))
        if unknown:
            raise ConfigError(
                f"{len(unknown)} proposed image(s) are not in the catalog: {unknown[:5]}",
                fix="add them first (`heldout add-reference`, `heldout collect ...`)",
            )
        blacklisted = _blacklisted(session, list(wanted))
        rng = np.random.default_rng(seed)
        groups = [
            (image, [(image, labels[i], "candidate") for i in rng.permutation(len(labels))], False)
            for image, labels in wanted.items()
            if image not in blacklisted and len(labels)
        ]
        groups = [groups[i] for i in rng.permutation(len(groups))]
        if golden_tasks:
            golden = _golden_images(session, exclude=blacklisted)
            if len(golden) < golden_tasks:
                raise ConfigError(
                    f"{golden_tasks} golden verify tasks asked for, {len(golden)} images have golden questions",
                    fix="import or mark golden questions first, or ask for fewer",
                )
            for image in _draw(rng, sorted(golden), golden_tasks):
                labels = golden[image]
                questions = [(image, labels[i], "golden") for i in rng.permutation(len(labels))]
                groups.insert(int(rng.integers(len(groups) + 1)), (image, questions, True))
        specs = [
            _spec(
                "verify",
                seed,
                None,
                tuple(questions),
                assignments,
                {"seed": seed, "image_id": image, "is_golden": is_golden, "labels": len(questions)},
            )
            for image, questions, is_golden in groups
        ]
        ids = _create_tasks(session, specs)
        run.counts.update(tasks=len(ids), skipped_blacklisted=len(blacklisted), images=len(wanted))
    return ids


def create_tasks(project: Project, specs: Sequence[TaskSpec]) -> list[int]:
    """Create tasks, their questions (new (image, class) pairs) and positions in one transaction.

    A spec whose uuid is already in the catalog is skipped (so builds and imports resume);
    returns the ids of the tasks created, in spec order.
    """
    with project.transaction() as session:
        return _create_tasks(session, specs)


# --- catalog reads --------------------------------------------------------------------------


def _class_keys(project: Project, classes: Sequence[str] | None) -> list[str]:
    if classes is None:
        return project.classes.ids.tolist()
    keys = list(dict.fromkeys(classes))
    order = project.classes.indices(keys, where="classes")
    return [keys[i] for i in np.argsort(order, kind="stable")]


def _negative_class(project: Project, key: str) -> str:
    similar = project.classes.most_similar(key, 1)
    if not similar:
        raise ConfigError(
            f"class {key} has no most similar class to draw negative controls from",
            where=project.classes.name,
            fix="list similar classes in the class file (the 'similar' field)",
        )
    return similar[0]


def _class_rng(seed: int, project: Project, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, project.classes.index(key)])


def _not_blacklisted():
    return Image.image_id.not_in(select(Blacklist.image_id))


def _in_classes(query, keys: Sequence[str]):
    # a long IN list costs more than filtering afterwards; every class is the common case
    return query.where(Image.class_key.in_(keys)) if len(keys) <= _CHUNK else query


def _class_candidates(session: Session, keys: Sequence[str], *, exclude: set[str]) -> dict[str, list[str]]:
    """Showable, non-blacklisted, non-excluded candidates per class, by image id."""
    query = _in_classes(
        select(Image.image_id, Image.class_key).where(
            Image.role == "candidate", Image.status.in_(SHOWABLE), _not_blacklisted()
        ),
        keys,
    )
    wanted = set(keys)
    pool: dict[str, list[str]] = defaultdict(list)
    for image_id, key in session.execute(query):
        if key in wanted and image_id not in exclude:
            pool[key].append(image_id)
    return _sorted(pool)


def _eligible_candidates(
    session: Session, keys: Sequence[str], *, min_answers: int, exclude: set[str]
) -> tuple[dict[str, list[str]], dict[str, int]]:
    pool = _class_candidates(session, keys, exclude=set())
    own_question = and_(Image.image_id == Question.image_id, Image.class_key == Question.class_key)
    answered = set(
        session.scalars(
            select(Question.image_id)
            .join(Image, own_question)
            .join(Answer, Answer.question_id == Question.question_id)
            .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
            .join(Task, Task.task_id == Assignment.task_id)
            .join(Worker, Worker.worker_id == Answer.worker_id)
            .where(
                Image.role == "candidate",
                Assignment.status.in_(VALID_STATUSES),
                Task.kind.in_(AGGREGATED_TASK_KINDS),
                Worker.kind == "crowd",
            )
            .group_by(Question.question_id, Question.image_id)
            .having(func.count(Answer.answer_id) >= min_answers)
        )
    )
    scheduled = set(
        session.scalars(
            select(Question.image_id)
            .join(Image, own_question)
            .join(TaskQuestion, TaskQuestion.question_id == Question.question_id)
            .join(Task, Task.task_id == TaskQuestion.task_id)
            .where(Task.kind == "grid", Task.status == OPEN, TaskQuestion.role == "candidate")
        )
    )
    skipped = {"excluded": 0, "answered": 0, "scheduled": 0}
    eligible = {}
    for key, ids in pool.items():
        kept = []
        for image_id in ids:
            reason = (
                "excluded"
                if image_id in exclude
                else "answered"
                if image_id in answered
                else "scheduled"
                if image_id in scheduled
                else None
            )
            if reason:
                skipped[reason] += 1
            else:
                kept.append(image_id)
        eligible[key] = kept
    return eligible, skipped


def _reference_pools(session: Session, split: str, keys: set[str]) -> dict[str, list[str]]:
    if not keys:
        return {}
    query = _in_classes(
        select(Image.image_id, Image.class_key).where(
            Image.role == "reference",
            Image.split == split,
            Image.status.in_(SHOWABLE),
            _not_blacklisted(),
        ),
        sorted(keys),
    )
    pools: dict[str, list[str]] = defaultdict(list)
    for image_id, key in session.execute(query):
        if key in keys:
            pools[key].append(image_id)
    return _sorted(pools)


def _annotated_references(session: Session, keys: Sequence[str], *, min_answers: int) -> dict[str, set[str]]:
    """Reference images of each class with ``min_answers`` valid answers for their own class,
    or shown as positives in an open grid task."""
    own_question = and_(Image.image_id == Question.image_id, Image.class_key == Question.class_key)
    answered = session.execute(
        select(Question.image_id, Question.class_key)
        .join(Image, own_question)
        .join(Answer, Answer.question_id == Question.question_id)
        .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
        .join(Task, Task.task_id == Assignment.task_id)
        .join(Worker, Worker.worker_id == Answer.worker_id)
        .where(
            Image.role == "reference",
            Assignment.status.in_(VALID_STATUSES),
            Task.kind.in_(AGGREGATED_TASK_KINDS),
            Worker.kind == "crowd",
        )
        .group_by(Question.question_id, Question.image_id, Question.class_key)
        .having(func.count(Answer.answer_id) >= min_answers)
    ).all()
    scheduled = session.execute(
        select(Question.image_id, Question.class_key)
        .join(Image, own_question)
        .join(TaskQuestion, TaskQuestion.question_id == Question.question_id)
        .join(Task, Task.task_id == TaskQuestion.task_id)
        .where(Task.kind == "grid", Task.status == OPEN, TaskQuestion.role == "positive")
    ).all()
    wanted = set(keys)
    done: dict[str, set[str]] = defaultdict(set)
    for image_id, key in [*answered, *scheduled]:
        if key in wanted:
            done[key].add(image_id)
    return done


def _golden_pools(session: Session, keys: Sequence[str]) -> dict[str, list[str]]:
    """Images with a golden question about each class, by image id."""
    query = select(Question.image_id, Question.class_key).where(
        Question.is_golden.is_(True), Question.image_id.not_in(select(Blacklist.image_id))
    )
    wanted = set(keys)
    pools: dict[str, list[str]] = defaultdict(list)
    for image_id, key in session.execute(query):
        if key in wanted:
            pools[key].append(image_id)
    return _sorted(pools)


def _golden_images(session: Session, *, exclude: set[str]) -> dict[str, list[str]]:
    """Every image with golden questions → its golden classes (sorted)."""
    images: dict[str, list[str]] = defaultdict(list)
    query = select(Question.image_id, Question.class_key).where(Question.is_golden.is_(True))
    for image_id, key in session.execute(query):
        if image_id not in exclude:
            images[image_id].append(key)
    return _sorted(images)


def _image_rows(session: Session, image_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """image id → (role, class key) for the ids that exist."""
    rows = {}
    for part in _chunks(image_ids):
        query = select(Image.image_id, Image.role, Image.class_key).where(Image.image_id.in_(part))
        rows.update({image_id: (role, key) for image_id, role, key in session.execute(query)})
    return rows


def _blacklisted(session: Session, image_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in _chunks(image_ids):
        found.update(session.scalars(select(Blacklist.image_id).where(Blacklist.image_id.in_(part))))
    return found


# --- planning helpers -----------------------------------------------------------------------


def _check_controls(plans, references, negative_of, split: str, golden, golden_per_task: int) -> None:
    """Refuse to build anything when a class lacks the control (or golden) images its tasks need."""
    problems = []
    for key, (_rng, chunks) in plans.items():
        for role, pool_key, needed in (
            ("positive", key, max(c.positives for c in chunks)),
            ("negative", negative_of[key], max(c.negatives for c in chunks)),
        ):
            have = len(references.get(pool_key, ()))
            if have < needed:
                problems.append(f"{key}: {needed} {role} controls, {pool_key} has {have}")
        if golden_per_task and len(golden.get(key, ())) < golden_per_task:
            problems.append(f"{key}: {golden_per_task} golden questions, {len(golden.get(key, ()))} exist")
    if problems:
        raise ConfigError(
            f"{len(problems)} class(es) lack {split} reference images for their tasks: {'; '.join(problems[:5])}",
            fix=_ADD_REFERENCE_FIX + " (or leave those classes out with --classes)",
        )


def _sorted(groups: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Order every group by id in Python: database collations differ (PostgreSQL's follows the locale)."""
    return {key: sorted(values) for key, values in groups.items()}


def _draw(rng: np.random.Generator, pool: Sequence[str], size: int) -> list[str]:
    if size <= 0:
        return []
    return [pool[i] for i in rng.choice(len(pool), size=size, replace=False).tolist()]


def _label_keys(project: Project, image: str, labels: Sequence[str] | np.ndarray) -> list[str]:
    """Class keys of ``labels`` (ids or indices), unique, in class-index order."""
    array = np.asarray(labels)
    if array.size == 0:
        return []
    if np.issubdtype(array.dtype, np.integer):
        indices = sorted(set(array.ravel().tolist()))
        if indices[0] < 0 or indices[-1] >= len(project.classes):
            raise ConfigError(f"class index out of range 0..{len(project.classes) - 1}", where=image)
    else:
        indices = sorted(set(project.classes.indices(array.astype(str), where=image).tolist()))
    return project.classes.ids[indices].tolist()


def _role_counts(questions: Sequence[tuple[str, str, str]]) -> dict[str, int]:
    counts = dict.fromkeys(ROLES, 0)
    for _image, _key, role in questions:
        counts[role] += 1
    return counts


def _spec(
    kind: str,
    seed: int,
    class_key: str | None,
    questions: tuple[tuple[str, str, str], ...],
    assignments: int,
    payload: dict[str, Any],
) -> TaskSpec:
    text = "\n".join([kind, str(seed), class_key or "", *("\t".join(q) for q in questions)])
    return TaskSpec(
        uuid=str(uuid.uuid5(_NAMESPACE, text)),
        kind=kind,
        questions=questions,
        class_key=class_key,
        max_assignments=assignments,
        payload=payload,
    )


def _digest(ids: set[str]) -> dict[str, Any]:
    """Record an id set by size and hash (the set itself may hold thousands of ids)."""
    text = "\n".join(sorted(ids))
    return {"count": len(ids), "sha256": hashlib.sha256(text.encode()).hexdigest() if ids else None}


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- writing --------------------------------------------------------------------------------


def _create_tasks(session: Session, specs: Sequence[TaskSpec]) -> list[int]:
    existing: set[str] = set()
    for part in _chunks([s.uuid for s in specs]):
        existing.update(session.scalars(select(Task.uuid).where(Task.uuid.in_(part))))
    specs = [s for s in specs if s.uuid not in existing]
    if not specs:
        return []
    for spec in specs:
        _check_spec(spec)
    question_of = _ensure_questions(session, {(i, k) for s in specs for i, k, _r in s.questions})
    now = utcnow()
    session.execute(
        insert(Task),
        [
            {
                "uuid": s.uuid,
                "kind": s.kind,
                "class_key": s.class_key,
                "status": s.status,
                "max_assignments": s.max_assignments,
                "payload": s.payload,
                "created_at": now,
            }
            for s in specs
        ],
    )
    task_of: dict[str, int] = {}
    for part in _chunks([s.uuid for s in specs]):
        task_of.update(session.execute(select(Task.uuid, Task.task_id).where(Task.uuid.in_(part))).all())
    bulk_insert(
        session,
        "task_question",
        ("task_id", "position", "question_id", "role"),
        (
            (task_of[s.uuid], position, question_of[(image, key)], role)
            for s in specs
            for position, (image, key, role) in enumerate(s.questions)
        ),
    )
    return [task_of[s.uuid] for s in specs]


def _check_spec(spec: TaskSpec) -> None:
    pairs = [(image, key) for image, key, _role in spec.questions]
    roles = {role for _image, _key, role in spec.questions}
    if len(set(pairs)) != len(pairs):
        raise ConfigError(f"task {spec.uuid} asks a question twice", fix="show each image once per grid")
    if not roles <= set(ROLES):
        raise ConfigError(f"task {spec.uuid} has unknown roles {sorted(roles - set(ROLES))}")


def _ensure_questions(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The question id of every (image, class) pair, creating missing questions; a question about a
    reference image's own class is flagged as the original label."""
    by_image: dict[str, set[str]] = defaultdict(set)
    for image, key in pairs:
        by_image[image].add(key)
    images = sorted(by_image)
    found: dict[tuple[str, str], int] = {}
    for part in _chunks(images):
        query = select(Question.image_id, Question.class_key, Question.question_id).where(
            Question.image_id.in_(part)
        )
        found.update({(i, k): q for i, k, q in session.execute(query) if (i, k) in pairs})
    missing = sorted(pairs - set(found))
    if missing:
        rows = _image_rows(session, sorted({image for image, _key in missing}))
        unknown = sorted({image for image, _key in missing if image not in rows})
        if unknown:
            raise ConfigError(
                f"{len(unknown)} image(s) of these tasks are not in the catalog: {unknown[:5]}",
                fix="add the images before building tasks over them",
            )
        bulk_insert(
            session,
            "question",
            ("image_id", "class_key", "is_golden", "is_original_label"),
            ((image, key, False, rows[image] == ("reference", key)) for image, key in missing),
        )
        wanted = {image for image, _key in missing}
        for part in _chunks(sorted(wanted)):
            query = select(Question.image_id, Question.class_key, Question.question_id).where(
                Question.image_id.in_(part)
            )
            found.update({(i, k): q for i, k, q in session.execute(query) if (i, k) in pairs})
    return found
