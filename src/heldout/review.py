"""Final review of a sampled test set, and the predictions browser that catches label errors.

Per class, a reviewer looks at the sampled images beside reference images of the class and the
candidate pool, with three selection-frequency histograms over the five MatchedFrequency bins
(reference images, the target they imply, eligible candidates), binned and rounded by the
sampler's own functions. Decisions: blacklist or flag an
image as problematic, declare a near-duplicate set, mark the class ``reviewed`` or
``problematic``. Every decision row records who made it and when (flags, duplicate pairs, class
and label reviews carry ``reviewer`` and a timestamp; the blacklist's reason names the reviewer).

Revisions change minimally, so reviews carry over (ImageNetV2's ``carry_over_reviews``): a class
stays reviewed in the next revision only if it was not problematic and its images are unchanged.
``accept`` marks every unreviewed class reviewed for scripted runs (the demo); it records the
reviewer as ``auto:<name>`` and a ``review-accept`` run, so automatic approval is never mistaken
for a person's.

    >>> overview = class_overview(project, "mine-b-0", "n01440764")     # doctest: +SKIP
    >>> update_class(project, "mine-b-0", "n01440764", status="reviewed", reviewer="ada")  # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from heldout.blacklist import add_to_blacklist, remove_from_blacklist
from heldout.catalog import (
    Blacklist,
    Candidate,
    ClassReview,
    Dataset,
    DatasetImage,
    DuplicatePair,
    DuplicateStatus,
    Image,
    ImageFlag,
    LabelReview,
    Question,
    Score,
)
from heldout.dedup.review import sufficiently_reviewed
from heldout.errors import PredictionsMismatchError, ReviewError, UnknownDatasetError
from heldout.project import Project, utcnow
from heldout.sampling import HISTOGRAM_BINS, bin_index, exclusion_codes, round_histogram

__all__ = [
    "AUTO_PREFIX",
    "CLASS_STATUSES",
    "LABEL_STATES",
    "ClassOverview",
    "ClassStatus",
    "ClassUpdate",
    "DisputedImage",
    "PredictedClass",
    "RankedPredictions",
    "ReviewImage",
    "ReviewStatus",
    "accept",
    "carry_over_reviews",
    "class_overview",
    "disputed_images",
    "list_sampled",
    "record_label_review",
    "review_status",
    "select_candidates",
    "update_class",
]

N_BINS = len(HISTOGRAM_BINS) + 1
CLASS_STATUSES = ("reviewed", "problematic")
LABEL_STATES = ("correct", "wrong", "unclear")
AUTO_PREFIX = "auto:"
"""Prefix of the reviewer of a class marked by :func:`accept`, not by a person."""
DUPLICATE_ORIGIN = "final-review"
FLAG_REASON = "problematic (final review)"
_MAX_REVIEWER = 128
_MIN_ANNOTATIONS = 10

Sort = Literal["frequency", "date", "id"]


# --- shapes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewImage:
    """One image as the reviewer sees it, with its frequency for the class under review."""

    image_id: str
    frequency: float | None
    annotations: int
    date_taken: str | None
    is_blacklisted: bool
    is_flagged: bool
    duplicate_status: str | None
    """The dedup resolution's verdict: ``kept``, ``duplicate``, ``reference`` or None."""
    in_dataset: bool
    has_bytes: bool

    @property
    def is_near_duplicate(self) -> bool:
        return self.duplicate_status in ("duplicate", "reference")

    @property
    def bin(self) -> int | None:
        return None if self.frequency is None else int(bin_index(np.array([self.frequency]))[0])


@dataclass(frozen=True)
class ClassOverview:
    """Everything the per-class review page shows; the histograms are counts over the five bins."""

    dataset: str
    class_key: str
    name: str
    description: str
    status: str
    """``reviewed``, ``problematic`` or ``unreviewed``."""
    reviewer: str | None
    updated_at: datetime | None
    carried_from: str | None
    per_class: int
    sampled: list[ReviewImage]
    references: list[ReviewImage]
    """A seeded random few of the class's reference images, for looking at."""
    candidates: list[ReviewImage]
    reference_count: int
    """How many reference images have enough annotations to count in the reference histogram."""
    reference_histogram: np.ndarray
    target_histogram: np.ndarray
    eligible_histogram: np.ndarray


