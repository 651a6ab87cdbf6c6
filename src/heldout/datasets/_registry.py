"""The registry of named test sets (timm's model registry, for datasets).

Published sets register below through the same decorator that built sets and extensions use.
Canonical names are the published ones (``imagenetv2-b-33``); aliases name what a set *is*
(``imagenetv2-matched-frequency``) and resolve to the canonical name.
"""

from __future__ import annotations

import difflib
import fnmatch
import lzma
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from heldout.classes import ClassSet, load_class_set
from heldout.datasets import _layout as release_files
from heldout.datasets.manifest import Manifest
from heldout.datasets.real import RealLabels
from heldout.datasets.testset import TestSet
from heldout.errors import UnknownDatasetError

__all__ = ["list_datasets", "load_dataset", "register_dataset", "resolve_name"]

Loader = Callable[[], TestSet]


@dataclass(frozen=True)
class _Entry:
    name: str
    loader: Loader
    aliases: tuple[str, ...]
    description: str


_ENTRIES: dict[str, _Entry] = {}
_ALIASES: dict[str, str] = {}


def register_dataset(
    name: str, *, aliases: tuple[str, ...] = (), description: str = ""
) -> Callable[[Loader], Loader]:
    """Register ``loader`` (a function returning a ``TestSet``) under ``name`` and its aliases."""

    def decorator(loader: Loader) -> Loader:
        for key in (name, *aliases):
            if key in _ENTRIES or key in _ALIASES:
                raise ValueError(f"test set name {key!r} is already registered")
        _ENTRIES[name] = _Entry(name, loader, aliases, description)
        _ALIASES.update({alias: name for alias in aliases})
        return loader

    return decorator


def list_datasets(pattern: str = "*", *, include_aliases: bool = False) -> list[str]:
    """Sorted names of registered test sets matching a shell-style ``pattern``."""
    names = [*_ENTRIES, *(_ALIASES if include_aliases else ())]
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def resolve_name(name: str) -> str:
    """The canonical name of a registered set, given its name or an alias."""
    if name in _ENTRIES:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    close = difflib.get_close_matches(name, [*_ENTRIES, *_ALIASES], n=3)
    raise UnknownDatasetError(
        f"no test set named {name!r}" + (f"; did you mean {', '.join(close)}?" if close else ""),
        fix="see `heldout datasets list`, or pass the path of a manifest JSON file",
    )


def load_dataset(name_or_path: str | Path, *, classes: str | Path | ClassSet = "imagenet-1k") -> TestSet:
    """A registered test set by name or alias, a manifest file (labels index into ``classes``), or a
    release folder (its ``manifest.json`` and the class set in its ``classes.json``)."""
    text = str(name_or_path)
    if (Path(text) / release_files.MANIFEST).is_file():
        return _load_release(Path(text))
    if text.endswith(".json") or Path(text).is_file():
        manifest = Manifest.load(text)
        class_set = classes if isinstance(classes, ClassSet) else load_class_set(classes)
        testset = TestSet(manifest.name, manifest, class_set)
        testset.labels  # noqa: B018  validate class ids now, not at scoring time
        return testset
    return _load_registered(resolve_name(text))


def _load_release(folder: Path) -> TestSet:
    manifest = Manifest.load(folder / release_files.MANIFEST)
    classes = ClassSet.from_file(folder / release_files.CLASSES)
    testset = TestSet(manifest.name, manifest, classes, description=f"heldout release at {folder}")
    testset.labels  # noqa: B018  validate class ids now, not at scoring time
    return testset


@cache
def _load_registered(name: str) -> TestSet:
    return _ENTRIES[name].loader()


@lru_cache(maxsize=1)
def _imagenet1k() -> ClassSet:
    return ClassSet.imagenet1k()


@lru_cache(maxsize=1)
def _packaged_real() -> RealLabels:
    return RealLabels.load()


def _published(name: str, *, aliases: tuple[str, ...], description: str, real: bool) -> None:
    def loader() -> TestSet:
        raw = resources.files("heldout").joinpath(f"data/manifests/{name}.json.xz").read_bytes()
        manifest = Manifest.from_bytes(lzma.decompress(raw), source=f"{name}.json (packaged)")
        labels = _packaged_real().align(manifest.ids, where=name) if real else None
        return TestSet(name, manifest, _imagenet1k(), labels, aliases, description)

    register_dataset(name, aliases=aliases, description=description)(loader)


_published(
    "imagenet-validation-original",
    aliases=("imagenet-val",),
    description="The 50,000 ImageNet (ILSVRC-2012) validation images, with ReaL labels.",
    real=True,
)
_published(
    "imagenet-annotatedval20k-0",
    aliases=(),
    description="20 ImageNet val images per class that received >= 10 MTurk annotations.",
    real=True,
)
_published(
    "imagenetv2-a-44",
    aliases=("imagenetv2-threshold0.7",),
    description="ImageNetV2 Threshold0.7: 10 images per class with selection frequency >= 0.7.",
    real=False,
)
_published(
    "imagenetv2-b-33",
    aliases=("imagenetv2-matched-frequency",),
    description="ImageNetV2 MatchedFrequency: per-class selection frequencies matched to val.",
    real=False,
)
_published(
    "imagenetv2-c-12",
    aliases=("imagenetv2-top-images",),
    description="ImageNetV2 TopImages: the 10 highest-selection-frequency images per class.",
    real=False,
)
