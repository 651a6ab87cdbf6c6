"""The ``heldout.toml`` schema: every field has a default that works with no file at all.

Secrets (the Flickr API key and secret, S3 credentials, the signing secret of the web app) never
live in the file: they come from the environment (``HELDOUT_FLICKR_KEY``, ``HELDOUT_FLICKR_SECRET``,
the usual ``AWS_*``, ``HELDOUT_SECRET``), so a project folder can be shared or committed without
leaking them.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from heldout.atomic import write_atomic
from heldout.errors import ConfigError

__all__ = ["CONFIG_FILE", "CrowdConfig", "DownloadConfig", "FlickrConfig", "ImagesConfig", "ProjectConfig"]

CONFIG_FILE = "heldout.toml"

# Flickr licence ids (flickr.photos.licenses.getInfo): 0 = all rights reserved, 1..6 = Creative
# Commons variants, 7 = no known copyright restrictions, 8 = US government work, 9 = CC0, 10 = PDM.
ALL_FLICKR_LICENSES = tuple(range(11))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlickrConfig(_Section):
    """How candidates are searched on Flickr (the ImageNetV2 defaults)."""

    min_taken_date: date = date(2012, 7, 11)
    max_taken_date: date = date(2013, 7, 11)
    min_uploaded_date: date = date(2012, 7, 11)
    max_uploaded_date: date = date(2013, 7, 11)
    sort: str = "date-posted-asc"
    images_per_class: int = Field(200, ge=1)
    """Budget per class, split evenly over the class's synonyms (one query each)."""
    licenses: tuple[int, ...] = ALL_FLICKR_LICENSES
    use_parent_term: bool = False
    """Append a WordNet parent term ("English foxhound dog") to each query."""
    result_cap: int = Field(4000, ge=1)
    """Flickr returns at most this many results per query; larger windows are split."""
    per_page: int = Field(500, ge=1, le=500)
    requests_per_second: float = Field(1.0, gt=0)
    max_retries: int = Field(5, ge=0)
    endpoint: str = "https://api.flickr.com/services/rest/"


class DownloadConfig(_Section):
    """Concurrent downloads: bounded, with timeouts, retries and limits."""

    workers: int = Field(8, ge=1, le=64)
    timeout_s: float = Field(30.0, gt=0)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    max_bytes: int = Field(50 * 2**20, ge=1)


class ImagesConfig(_Section):
    """Image validation and renditions."""

    min_side_px: int = Field(75, ge=1)
    max_pixels: int = Field(178_956_970, ge=1)
    """Larger images are rejected as decompression bombs (Pillow's default limit x 2)."""
    jpeg_quality: int = Field(90, ge=1, le=100)
    workers: int = Field(2, ge=1, le=64)


DEFAULT_GRID_INSTRUCTIONS = (
    "Select every image that contains at least one object of this type, even if it is partly hidden, "
    "in clutter, or next to text. Select photographs only, not drawings or paintings. If you are not "
    "sure what the type is, read the definition and the linked pages first. If the task is impossible "
    "to do, return it."
)
DEFAULT_VERIFY_INSTRUCTIONS = (
    "For each label, answer yes if the image contains at least one object of that type, no if it does "
    "not, and maybe if you cannot tell."
)
DEFAULT_CONSENT = (
    "You are invited to label images for a research test set. Your answers are stored with an "
    "anonymous worker number only, never with your name or platform id. You may stop at any time."
)