@dataclass(frozen=True)
class ClassUpdate:
    """What :func:`update_class` changed."""

    blacklisted: int
    unblacklisted: int
    flagged: int
    unflagged: int
    duplicate_pairs: int
    status: str | None


@dataclass(frozen=True)
class ClassStatus:
    class_key: str
    name: str
    images: int
    status: str
    reviewer: str | None
    carried_from: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class ReviewStatus:
    """Review progress of one dataset revision; ``classes`` in class-index order."""

    dataset: str
    reviewed: int
    problematic: int
    unreviewed: int
    carried: int
    automatic: int
    classes: list[ClassStatus]

    @property
    def is_complete(self) -> bool:
        return self.unreviewed == 0 and self.problematic == 0


@dataclass(frozen=True)
class PredictedClass:
    """A class some models predict (top-1) for an image, and the reviewer's verdict on it."""

    class_key: str
    name: str
    models: int
    is_label: bool
    state: str
    """``correct``, ``wrong``, ``unclear`` or ``unreviewed``."""


@dataclass(frozen=True)
class DisputedImage:
    image_id: str
    position: int
    class_key: str
    wrong: int
    """How many models' top-1 prediction is not the label."""
    models: int
    has_bytes: bool
    predictions: list[PredictedClass]
    """The label first, then every other top-1 class, most models first."""


class RankedPredictions(Protocol):
    """What :func:`disputed_images` needs of one model's predictions (``heldout.evaluate.Predictions``
    has it): ranked class indices ``(N, k)`` best first, the model name, optional image ids."""

    ranked: np.ndarray
    model: str
    ids: np.ndarray | None


# --- histograms ----------------------------------------------------------------------------------


def _histogram(frequencies: Sequence[float]) -> np.ndarray:
    return np.bincount(bin_index(np.asarray(frequencies, dtype=float)), minlength=N_BINS).astype(np.int64)


def _target(reference_histogram: np.ndarray, per_class: int) -> np.ndarray:
    """The MatchedFrequency target (the sampler's own rounding); all zeros without references."""
    if not reference_histogram.sum():
        return np.zeros(N_BINS, dtype=np.int64)
    return round_histogram(reference_histogram, per_class)


# --- the per-class page --------------------------------------------------------------------------


def class_overview(
    project: Project,
    dataset: str,
    class_key: str,
    *,
    references_shown: int = 10,
    seed: int = 0,
) -> ClassOverview:
    """The sampled images of ``class_key`` in ``dataset``, ``references_shown`` reference images
    picked with ``random.Random(seed)``, the whole candidate pool, and the three histograms.
    Eligibility is the sampler's (:func:`heldout.sampling.exclusion_codes`) with the annotation
    minimums of the dataset's manifest (default 10), and the near-duplicate review check when
    the manifest required it; reference images count toward their histogram on the minimum
    MatchedFrequency used for them."""
    with project.transaction() as session:
        row = _dataset(session, dataset)
        sampled_ids = _class_images(session, row.dataset_id).get(class_key, [])
        if class_key not in project.classes:
            raise ReviewError(
                f"class {class_key!r} is not in the class set", where=dataset, fix="pick a listed class"
            )
        in_dataset = set(sampled_ids)
        sampled = _by_id(_images(session, class_key, Image.image_id.in_(sampled_ids), in_dataset))
        candidates = _images(
            session, class_key, and_(Image.role == "candidate", Image.class_key == class_key), in_dataset
        )
        references = _images(
            session, class_key, and_(Image.role == "reference", Image.class_key == class_key), in_dataset
        )
        review = session.get(ClassReview, (row.dataset_id, class_key))
        per_class = _per_class(session, row)
        manifest = row.manifest or {}
    minimum = manifest.get(
        "min_num_annotations", manifest.get("min_num_annotations_candidates", _MIN_ANNOTATIONS)
    )
    reference_minimum = manifest.get("min_num_annotations_val", minimum)
    counted = [
        r.frequency for r in references if r.frequency is not None and r.annotations >= reference_minimum
    ]
    eligible = _eligible(project, candidates, minimum, bool(manifest.get("require_duplicate_review")))
    reference_histogram = _histogram(counted)
    info = project.classes[class_key]
    shown = random.Random(seed).sample(references, min(references_shown, len(references)))
    return ClassOverview(
        dataset=dataset,
        class_key=class_key,
        name=info.name,
        description=info.description,
        status=review.status if review else "unreviewed",
        reviewer=review.reviewer if review else None,
        updated_at=review.updated_at if review else None,
        carried_from=review.carried_from if review else None,
        per_class=per_class,
        sampled=[sampled[i] for i in sampled_ids if i in sampled],
        references=shown,
        candidates=candidates,
        reference_count=len(counted),
        reference_histogram=reference_histogram,
        target_histogram=_target(reference_histogram, per_class),
        eligible_histogram=_histogram(
            [c.frequency for c, ok in zip(candidates, eligible, strict=True) if ok]
        ),
    )


