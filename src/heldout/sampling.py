"""Sampling test sets from labelled, de-duplicated candidates: ImageNetV2's three rules.

* **Threshold** (``a``, ``sample_above_threshold``): random eligible candidates whose selection
  frequency is at least 0.7 (per-class overrides).
* **MatchedFrequency** (``b``, ``sample_wnid_histogram``): per class, the frequency histogram of the
  class's reference images (five bins) scaled to the per-class count; random within bins; a short
  bin borrows from the next higher non-empty bin.
* **TopImages** (``c``, ``sample_best``): the highest (frequency, annotations, was in the previous
  revision, id) candidates.

*Eligible* means: not blacklisted, not flagged by a reviewer, enough annotations, (above the
threshold), not a near duplicate, and sufficiently reviewed for near duplicates; an excluded
candidate is counted under the first reason that applies, as the published code did.

Randomness is one ``random.Random(seed)``: classes in sorted order, candidates sorted by id before
every ``rng.sample``, and the final list shuffled with the same generator, so the same catalog and
seed give a byte-identical manifest. Nothing in the manifest reads the clock or the user name
unless passed in. A revision starts from the previous one (``previous=NAME``) and keeps the
images that are still eligible, so revisions change minimally; names are ``<set>-<letter>-<n>``.

The per-class rules are pure functions over aligned arrays (property-tested); :func:`sample`
loads the arrays from the catalog and stores the result as a ``Dataset`` with its manifest.
"""

from __future__ import annotations

import json
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, ClassVar

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from heldout.catalog import (
    Blacklist,
    Dataset,
    DatasetImage,
    DuplicateStatus,
    Image,
    ImageFlag,
    Question,
    Score,
)
from heldout.catalog.bulk import bulk_insert
from heldout.classes import ClassSet
from heldout.datasets.manifest import Manifest
from heldout.dedup.review import sufficiently_reviewed, thresholds
from heldout.errors import SamplingError
from heldout.project import Project, utcnow

__all__ = [
    "EXCLUSION_REASONS",
    "HISTOGRAM_BINS",
    "ClassShortfall",
    "MatchedFrequency",
    "SampleResult",
    "SamplingStrategy",
    "Threshold",
    "TopImages",
    "bin_index",
    "dataset_manifest",
    "exclusion_codes",
    "round_histogram",
    "sample",
    "select_matched_frequency",
    "select_threshold",
    "select_top_images",
]

HISTOGRAM_BINS: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
"""Inner bin boundaries: [0, .2) [.2, .4) [.4, .6) [.6, .8) [.8, 1]."""

EXCLUSION_REASONS: tuple[str, ...] = (
    "blacklisted",
    "flagged",
    "few_annotations",
    "below_threshold",
    "near_duplicate",
    "unreviewed",
)
"""Why a candidate is not eligible; code ``i + 1`` in :func:`exclusion_codes`, 0 = eligible."""

FREQUENCY_METHOD = "frequency"
NEAR_DUPLICATE_STATUSES = ("duplicate", "reference")
_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._]*(-[A-Za-z0-9._]+)*")


# --- the rules, as pure functions over one class's arrays --------------------------------------


def bin_index(frequencies: np.ndarray, bins: Sequence[float] = HISTOGRAM_BINS) -> np.ndarray:
    """The histogram bin of each frequency: the first boundary it is below, else the last bin."""
    return np.searchsorted(np.asarray(bins, dtype=np.float64), frequencies, side="right")


def round_histogram(counts: np.ndarray, total: int) -> np.ndarray:
    """Scale ``counts`` to sum to ``total`` by largest-remainder rounding, ties to the higher bin.

    Integer arithmetic, so remainders that tie really tie: [2, 3, 5, 6, 4] -> [1, 1, 3, 3, 2].
    """
    counts = np.asarray(counts, dtype=np.int64)
    whole = int(counts.sum())
    if whole <= 0 or (counts < 0).any():
        raise SamplingError(
            f"cannot scale the histogram {counts.tolist()}", fix="a target histogram needs images"
        )
    scaled, remainder = np.divmod(counts * total, whole)
    missing = total - int(scaled.sum())
    order = np.lexsort((np.arange(len(counts)), remainder))[::-1]  # largest remainder, then higher bin
    scaled[order[:missing]] += 1
    return scaled