class CrowdConfig(_Section):
    """Crowd work in the web app: what workers read, how long an assignment lasts, pay, and the
    rule that pauses workers whose answers carry no information (``heldout.crowd.workers``)."""

    grid_instructions: str = DEFAULT_GRID_INSTRUCTIONS
    verify_instructions: str = DEFAULT_VERIFY_INSTRUCTIONS
    consent: str = DEFAULT_CONSENT
    assignment_duration_s: int = Field(600, ge=30)
    """An assignment not submitted within this time expires and its slot is issued again."""
    reward_usd: float = Field(0.10, ge=0)
    """Pay per accepted assignment (ImageNetV2 paid 0.10 USD per 48-image grid)."""
    qualification: bool = False
    """New workers answer ``qualification`` tasks (golden questions) before real tasks."""
    qualification_min_answers: int = Field(12, ge=1)
    qualification_min_accuracy: float = Field(0.8, ge=0, le=1)
    pause_log_odds: float = Field(2.0, gt=0)
    """Pause a worker when log P(answers | spammer) / P(answers | honest) exceeds this."""
    monitor_window: int = Field(10, ge=1)
    """The pause rule looks at the worker's last this many submitted assignments."""
    honest_sensitivity: tuple[float, float] = (15.5, 6.2)
    """Beta prior of an honest worker's P(yes | class fits) (fitted on the ReaL raters)."""
    honest_false_positive: tuple[float, float] = (1.8, 26.2)
    """Beta prior of an honest worker's P(yes | class does not fit) (fitted on the ReaL raters)."""
    candidate_prior: float = Field(0.5, gt=0, lt=1)
    """P(class fits) of a candidate before other workers' answers are counted."""
    max_body_bytes: int = Field(65_536, ge=1024)
    """Larger request bodies are refused (413)."""
    adaptive: bool = False
    """Adaptive assignment: a task whose candidate questions are all settled (``AdaptivePolicy``
    on a Dawid–Skene fit of the answers so far) is closed as ``settled`` and no longer issued."""
    adaptive_threshold: float = Field(0.8, gt=0, lt=1)
    """``AdaptivePolicy.threshold``: the posterior above which a class is accepted."""
    adaptive_max_flip_probability: float = Field(0.01, ge=0, lt=1)
    """``AdaptivePolicy.max_flip_probability``."""
    adaptive_min_answers: int = Field(3, ge=1)
    """``AdaptivePolicy.min_answers``: answers every question gets before it can be settled."""
    adaptive_max_answers: int = Field(5, ge=1)
    """``AdaptivePolicy.max_answers``: a question with this many answers is settled."""
    adaptive_refit_interval_s: float = Field(30.0, ge=0)
    """Refit at most this often (seconds), unless ``adaptive_refit_submissions`` arrived sooner."""
    adaptive_refit_submissions: int = Field(20, ge=1)
    """Refit as soon as this many assignments were submitted since the last fit."""

    @model_validator(mode="after")
    def _adaptive_answers_ordered(self) -> CrowdConfig:
        if self.adaptive_min_answers > self.adaptive_max_answers:
            raise ValueError("adaptive_min_answers must not exceed adaptive_max_answers")
        return self


class ProjectConfig(_Section):
    """The whole of ``heldout.toml``."""

    name: str = "heldout-project"
    classes: str = "imagenet-1k"
    """``imagenet-1k`` or a CSV/JSON class list (relative paths are relative to the project)."""
    catalog_url: str = "sqlite:///catalog.sqlite"
    """SQLAlchemy URL; a relative SQLite path is inside the project; PostgreSQL by URL."""
    store_url: str = "images"
    """A folder (relative to the project) or ``s3://bucket/prefix``."""
    cache_dir: str = ".cache"
    """Local read cache for a remote store."""
    flickr: FlickrConfig = FlickrConfig()
    download: DownloadConfig = DownloadConfig()
    images: ImagesConfig = ImagesConfig()
    crowd: CrowdConfig = CrowdConfig()

    @field_validator("catalog_url")
    @classmethod
    def _no_password_in_url(cls, value: str) -> str:
        if "://" in value and "@" in value.split("://", 1)[1].split("/", 1)[0]:
            userinfo = value.split("://", 1)[1].split("@", 1)[0]
            if ":" in userinfo:
                raise ValueError("catalog_url must not contain a password; set PGPASSWORD or use ~/.pgpass")
        return value

    @classmethod
    def load(cls, path: str | Path) -> ProjectConfig:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            return cls.model_validate(data)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", where=path) from exc
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(problems, where=path, fix="see `heldout init --help` for the settings") from exc

    def save(self, path: str | Path) -> Path:
        data = self.model_dump(mode="json", exclude_defaults=False)
        return write_atomic(path, tomli_w.dumps(data))