def select_candidates(
    images: Iterable[ReviewImage],
    *,
    blacklisted: bool | None = None,
    near_duplicate: bool | None = None,
    frequency_bin: int | None = None,
    sort: Sort = "frequency",
    descending: bool = True,
) -> list[ReviewImage]:
    """The page's filters and sorting: ``None`` keeps both kinds; unlabelled images sort last by
    frequency, undated ones last by date; ties go by id so the order is stable."""
    kept = [
        i
        for i in images
        if (blacklisted is None or i.is_blacklisted == blacklisted)
        and (near_duplicate is None or i.is_near_duplicate == near_duplicate)
        and (frequency_bin is None or i.bin == frequency_bin)
    ]
    kept.sort(key=lambda i: i.image_id)
    if sort == "frequency":
        kept.sort(key=lambda i: -1.0 if i.frequency is None else i.frequency, reverse=descending)
    elif sort == "date":
        kept.sort(key=lambda i: i.date_taken or "", reverse=descending)
    elif sort != "id":
        raise ReviewError(f"unknown sort {sort!r}", fix="sort by frequency, date or id")
    return kept


def update_class(
    project: Project,
    dataset: str,
    class_key: str,
    *,
    blacklist_add: Sequence[str] = (),
    blacklist_remove: Sequence[str] = (),
    flag_add: Sequence[str] = (),
    flag_remove: Sequence[str] = (),
    duplicate_sets: Sequence[Sequence[str]] = (),
    status: str | None = None,
    reviewer: str,
) -> ClassUpdate:
    """Apply one save of the class page in one transaction: all of it, or nothing.

    ``duplicate_sets`` are near-duplicate sets; each becomes pairs keyed by its first member (as
    in the published ``near_duplicates.json``), origin ``final-review``; the dedup resolution
    decides on its next run which member stays. ``status`` is ``reviewed``, ``problematic``,
    ``unreviewed`` (clears the review) or None (unchanged)."""
    _check_reviewer(reviewer)
    if status is not None and status not in (*CLASS_STATUSES, "unreviewed"):
        raise ReviewError(f"unknown class status {status!r}", fix="reviewed, problematic or unreviewed")
    _check_disjoint(blacklist_add, blacklist_remove, "blacklist")
    _check_disjoint(flag_add, flag_remove, "flag")
    sets = [list(dict.fromkeys(s)) for s in duplicate_sets]
    if any(len(s) < 2 for s in sets):
        raise ReviewError("a near-duplicate set needs at least two different images", fix="add its members")
    named = [*blacklist_add, *blacklist_remove, *flag_add, *flag_remove, *(i for s in sets for i in s)]
    now = utcnow()
    with project.transaction() as session:
        row = _dataset(session, dataset)
        if class_key not in _class_images(session, row.dataset_id):
            raise ReviewError(
                f"class {class_key!r} has no images in {dataset}", fix="open a class of this dataset"
            )
        _check_images(session, named)
        reason = f"invalid image (added in the final review by {reviewer})"
        added = add_to_blacklist(project, blacklist_add, reason) if blacklist_add else 0
        removed = remove_from_blacklist(project, blacklist_remove) if blacklist_remove else 0
        flagged = _flag(session, flag_add, reviewer, now)
        unflagged = (
            _delete_where(session, ImageFlag, ImageFlag.image_id.in_(flag_remove)) if flag_remove else 0
        )
        pairs = _add_duplicate_sets(session, sets, reviewer, now)
        if status is not None:
            _set_status(session, row.dataset_id, class_key, status, reviewer, now)
    return ClassUpdate(added, removed, flagged, unflagged, pairs, status)


# --- revisions and scripted use ------------------------------------------------------------------