def exclusion_codes(
    *,
    blacklisted: np.ndarray,
    flagged: np.ndarray,
    annotations: np.ndarray,
    min_annotations: int,
    near_duplicate: np.ndarray,
    reviewed: np.ndarray,
    frequency: np.ndarray | None = None,
    threshold: np.ndarray | None = None,
) -> np.ndarray:
    """0 for an eligible candidate, else ``1 + index`` of the first reason in ``EXCLUSION_REASONS``.

    ``threshold`` (per candidate) applies only to the Threshold rule; without it nothing is
    below threshold.
    """
    below = (
        np.zeros(len(annotations), dtype=bool)
        if threshold is None
        else ~(np.asarray(frequency) >= np.asarray(threshold))
    )
    conditions = [
        np.asarray(blacklisted, dtype=bool),
        np.asarray(flagged, dtype=bool),
        np.asarray(annotations) < min_annotations,
        below,
        np.asarray(near_duplicate, dtype=bool),
        ~np.asarray(reviewed, dtype=bool),
    ]
    return np.select(conditions, np.arange(1, len(conditions) + 1), 0).astype(np.int8)


def select_threshold(
    ids: np.ndarray, eligible: np.ndarray, previous: np.ndarray, n: int, rng: random.Random
) -> list[str]:
    """Keep the previous revision's eligible images (at most ``n``: :func:`sample` checks), fill
    up with ``rng.sample`` of the others (sorted by id); a short class gets every eligible image."""
    ids = np.asarray(ids, dtype=str)
    carried = sorted(ids[eligible & previous].tolist())
    others = sorted(ids[eligible & ~previous].tolist())
    need = n - len(carried)
    return carried + (others if len(others) < need else rng.sample(others, need))


def select_matched_frequency(
    ids: np.ndarray,
    bins: np.ndarray,
    eligible: np.ndarray,
    previous: np.ndarray,
    target: np.ndarray,
    rng: random.Random,
    *,
    allow_upward_sampling: bool = True,
) -> tuple[list[str], int]:
    """Fill each bin to ``target`` and return (selected ids in bin order, slots filled upward).

    Per bin: the previous revision's eligible images (all, or ``rng.sample`` of them when there
    are more than the target), then ``rng.sample`` of the other eligible candidates. With
    ``allow_upward_sampling`` a bin still short takes, slot by slot, from the next higher bin with
    candidates left (a previous-revision image first, else a random one); never from a lower bin.
    """
    ids = np.asarray(ids, dtype=str)
    in_bin = [np.asarray(bins) == b for b in range(len(target))]
    kept: list[list[str]] = []
    for b, members in enumerate(in_bin):
        carried = sorted(ids[eligible & previous & members].tolist())
        kept.append(carried if len(carried) <= target[b] else rng.sample(carried, int(target[b])))
    free = eligible & ~np.isin(ids, list(chain.from_iterable(kept)))
    pools = [sorted(ids[free & members].tolist()) for members in in_bin]
    for b, pool in enumerate(pools):
        need = int(target[b]) - len(kept[b])
        taken = pool if need > len(pool) else rng.sample(pool, need)
        kept[b].extend(taken)
        pools[b] = sorted(set(pool) - set(taken))
    borrowed = (
        _borrow_upward(kept, pools, target, set(ids[previous].tolist()), rng) if allow_upward_sampling else 0
    )
    return list(chain.from_iterable(kept)), borrowed


def _borrow_upward(
    kept: list[list[str]], pools: list[list[str]], target: np.ndarray, previous: set[str], rng: random.Random
) -> int:
    borrowed = 0
    for b in range(len(target)):
        for _ in range(int(target[b]) - len(kept[b])):
            source = next((h for h in range(b + 1, len(pools)) if pools[h]), None)
            if source is None:
                break
            again = [i for i in pools[source] if i in previous]
            pick = again[0] if again else rng.sample(pools[source], 1)[0]
            pools[source].remove(pick)
            kept[b].append(pick)
            borrowed += 1
    return borrowed


