"""Errors heldout raises, each saying what went wrong, where, and how to fix it.

The CLI maps every ``HeldoutError`` to its message and exit code 2 in one place; foreign errors
(json, numpy, Pillow, tarfile) are wrapped at the boundary where they happen, so no caller has
to know which library was underneath.

    HeldoutError
    ├── ConfigError
    ├── ProjectError
    │   ├── ProjectNotFoundError
    │   └── SchemaVersionError
    ├── StoreError
    │   ├── ObjectMissingError
    │   └── ChecksumMismatchError
    ├── SourceError
    │   └── RateLimitedError
    ├── ClassSetError
    ├── ImageError
    ├── DatasetError
    │   ├── UnknownDatasetError
    │   ├── ManifestError
    │   └── ManifestMismatchError
    ├── LabelsError
    ├── AggregationError
    ├── DedupError
    ├── AnalysisError
    ├── SamplingError
    ├── ReviewError
    ├── CrowdError                  (its ``what`` is safe to show a worker)
    │   ├── TokenError
    │   ├── TaskNotAssignedError
    │   ├── AssignmentClosedError
    │   ├── DuplicateAnswerError
    │   ├── InvalidAnswersError
    │   ├── InvalidFieldError
    │   ├── WorkerPausedError
    │   ├── NoTaskAvailableError
    │   └── UnknownTaskError
    └── EvaluationError
        ├── PredictionsMismatchError
        └── ModelError
            └── ModelOutputError
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AggregationError",
    "AnalysisError",
    "AssignmentClosedError",
    "ChecksumMismatchError",
    "ClassSetError",
    "ConfigError",
    "CrowdError",
    "DatasetError",
    "DedupError",
    "DuplicateAnswerError",
    "EvaluationError",
    "HeldoutError",
    "ImageError",
    "InvalidAnswersError",
    "InvalidFieldError",
    "LabelsError",
    "ManifestError",
    "ManifestMismatchError",
    "ModelError",
    "ModelOutputError",
    "NoTaskAvailableError",
    "ObjectMissingError",
    "PredictionsMismatchError",
    "ProjectError",
    "ProjectNotFoundError",
    "RateLimitedError",
    "ReviewError",
    "SamplingError",
    "SchemaVersionError",
    "SourceError",
    "StoreError",
    "TaskNotAssignedError",
    "TokenError",
    "UnknownDatasetError",
    "UnknownTaskError",
    "WorkerPausedError",
]


class HeldoutError(Exception):
    """Root of every error heldout raises on purpose.

    ``what`` is the problem, ``where`` the file, name or field it was found in, and ``fix`` one
    sentence on what the user can do about it.
    """

    def __init__(self, what: str, *, where: str | Path | None = None, fix: str | None = None):
        self.what = what
        self.where = str(where) if where is not None else None
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text}\n  fix: {self.fix}" if self.fix else text


class ConfigError(HeldoutError):
    """A setting or command-line option has an unusable value."""


class ProjectError(HeldoutError):
    """A project folder or its catalog cannot be used."""


class ProjectNotFoundError(ProjectError):
    """No ``heldout.toml`` where a project was expected."""


class SchemaVersionError(ProjectError):
    """The catalog was written by a newer heldout than this one."""


class StoreError(HeldoutError):
    """The image store cannot be read or written."""


class ObjectMissingError(StoreError):
    """A key the catalog names is not in the store."""


class ChecksumMismatchError(StoreError):
    """Stored bytes do not hash to their key."""


class SourceError(HeldoutError):
    """A candidate source (search API, folder, URL list) failed."""


class RateLimitedError(SourceError):
    """The source keeps refusing requests for going too fast."""


class ClassSetError(HeldoutError):
    """A class list is malformed or a class is unknown."""


class ImageError(HeldoutError):
    """An image file cannot be read or decoded."""


class DatasetError(HeldoutError):
    """A test set cannot be loaded, written or matched."""


class UnknownDatasetError(DatasetError):
    """No test set of this name is registered."""


class ManifestError(DatasetError):
    """A manifest file is malformed (bad JSON, duplicate ids, unknown wnids)."""


class ManifestMismatchError(DatasetError):
    """An image folder does not match its manifest."""


class ReviewError(HeldoutError):
    """A final-review decision names an unknown image, class, status or reviewer."""


class LabelsError(HeldoutError):
    """A label file (ReaL lists, original labels) is malformed."""


class AggregationError(HeldoutError):
    """Answers cannot be aggregated (malformed arrays, unknown workers or questions, degenerate data)."""


class DedupError(HeldoutError):
    """Near-duplicate search cannot run on its input (mismatched feature rows, unusable images)."""


class AnalysisError(HeldoutError):
    """Accuracies cannot be analysed (too few models for a line, NaN or out-of-range values)."""


class SamplingError(HeldoutError):
    """A test set cannot be sampled as asked (unknown previous revision, taken name, bad parameters)."""


class CrowdError(HeldoutError):
    """Crowd work cannot go on as asked. ``what`` is safe to show to a worker."""


class TokenError(CrowdError):
    """A signed token is forged, malformed, of the wrong kind, or expired."""


class TaskNotAssignedError(CrowdError):
    """The worker was not given this task or assignment."""


class AssignmentClosedError(CrowdError):
    """The assignment expired, or was submitted, approved or rejected and takes no more answers."""


class DuplicateAnswerError(CrowdError):
    """A submitted assignment was submitted again with different answers."""


class InvalidAnswersError(CrowdError):
    """Answers name positions that are not in the task, miss some, or hold values outside 0..2."""


class InvalidFieldError(CrowdError):
    """An id or free-text field has characters or a length outside what is allowed."""


class WorkerPausedError(CrowdError):
    """The worker is paused and gets no more tasks."""


class NoTaskAvailableError(CrowdError):
    """No open task has a free slot this worker may take."""


class UnknownTaskError(CrowdError):
    """No task, assignment or worker with this id."""


class EvaluationError(HeldoutError):
    """Predictions cannot be scored."""


class PredictionsMismatchError(EvaluationError):
    """Predictions do not line up with the test set (rows, ids, class indices)."""


class ModelError(EvaluationError):
    """A model cannot be found, loaded or run (unknown spec, not an ONNX file, a raising callable)."""


class ModelOutputError(ModelError):
    """A model's output has the wrong shape, class count, dtype or non-finite values."""