def carry_over_reviews(project: Project, dataset: str) -> list[str]:
    """Copy the previous revision's ``reviewed`` classes whose images are unchanged (as sets) into
    ``dataset``, with ``carried_from`` naming the previous revision; reviewer and time stay the
    original decision's. Problematic classes start over. Returns the carried class keys; classes
    already reviewed in ``dataset`` are left alone, so running it twice changes nothing."""
    with project.transaction() as session:
        row = _dataset(session, dataset)
        if row.starting_from is None:
            return []
        previous = _dataset(session, row.starting_from)
        new_images = {k: frozenset(v) for k, v in _class_images(session, row.dataset_id).items()}
        old_images = {k: frozenset(v) for k, v in _class_images(session, previous.dataset_id).items()}
        existing = set(
            session.scalars(select(ClassReview.class_key).where(ClassReview.dataset_id == row.dataset_id))
        )
        carried = []
        for old in session.scalars(
            select(ClassReview)
            .where(ClassReview.dataset_id == previous.dataset_id, ClassReview.status == "reviewed")
            .order_by(ClassReview.class_key)
        ):
            key = old.class_key
            if key in existing or key not in new_images or new_images[key] != old_images.get(key):
                continue
            session.add(
                ClassReview(
                    dataset_id=row.dataset_id,
                    class_key=key,
                    status="reviewed",
                    reviewer=old.reviewer,
                    carried_from=previous.name,
                    updated_at=old.updated_at,
                )
            )
            carried.append(key)
    return carried


def list_sampled(project: Project) -> list[str]:
    """Names of the project's sampled dataset revisions, newest first."""
    with project.transaction() as session:
        return list(session.scalars(select(Dataset.name).order_by(Dataset.dataset_id.desc())))


def review_status(project: Project, dataset: str) -> ReviewStatus:
    """Per class of ``dataset``: its image count and review; and the counts over all classes."""
    with project.transaction() as session:
        row = _dataset(session, dataset)
        images = _class_images(session, row.dataset_id)
        reviews = {
            r.class_key: r
            for r in session.scalars(select(ClassReview).where(ClassReview.dataset_id == row.dataset_id))
        }
    classes = [
        _class_status(project, key, len(images.get(key, ())), reviews.get(key))
        for key in _ordered(project, {*images, *reviews})
    ]
    statuses = [c.status for c in classes]
    return ReviewStatus(
        dataset=dataset,
        reviewed=statuses.count("reviewed"),
        problematic=statuses.count("problematic"),
        unreviewed=statuses.count("unreviewed"),
        carried=sum(c.carried_from is not None for c in classes),
        automatic=sum(bool(c.reviewer and c.reviewer.startswith(AUTO_PREFIX)) for c in classes),
        classes=classes,
    )


def accept(project: Project, dataset: str, reviewer: str) -> list[str]:
    """Mark every unreviewed class of ``dataset`` reviewed, as ``auto:<reviewer>`` (the scripted
    path; problematic classes stay problematic). Records a ``review-accept`` run; returns the keys."""
    _check_reviewer(reviewer)
    with project.run("review-accept", {"dataset": dataset, "reviewer": reviewer}) as run:
        with project.transaction() as session:
            row = _dataset(session, dataset)
            reviewed = set(
                session.scalars(select(ClassReview.class_key).where(ClassReview.dataset_id == row.dataset_id))
            )
            keys = _ordered(project, set(_class_images(session, row.dataset_id)) - reviewed)
            now = utcnow()
            session.add_all(
                ClassReview(
                    dataset_id=row.dataset_id,
                    class_key=key,
                    status="reviewed",
                    reviewer=AUTO_PREFIX + reviewer,
                    carried_from=None,
                    updated_at=now,
                )
                for key in keys
            )
        run.counts.update(accepted=len(keys))
    return keys


# --- predictions browser -------------------------------------------------------------------------