def select_top_images(
    ids: np.ndarray,
    frequency: np.ndarray,
    annotations: np.ndarray,
    eligible: np.ndarray,
    previous: np.ndarray,
    n: int,
) -> list[str]:
    """The first ``n`` eligible candidates sorted descending on (frequency, annotations, was in
    the previous revision, id): deterministic, no randomness."""
    ids = np.asarray(ids, dtype=str)
    index = np.flatnonzero(eligible)
    keys = (ids[index], previous[index], annotations[index], frequency[index])
    order = np.lexsort(keys)[::-1]
    return ids[index[order[:n]]].tolist()


# --- strategies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    """One class's candidates, sorted by id, as aligned arrays."""

    ids: np.ndarray
    frequency: np.ndarray
    annotations: np.ndarray
    codes: np.ndarray
    previous: np.ndarray

    @property
    def eligible(self) -> np.ndarray:
        return self.codes == 0


class SamplingStrategy(ABC):
    """What the three rules share: a letter, the published function name, manifest fields."""

    variant: ClassVar[str]
    letter: ClassVar[str]
    sampling_function: ClassVar[str]
    min_annotations: int

    def validate(self, classes: ClassSet) -> None:
        _check_count("min_annotations", self.min_annotations, minimum=0)

    def class_threshold(self, class_key: str) -> float | None:
        """The frequency a candidate must reach to be eligible (only Threshold has one)."""
        return None

    def manifest_fields(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Variant fields in published order: after ``target_size``, after ``is_valid``, after
        ``starting_from``."""
        return {"min_num_annotations": self.min_annotations}, {}, {}

    @abstractmethod
    def _select_class(
        self, pool: _Pool, n: int, rng: random.Random, references: np.ndarray | None
    ) -> tuple[list[str], int]:
        """One class's images, and how many slots a higher bin filled."""

    def _references_short(self, references: np.ndarray | None) -> bool:
        return False


@dataclass(frozen=True)
class Threshold(SamplingStrategy):
    """ImageNetV2 Threshold0.7: random eligible candidates with frequency >= ``threshold``."""

    threshold: float = 0.7
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    """Per-class overrides (the published set lowered "chest", "redbone" and "nail")."""
    min_annotations: int = 10

    variant: ClassVar[str] = "threshold"
    letter: ClassVar[str] = "a"
    sampling_function: ClassVar[str] = "sample_above_threshold"

    def validate(self, classes: ClassSet) -> None:
        super().validate(classes)
        for key, value in {"threshold": self.threshold, **self.class_thresholds}.items():
            _check_fraction(value, where=key)
        unknown = sorted(k for k in self.class_thresholds if k not in classes)
        if unknown:
            raise SamplingError(
                f"per-class thresholds name classes missing from the class set: {unknown[:5]}",
                where=classes.name,
                fix="use class ids of the project (see `heldout classes show`)",
            )

    def class_threshold(self, class_key: str) -> float | None:
        return float(self.class_thresholds.get(class_key, self.threshold))

    def manifest_fields(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        head = {"selection_frequency_threshold": self.threshold, "min_num_annotations": self.min_annotations}
        return head, {}, {"wnid_thresholds": dict(sorted(self.class_thresholds.items()))}

    def _select_class(
        self, pool: _Pool, n: int, rng: random.Random, references: np.ndarray | None
    ) -> tuple[list[str], int]:
        return select_threshold(pool.ids, pool.eligible, pool.previous, n, rng), 0


@dataclass(frozen=True)
class MatchedFrequency(SamplingStrategy):
    """ImageNetV2 MatchedFrequency: per class, the reference images' frequency histogram."""

    bins: tuple[float, ...] = HISTOGRAM_BINS
    min_annotations: int = 10
    min_reference_annotations: int = 10
    """A reference image shapes the target histogram only with this many annotations."""
    min_reference_images: int = 20
    """A class with fewer such reference images cannot be filled (its histogram is unreliable)."""
    allow_upward_sampling: bool = True

    variant: ClassVar[str] = "matched-frequency"
    letter: ClassVar[str] = "b"
    sampling_function: ClassVar[str] = "sample_wnid_histogram"

    def validate(self, classes: ClassSet) -> None:
        super().validate(classes)
        _check_count("min_reference_annotations", self.min_reference_annotations, minimum=0)
        _check_count("min_reference_images", self.min_reference_images, minimum=1)
        edges = np.asarray(self.bins, dtype=np.float64)
        if not len(edges) or (np.diff(edges) <= 0).any() or edges[0] <= 0 or edges[-1] >= 1:
            raise SamplingError(
                f"histogram bins must rise strictly inside (0, 1), not {list(self.bins)}",
                where="bins",
                fix="e.g. 0.2, 0.4, 0.6, 0.8",
            )

    def manifest_fields(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        head = {
            "histogram_bins": list(self.bins),
            "min_num_annotations_candidates": self.min_annotations,
            "min_num_annotations_val": self.min_reference_annotations,
            "min_num_val_images_per_wnid": self.min_reference_images,
        }
        return head, {"allow_upward_sampling": self.allow_upward_sampling}, {}

    def _select_class(
        self, pool: _Pool, n: int, rng: random.Random, references: np.ndarray | None
    ) -> tuple[list[str], int]:
        counts = np.zeros(len(self.bins) + 1, dtype=np.int64) if references is None else references
        target = round_histogram(counts, n) if counts.sum() else counts
        return select_matched_frequency(
            pool.ids,
            bin_index(np.nan_to_num(pool.frequency), self.bins),
            pool.eligible,
            pool.previous,
            target,
            rng,
            allow_upward_sampling=self.allow_upward_sampling,
        )

    def _references_short(self, references: np.ndarray | None) -> bool:
        return references is None or int(references.sum()) < self.min_reference_images


@dataclass(frozen=True)
class TopImages(SamplingStrategy):
    """ImageNetV2 TopImages: the best eligible candidates by frequency, then annotations."""

    min_annotations: int = 10

    variant: ClassVar[str] = "top-images"
    letter: ClassVar[str] = "c"
    sampling_function: ClassVar[str] = "sample_best"

    def _select_class(
        self, pool: _Pool, n: int, rng: random.Random, references: np.ndarray | None
    ) -> tuple[list[str], int]:
        return select_top_images(
            pool.ids, pool.frequency, pool.annotations, pool.eligible, pool.previous, n
        ), 0


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassShortfall:
    """A class that could not be filled: what it got, why candidates were excluded, what to do."""

    class_key: str
    selected: int
    wanted: int
    eligible: int
    excluded: Mapping[str, int]
    """Candidates excluded for each reason, in ``EXCLUSION_REASONS`` order."""
    reference_images: int | None
    """MatchedFrequency: reference images with enough annotations (None for other rules)."""
    next_step: str


@dataclass(frozen=True, eq=False)
class SampleResult:
    """A stored test-set revision: its manifest, validity, and the classes that came up short."""

    name: str
    variant: str
    revision: int
    seed: int
    is_valid: bool
    manifest: Manifest
    shortfalls: tuple[ClassShortfall, ...]
    carried_over: int
    """Images of the previous revision kept in this one."""
    borrowed: int
    """MatchedFrequency slots filled from a higher bin."""
    run_id: int
    excluded: Mapping[str, int]
    """The exclusion report: candidates of the sampled classes kept out for each reason (the
    first that applies, in ``EXCLUSION_REASONS`` order)."""


# --- the stage --------------------------------------------------------------------------------


def sample(
    project: Project,
    strategy: SamplingStrategy,
    *,
    name: str,
    seed: int,
    per_class: int = 10,
    previous: str | None = None,
    classes: Sequence[str] | None = None,
    require_duplicate_review: bool = True,
    username: str | None = None,
    time_string: str | None = None,
) -> SampleResult:
    """Sample revision ``<name>-<letter>-<n>`` of a test set and store it with its manifest.

    ``previous`` names a dataset of this project to start from (``n`` = its revision + 1, else 0);
    ``classes`` restricts the set to some classes of the class set (default: all of them).
    ``require_duplicate_review=False`` lets projects without near-duplicate search opt out of the
    review requirement, explicitly and on the record. ``username`` and ``time_string`` go into
    the manifest as given (the published fields), so the manifest stays reproducible.
    Bad input raises ``SamplingError`` before anything is written.
    """
    _check_inputs(project, strategy, name=name, seed=seed, per_class=per_class)
    class_keys = _class_keys(project.classes, classes)
    with project.transaction() as session:
        before = _previous_revision(session, previous, strategy, name, project.classes, per_class)
        revision = before.revision + 1 if before else 0
        full_name = f"{name}-{strategy.letter}-{revision}"
        if session.scalar(select(Dataset.dataset_id).where(Dataset.name == full_name)) is not None:
            raise SamplingError(
                f"a dataset named {full_name!r} exists already",
                where=project.root,
                fix="sample the next revision with --from, or pick another --name",
            )
        pools = _load_pools(session, project, strategy, class_keys, before, require_duplicate_review)
        references = (
            _reference_counts(session, strategy, class_keys) if isinstance(strategy, MatchedFrequency) else {}
        )
        review_targets = thresholds(project) if require_duplicate_review else {}
    rng = random.Random(seed)
    chosen, borrowed, shortfalls = _select(strategy, pools, references, per_class, rng)
    pairs = [(image_id, key) for key in class_keys for image_id in chosen[key]]
    rng.shuffle(pairs)
    is_valid = not shortfalls
    metadata = _manifest_metadata(
        strategy,
        name=full_name,
        seed=seed,
        target_size=per_class * len(class_keys),
        review_targets=review_targets,
        is_valid=is_valid,
        starting_from=before.name if before else None,
        require_duplicate_review=require_duplicate_review,
        classes=class_keys if classes is not None else None,
        username=username,
        time_string=time_string,
    )
    manifest = _build_manifest(pairs, metadata)
    carried = sum(int(np.isin(chosen[k], pools[k].ids[pools[k].previous]).sum()) for k in class_keys)
    parameters = {
        **_strategy_parameters(strategy),
        "name": full_name,
        "per_class": per_class,
        "previous": before.name if before else None,
        "classes": len(class_keys),
        "require_duplicate_review": require_duplicate_review,
    }
    excluded = _excluded(np.concatenate([pool.codes for pool in pools.values()]))
    with project.run("sample", parameters, seed=seed) as run:
        _store(project, strategy, full_name, revision, before, seed, is_valid, manifest, run.run_id)
        run.counts.update(
            images=len(pairs),
            short_classes=len(shortfalls),
            carried_over=carried,
            borrowed=borrowed,
            excluded=excluded,
        )
        if before is not None:
            from heldout.review import carry_over_reviews  # review builds on sampling's histograms

            run.counts["reviews_carried"] = len(carry_over_reviews(project, full_name))
    return SampleResult(
        full_name,
        strategy.variant,
        revision,
        seed,
        is_valid,
        manifest,
        tuple(shortfalls),
        carried,
        borrowed,
        run.run_id,
        excluded,
    )


def dataset_manifest(project: Project, name: str) -> Manifest:
    """The manifest of a stored dataset, byte-identical to the one :func:`sample` returned."""
    with project.transaction() as session:
        document = session.scalar(select(Dataset.manifest).where(Dataset.name == name))
    if document is None:
        raise SamplingError(f"no dataset named {name!r} in this project", where=project.root)
    return Manifest.from_bytes((json.dumps(document, indent=2) + "\n").encode(), source=name)


@dataclass(frozen=True)
class _Revision:
    name: str
    revision: int
    image_ids: np.ndarray


def _check_inputs(
    project: Project, strategy: SamplingStrategy, *, name: str, seed: int, per_class: int
) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise SamplingError(
            f"the seed must be an integer, not {seed!r}", where="seed", fix="e.g. --seed 600717499"
        )
    _check_count("per_class", per_class, minimum=1)
    if not _SET_NAME.fullmatch(name) or len(name) > 100:
        raise SamplingError(
            f"{name!r} is not a usable set name",
            where="name",
            fix="letters, digits, '.', '_' and single '-' between them, e.g. imagenetv2",
        )
    strategy.validate(project.classes)


def _check_count(what: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SamplingError(f"{what} must be an integer >= {minimum}, not {value!r}", where=what)


def _check_fraction(value: float, *, where: str) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise SamplingError(
            f"a selection-frequency threshold lies in [0, 1], not {value!r}", where=where, fix="e.g. 0.7"
        )


def _class_keys(class_set: ClassSet, classes: Sequence[str] | None) -> list[str]:
    if classes is None:
        return sorted(class_set.ids.tolist())
    keys = sorted(set(classes))
    unknown = [k for k in keys if k not in class_set]
    if not keys or unknown:
        raise SamplingError(
            f"classes missing from the class set: {unknown[:5]}" if unknown else "no classes given",
            where=class_set.name,
            fix="use class ids of the project (see `heldout classes show`)",
        )
    return keys


def _previous_revision(
    session: Session,
    previous: str | None,
    strategy: SamplingStrategy,
    name: str,
    class_set: ClassSet,
    per_class: int,
) -> _Revision | None:
    if previous is None:
        return None
    row = session.scalar(select(Dataset).where(Dataset.name == previous))
    if row is None:
        raise SamplingError(
            f"no dataset named {previous!r} in this project",
            where="--from",
            fix="start from a revision sampled in this project (see `heldout status`), or leave out --from",
        )
    same_rule = strategy.variant == row.variant or (
        strategy.sampling_function == row.manifest.get("sampling_function")  # an imported published set
    )
    if not same_rule or row.name != f"{name}-{strategy.letter}-{row.revision}":
        raise SamplingError(
            f"{previous!r} is a {row.variant} revision, not one of {name}-{strategy.letter}-*",
            where="--from",
            fix=f"a revision continues its own set and rule: start from a {name}-{strategy.letter}-N",
        )
    images = session.execute(
        select(DatasetImage.image_id, DatasetImage.class_key).where(DatasetImage.dataset_id == row.dataset_id)
    ).all()
    ids = np.asarray([i for i, _ in images], dtype=str)
    keys = np.asarray([k for _, k in images], dtype=str)
    known = class_set.has_ids(keys) if len(keys) else np.ones(0, dtype=bool)
    if not known.all():
        raise SamplingError(
            f"{previous!r} holds classes missing from the class set: {sorted(set(keys[~known].tolist()))[:5]}",
            where="--from",
        )
    _, counts = np.unique(keys, return_counts=True)
    if len(counts) and counts.max() > per_class:
        raise SamplingError(
            f"{previous!r} has {counts.max()} images in a class, more than --per-class {per_class}",
            where="--per-class",
            fix="use at least the previous revision's count per class",
        )
    return _Revision(row.name, row.revision, ids)


def _load_pools(
    session: Session,
    project: Project,
    strategy: SamplingStrategy,
    class_keys: list[str],
    before: _Revision | None,
    require_duplicate_review: bool,
) -> dict[str, _Pool]:
    """Every candidate of the chosen classes with its frequency, annotations and exclusion code."""
    ids, keys, frequency, annotations = _scored_arrays(session, "candidate", class_keys)
    threshold = None
    if isinstance(strategy, Threshold):
        threshold = np.asarray([strategy.class_threshold(k) for k in class_keys])[
            np.searchsorted(class_keys, keys)
        ]
    codes = exclusion_codes(
        blacklisted=np.isin(ids, _ids(session, select(Blacklist.image_id))),
        flagged=np.isin(ids, _ids(session, select(ImageFlag.image_id))),
        annotations=annotations,
        min_annotations=strategy.min_annotations,
        near_duplicate=np.isin(
            ids,
            _ids(
                session,
                select(DuplicateStatus.image_id).where(DuplicateStatus.status.in_(NEAR_DUPLICATE_STATUSES)),
            ),
        ),
        reviewed=np.ones(len(ids), dtype=bool),
        frequency=frequency,
        threshold=threshold,
    )
    if require_duplicate_review:
        pending = np.flatnonzero(codes == 0)
        codes[pending[~sufficiently_reviewed(project, ids[pending].tolist())]] = 1 + EXCLUSION_REASONS.index(
            "unreviewed"
        )
    previous = np.isin(ids, before.image_ids) if before else np.zeros(len(ids), dtype=bool)
    order = np.lexsort((ids, keys))
    starts = np.searchsorted(keys[order], class_keys, side="left")
    ends = np.searchsorted(keys[order], class_keys, side="right")
    return {
        key: _Pool(*(a[order[s:e]] for a in (ids, frequency, annotations, codes, previous)))
        for key, s, e in zip(class_keys, starts, ends, strict=True)
    }


def _scored_arrays(
    session: Session, role: str, class_keys: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ids, class keys, frequency, annotations) of the images of ``role`` in ``class_keys``, sorted
    by id, scored by the question of their own class (NaN and 0 when unscored)."""
    query = (
        select(Image.image_id, Image.class_key, Score.value, Score.annotations)
        .outerjoin(Question, and_(Question.image_id == Image.image_id, Question.class_key == Image.class_key))
        .outerjoin(Score, and_(Score.question_id == Question.question_id, Score.method == FREQUENCY_METHOD))
        .where(Image.role == role, Image.class_key.is_not(None))
        .order_by(Image.image_id)
    )
    rows = session.connection().execute(query).all()  # Core rows: ORM rows cost twice the time
    ids = np.asarray([r[0] for r in rows], dtype=str)
    keys = np.asarray([r[1] for r in rows], dtype=str)
    frequency = np.asarray([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
    annotations = np.asarray([r[3] or 0 for r in rows], dtype=np.int64)
    keep = np.isin(keys, class_keys)
    _check_frequencies(ids[keep], frequency[keep])
    return ids[keep], keys[keep], frequency[keep], annotations[keep]


def _ids(session: Session, query: Any) -> np.ndarray:
    return np.asarray(session.scalars(query).all(), dtype=str)


def _check_frequencies(ids: np.ndarray, frequency: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isnan(frequency) & ~((frequency >= 0) & (frequency <= 1)))
    if len(bad):
        raise SamplingError(
            f"{len(bad)} selection frequencies lie outside [0, 1], e.g. {frequency[bad[0]]!r}",
            where=str(ids[bad[0]]),
            fix="re-run `heldout aggregate frequency`; frequencies are shares of answers",
        )


def _reference_counts(
    session: Session, strategy: MatchedFrequency, class_keys: list[str]
) -> dict[str, np.ndarray]:
    """Per class, the bin counts of reference images with enough annotations (positive controls)."""
    _, keys, frequency, annotations = _scored_arrays(session, "reference", class_keys)
    usable = annotations >= max(strategy.min_reference_annotations, 1)
    n_bins = len(strategy.bins) + 1
    flat = np.searchsorted(class_keys, keys[usable]) * n_bins + bin_index(frequency[usable], strategy.bins)
    counts = np.bincount(flat.astype(np.int64), minlength=len(class_keys) * n_bins).reshape(-1, n_bins)
    return dict(zip(class_keys, counts, strict=True))


def _select(
    strategy: SamplingStrategy,
    pools: dict[str, _Pool],
    references: dict[str, np.ndarray],
    per_class: int,
    rng: random.Random,
) -> tuple[dict[str, list[str]], int, list[ClassShortfall]]:
    """Apply the rule class by class, in sorted class order (the order the rng is drawn in)."""
    chosen: dict[str, list[str]] = {}
    shortfalls: list[ClassShortfall] = []
    borrowed = 0
    for key, pool in pools.items():
        chosen[key], extra = strategy._select_class(pool, per_class, rng, references.get(key))
        borrowed += extra
        if len(chosen[key]) < per_class or strategy._references_short(references.get(key)):
            shortfalls.append(_shortfall(strategy, key, pool, len(chosen[key]), per_class, references))
    return chosen, borrowed, shortfalls


def _excluded(codes: np.ndarray) -> dict[str, int]:
    """Candidates excluded for each reason, from their exclusion codes."""
    counts = np.bincount(codes.astype(np.int64), minlength=len(EXCLUSION_REASONS) + 1)
    return dict(zip(EXCLUSION_REASONS, counts[1:].tolist(), strict=True))


def _shortfall(
    strategy: SamplingStrategy,
    key: str,
    pool: _Pool,
    selected: int,
    per_class: int,
    references: dict[str, np.ndarray],
) -> ClassShortfall:
    excluded = _excluded(pool.codes)
    reference_images = int(references[key].sum()) if key in references else None
    return ClassShortfall(
        key,
        selected,
        per_class,
        int((pool.codes == 0).sum()),
        excluded,
        reference_images,
        _next_step(strategy, key, excluded, reference_images),
    )


def _next_step(
    strategy: SamplingStrategy, key: str, excluded: Mapping[str, int], reference_images: int | None
) -> str:
    """The advice the published team followed: more annotations, more review, or more candidates."""
    steps = []
    if isinstance(strategy, MatchedFrequency) and (reference_images or 0) < strategy.min_reference_images:
        steps.append(
            f"annotate more reference images of the class as positive controls ({reference_images} of "
            f"{strategy.min_reference_images} have >= {strategy.min_reference_annotations} annotations)"
        )
    if excluded["few_annotations"]:
        steps.append(
            f"collect annotations for {excluded['few_annotations']} candidates with fewer than "
            f"{strategy.min_annotations} (`heldout crowd tasks build grid --classes {key}`)"
        )
    if excluded["unreviewed"]:
        steps.append(f"review the near-duplicate neighbours of {excluded['unreviewed']} candidates")
    if excluded["below_threshold"]:
        steps.append("lower this class's threshold (--class-threshold) if the class is hard")
    steps.append(
        f"collect more candidates (`heldout collect flickr -c {key}`), then sample the next revision"
    )
    return "; ".join(steps)


def _manifest_metadata(
    strategy: SamplingStrategy,
    *,
    name: str,
    seed: int,
    target_size: int,
    review_targets: Mapping[str, float],
    is_valid: bool,
    starting_from: str | None,
    require_duplicate_review: bool,
    classes: list[str] | None,
    username: str | None,
    time_string: str | None,
) -> dict[str, Any]:
    """The published key order: provenance, ``image_filenames``, then validity and lineage."""
    head, after_valid, after_start = strategy.manifest_fields()
    metadata: dict[str, Any] = {
        "sampling_function": strategy.sampling_function,
        "target_size": target_size,
        **head,
        "near_duplicate_review_targets": dict(review_targets),
        "time_string": time_string,
        "username": username,
        "seed": int(seed),
        "image_filenames": None,
        "is_valid": is_valid,
        **after_valid,
    }
    if starting_from is not None:
        metadata["starting_from"] = f"{starting_from}.json"
    metadata.update(after_start)
    metadata["require_duplicate_review"] = require_duplicate_review
    if classes is not None:
        metadata["classes"] = classes
    metadata["output_filename"] = f"{name}.json"
    return metadata


def _build_manifest(pairs: list[tuple[str, str]], metadata: dict[str, Any]) -> Manifest:
    return Manifest(
        ids=np.asarray([p[0] for p in pairs], dtype=str),
        wnids=np.asarray([p[1] for p in pairs], dtype=str),
        metadata={k: v for k, v in metadata.items() if k != "image_filenames"},
        key_order=tuple(metadata),
        trailing_newline=True,
        source=metadata["output_filename"],
    )


def _strategy_parameters(strategy: SamplingStrategy) -> dict[str, Any]:
    out: dict[str, Any] = {"variant": strategy.variant}
    for key, value in vars(strategy).items():
        out[key] = (
            dict(value) if isinstance(value, Mapping) else list(value) if isinstance(value, tuple) else value
        )
    return out


def _store(
    project: Project,
    strategy: SamplingStrategy,
    name: str,
    revision: int,
    before: _Revision | None,
    seed: int,
    is_valid: bool,
    manifest: Manifest,
    run_id: int,
) -> None:
    """The Dataset row and its images, in manifest order, in one transaction."""
    with project.transaction() as session:
        row = Dataset(
            name=name,
            variant=strategy.variant,
            revision=revision,
            starting_from=before.name if before else None,
            seed=int(seed),
            is_valid=is_valid,
            manifest=json.loads(manifest.to_bytes()),
            run_id=run_id,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        bulk_insert(
            session,
            "dataset_image",
            ("dataset_id", "position", "image_id", "class_key"),
            (
                (row.dataset_id, position, image_id, key)
                for position, (image_id, key) in enumerate(
                    zip(manifest.ids.tolist(), manifest.wnids.tolist(), strict=True)
                )
            ),
        )