def disputed_images(
    project: Project,
    dataset: str,
    predictions: Sequence[RankedPredictions] | Mapping[str, np.ndarray],
    *,
    min_models: int | None = None,
    limit: int | None = None,
) -> list[DisputedImage]:
    """Images of ``dataset`` whose label at least ``min_models`` models (default: a majority) miss
    at top-1, most-missed first, with every model's top-1 class and the reviewer's verdicts.

    Models only queue images for people to look at: nothing here changes a label. The label of
    record stays the crowd's; a ``wrong`` verdict is a reason to re-ask the crowd or blacklist
    the image, which a person decides. ``predictions``: one object per model with ``ranked``
    (and ``ids`` to align by id), or ``{model: ranked array}`` aligned to the dataset's order."""
    with project.transaction() as session:
        row = _dataset(session, dataset)
        rows = session.execute(
            select(DatasetImage.image_id, DatasetImage.class_key, Image.sha256)
            .join(Image, Image.image_id == DatasetImage.image_id)
            .where(DatasetImage.dataset_id == row.dataset_id)
            .order_by(DatasetImage.position)
        ).all()
    ids = np.array([r[0] for r in rows], dtype=object)
    labels = project.classes.indices([r[1] for r in rows], where=dataset)
    top1 = _top1_matrix(predictions, ids, dataset, len(project.classes))
    n_models = len(top1)
    threshold = n_models // 2 + 1 if min_models is None else min_models
    if threshold < 1 or threshold > max(n_models, 1):
        raise ReviewError(f"min_models must be 1..{n_models}", fix="lower --min-models")
    wrong = (top1 != labels).sum(axis=0) if n_models else np.zeros(len(ids), dtype=np.int64)
    picked = np.flatnonzero(wrong >= threshold)
    picked = picked[np.argsort(-wrong[picked], kind="stable")][:limit]
    states = _label_states(project, ids[picked].tolist())
    image, classes, votes, is_label = _vote_table(top1[:, picked], labels[picked], len(project.classes))
    bounds = np.searchsorted(image, np.arange(len(picked) + 1))
    keys = project.classes.ids[classes]
    names = {int(c): project.classes[int(c)].name for c in np.unique(classes)}
    out = []
    for n, i in enumerate(picked.tolist()):
        verdicts = states.get(ids[i], {})
        rows_of_image = range(bounds[n], bounds[n + 1])
        predicted = [
            PredictedClass(
                str(keys[r]),
                names[int(classes[r])],
                int(votes[r]),
                bool(is_label[r]),
                verdicts.get(str(keys[r]), "unreviewed"),
            )
            for r in rows_of_image
        ]
        out.append(
            DisputedImage(ids[i], i, rows[i][1], int(wrong[i]), n_models, rows[i][2] is not None, predicted)
        )
    return out


def record_label_review(project: Project, image_id: str, class_key: str, state: str, reviewer: str) -> None:
    """Store a reviewer's verdict (``correct``, ``wrong``, ``unclear``) on ``class_key`` for the
    image, replacing an earlier one. It is a note for people: the label of record is unchanged."""
    _check_reviewer(reviewer)
    if state not in LABEL_STATES:
        raise ReviewError(f"unknown label state {state!r}", fix="correct, wrong or unclear")
    if class_key not in project.classes:
        raise ReviewError(f"class {class_key!r} is not in the class set", fix="pick a listed class")
    with project.transaction() as session:
        _check_images(session, [image_id])
        review = session.get(LabelReview, (image_id, class_key))
        if review is None:
            review = LabelReview(image_id=image_id, class_key=class_key)
            session.add(review)
        review.state, review.reviewer, review.updated_at = state, reviewer, utcnow()


# --- machinery -----------------------------------------------------------------------------------


def _dataset(session: Session, name: str) -> Dataset:
    row = session.scalar(select(Dataset).where(Dataset.name == name))
    if row is None:
        raise UnknownDatasetError(
            f"no sampled dataset {name!r} in this project", where=name, fix="run `heldout sample` first"
        )
    return row


def _class_images(session: Session, dataset_id: int) -> dict[str, list[str]]:
    """Image ids per class of a dataset, in manifest order."""
    out: dict[str, list[str]] = {}
    for image_id, key in session.execute(
        select(DatasetImage.image_id, DatasetImage.class_key)
        .where(DatasetImage.dataset_id == dataset_id)
        .order_by(DatasetImage.position)
    ):
        out.setdefault(key, []).append(image_id)
    return out


def _per_class(session: Session, row: Dataset) -> int:
    """Images per class the sampler aimed for: the manifest's ``per_class``, else its
    ``target_size`` (else the image count) over the classes present."""
    manifest = row.manifest or {}
    if isinstance(manifest.get("per_class"), int):
        return manifest["per_class"]
    images = _class_images(session, row.dataset_id)
    total = manifest.get("target_size")
    if not isinstance(total, int):
        total = sum(len(v) for v in images.values())
    return max(total // max(len(images), 1), 1)


def _images(session: Session, class_key: str, where: Any, in_dataset: set[str]) -> list[ReviewImage]:
    """Images matching ``where`` with their frequency for ``class_key`` and every review flag, by id."""
    query = (
        select(
            Image.image_id,
            Image.sha256,
            Score.value,
            Score.annotations,
            Candidate.date_taken,
            Blacklist.image_id,
            ImageFlag.image_id,
            DuplicateStatus.status,
        )
        .outerjoin(Question, and_(Question.image_id == Image.image_id, Question.class_key == class_key))
        .outerjoin(Score, and_(Score.question_id == Question.question_id, Score.method == "frequency"))
        .outerjoin(Candidate, Candidate.image_id == Image.image_id)
        .outerjoin(Blacklist, Blacklist.image_id == Image.image_id)
        .outerjoin(ImageFlag, ImageFlag.image_id == Image.image_id)
        .outerjoin(DuplicateStatus, DuplicateStatus.image_id == Image.image_id)
        .where(where)
        .order_by(Image.image_id)
    )
    return [
        ReviewImage(
            image_id=image_id,
            frequency=frequency,
            annotations=annotations or 0,
            date_taken=date_taken,
            is_blacklisted=blacklisted is not None,
            is_flagged=flagged is not None,
            duplicate_status=duplicate,
            in_dataset=image_id in in_dataset,
            has_bytes=sha256 is not None,
        )
        for image_id, sha256, frequency, annotations, date_taken, blacklisted, flagged, duplicate in session.execute(
            query
        )
    ]


def _by_id(images: list[ReviewImage]) -> dict[str, ReviewImage]:
    return {i.image_id: i for i in images}


def _eligible(
    project: Project, candidates: list[ReviewImage], min_annotations: int, duplicate_review: bool
) -> np.ndarray:
    """Which candidates the sampler would take: labelled, and no exclusion reason."""
    ids = [c.image_id for c in candidates]
    codes = exclusion_codes(
        blacklisted=np.array([c.is_blacklisted for c in candidates], dtype=bool),
        flagged=np.array([c.is_flagged for c in candidates], dtype=bool),
        annotations=np.array([c.annotations for c in candidates], dtype=np.int64),
        min_annotations=min_annotations,
        near_duplicate=np.array([c.is_near_duplicate for c in candidates], dtype=bool),
        reviewed=sufficiently_reviewed(project, ids) if duplicate_review else np.ones(len(ids), dtype=bool),
    )
    labelled = np.array([c.frequency is not None for c in candidates], dtype=bool)
    return (codes == 0) & labelled


def _check_reviewer(reviewer: str) -> None:
    if (
        not isinstance(reviewer, str)
        or not reviewer.strip()
        or len(reviewer) > _MAX_REVIEWER - len(AUTO_PREFIX)
    ):
        raise ReviewError(
            "every decision needs the reviewer's name", fix="--reviewer NAME (at most 120 characters)"
        )


def _check_disjoint(add: Sequence[str], remove: Sequence[str], what: str) -> None:
    both = sorted(set(add) & set(remove))
    if both:
        raise ReviewError(f"images both added to and removed from the {what}: {both[:3]}", fix="pick one")


def _check_images(session: Session, image_ids: Sequence[str]) -> None:
    wanted = set(image_ids)
    if not wanted:
        return
    known = set(session.scalars(select(Image.image_id).where(Image.image_id.in_(wanted))))
    unknown = sorted(wanted - known)
    if unknown:
        raise ReviewError(f"{len(unknown)} unknown image id(s): {unknown[:3]}", fix="check the ids")


def _flag(session: Session, image_ids: Sequence[str], reviewer: str, now: datetime) -> int:
    if not image_ids:
        return 0
    already = set(session.scalars(select(ImageFlag.image_id).where(ImageFlag.image_id.in_(image_ids))))
    new = [i for i in dict.fromkeys(image_ids) if i not in already]
    session.add_all(ImageFlag(image_id=i, reason=FLAG_REASON, reviewer=reviewer, created_at=now) for i in new)
    return len(new)


def _delete_where(session: Session, table: Any, condition: Any) -> int:
    return session.execute(delete(table).where(condition)).rowcount


def _add_duplicate_sets(session: Session, sets: list[list[str]], reviewer: str, now: datetime) -> int:
    pairs = list(dict.fromkeys((s[0], other) for s in sets for other in s[1:]))
    new = [p for p in pairs if session.get(DuplicatePair, p) is None]
    session.add_all(
        DuplicatePair(image_id=a, other_id=b, origin=DUPLICATE_ORIGIN, reviewer=reviewer, created_at=now)
        for a, b in new
    )
    return len(new)


def _set_status(
    session: Session, dataset_id: int, class_key: str, status: str, reviewer: str, now: datetime
) -> None:
    review = session.get(ClassReview, (dataset_id, class_key))
    if status == "unreviewed":
        if review is not None:
            session.delete(review)
        return
    if review is None:
        review = ClassReview(dataset_id=dataset_id, class_key=class_key)
        session.add(review)
    review.status, review.reviewer, review.carried_from, review.updated_at = status, reviewer, None, now


def _ordered(project: Project, keys: set[str]) -> list[str]:
    """Class keys in class-index order (keys outside the class set last, by name)."""
    known = sorted((k for k in keys if k in project.classes), key=project.classes.index)
    return known + sorted(k for k in keys if k not in project.classes)


def _class_status(project: Project, key: str, images: int, review: ClassReview | None) -> ClassStatus:
    return ClassStatus(
        class_key=key,
        name=project.classes[key].name if key in project.classes else key,
        images=images,
        status=review.status if review else "unreviewed",
        reviewer=review.reviewer if review else None,
        carried_from=review.carried_from if review else None,
        updated_at=review.updated_at if review else None,
    )


def _top1_matrix(
    predictions: Sequence[RankedPredictions] | Mapping[str, np.ndarray],
    ids: np.ndarray,
    dataset: str,
    n_classes: int,
) -> np.ndarray:
    """Top-1 class index per (model, dataset image), rows aligned by id where the model has ids."""
    items = (
        [(name, np.asarray(array), None) for name, array in predictions.items()]
        if isinstance(predictions, Mapping)
        else [(p.model, np.asarray(p.ranked), p.ids) for p in predictions]
    )
    columns = []
    for model, ranked, model_ids in items:
        top1 = ranked.reshape(len(ranked), -1)[:, 0]
        if model_ids is not None:
            position = {str(i): n for n, i in enumerate(np.asarray(model_ids).tolist())}
            missing = [i for i in ids.tolist() if i not in position]
            if missing:
                raise PredictionsMismatchError(
                    f"{len(missing)} dataset image(s) have no prediction, e.g. {missing[0]}",
                    where=f"{model} on {dataset}",
                    fix="predict every image of the dataset",
                )
            top1 = top1[[position[i] for i in ids.tolist()]]
        elif len(top1) != len(ids):
            raise PredictionsMismatchError(
                f"{len(top1)} predictions for {len(ids)} images",
                where=f"{model} on {dataset}",
                fix="rows must follow the dataset's image order",
            )
        if len(top1) and (top1.min() < 0 or top1.max() >= n_classes):
            raise PredictionsMismatchError(
                f"class indices outside 0..{n_classes - 1}", where=model, fix="predict the project's classes"
            )
        columns.append(top1.astype(np.int64))
    return np.stack(columns) if columns else np.zeros((0, len(ids)), dtype=np.int64)


def _label_states(project: Project, image_ids: list[str]) -> dict[str, dict[str, str]]:
    if not image_ids:
        return {}
    with project.transaction() as session:
        rows = session.execute(
            select(LabelReview.image_id, LabelReview.class_key, LabelReview.state).where(
                LabelReview.image_id.in_(image_ids)
            )
        ).all()
    out: dict[str, dict[str, str]] = {}
    for image_id, key, state in rows:
        out.setdefault(image_id, {})[key] = state
    return out


def _vote_table(
    top1: np.ndarray, labels: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For every image (column of ``top1``, models × images): each class some model predicts at
    top-1, and the label, with its number of votes, as aligned rows (image, class, votes,
    is_label) sorted by image, then label first, then most votes, then class index."""
    n_images = top1.shape[1]
    base = np.arange(n_images, dtype=np.int64) * n_classes
    cells = np.concatenate([(base[None, :] + top1).ravel(), base + labels])  # the label once, so it is listed
    unique, votes = np.unique(cells, return_counts=True)
    image, classes = np.divmod(unique, n_classes)
    is_label = classes == labels[image]
    votes = votes - is_label
    order = np.lexsort((classes, -votes, ~is_label, image))
    return image[order], classes[order], votes[order], is_label[order]
