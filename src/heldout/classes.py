"""Class sets: index ↔ id ↔ names ↔ description ↔ most-similar classes.

ImageNet-1k ships with the package (index = position of the wnid in the sorted list of the 1000
wnids, names = WordNet lemmas, description = WordNet gloss, similar = the 20 most WordNet-similar
other classes, most similar first). Projects with their own classes load a CSV or JSON file;
their class index is the row order of that file, because their models were trained in that order.
"""

from __future__ import annotations

import csv
import json
import lzma
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from heldout.errors import ClassSetError

__all__ = ["BUILTIN_CLASS_SETS", "ClassInfo", "ClassSet", "load_class_set"]

_SYNONYM_SEPARATOR = ";"


@dataclass(frozen=True)
class ClassInfo:
    """One class: its index in model outputs, its id (a wnid for ImageNet) and what it means."""

    index: int
    id: str
    names: tuple[str, ...]
    description: str = ""
    similar: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The first name, the one shown to people."""
        return self.names[0] if self.names else self.id


class ClassSet(Sequence[ClassInfo]):
    """An ordered set of classes; ``classes[i]`` and ``classes["n01440764"]`` both work."""

    def __init__(self, name: str, classes: Iterable[ClassInfo]):
        self.name = name
        self._classes = tuple(classes)
        self.ids = np.array([c.id for c in self._classes], dtype=str)
        if len(set(self.ids.tolist())) != len(self.ids):
            duplicated = sorted({i for i in self.ids.tolist() if (self.ids == i).sum() > 1})
            raise ClassSetError(
                f"class ids must be unique, repeated: {duplicated[:5]}",
                where=name,
                fix="give every class its own id",
            )
        if [c.index for c in self._classes] != list(range(len(self._classes))):
            raise ClassSetError("class indices must be 0..N-1 in order", where=name)
        self._sorter = np.argsort(self.ids, kind="stable")

    def __len__(self) -> int:
        return len(self._classes)

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return self._classes[self.index(key)]
        return self._classes[key]

    def __repr__(self) -> str:
        return f"ClassSet({self.name!r}, {len(self)} classes)"

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return bool(self.has_ids([key])[0])
        return key in self._classes

    def index(self, class_id: str) -> int:  # type: ignore[override]
        """The class index of ``class_id``."""
        return int(self.indices([class_id], where=self.name)[0])

    def has_ids(self, class_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """A boolean array: which of ``class_ids`` belong to this set."""
        ids = np.asarray(class_ids, dtype=str)
        pos = np.searchsorted(self.ids, ids, sorter=self._sorter)
        pos = np.minimum(pos, len(self.ids) - 1)
        return self.ids[self._sorter[pos]] == ids

    def indices(
        self, class_ids: Sequence[str] | np.ndarray, *, where: str | Path | None = None
    ) -> np.ndarray:
        """Class indices for an array of ids, vectorised; unknown ids raise ``ClassSetError``."""
        ids = np.asarray(class_ids, dtype=str)
        known = self.has_ids(ids)
        if not known.all():
            unknown = sorted(set(ids[~known].tolist()))
            raise ClassSetError(
                f"{len(unknown)} class id(s) not in {self.name}: {unknown[:5]}",
                where=where or self.name,
                fix=f"use ids from the class set {self.name!r} (see `heldout classes show`)",
            )
        return self._sorter[np.searchsorted(self.ids, ids, sorter=self._sorter)].astype(np.int64)

    def most_similar(self, class_id: str, k: int = 1) -> list[str]:
        """The ``k`` classes most often confused with ``class_id`` (negative controls come from here)."""
        return list(self[class_id].similar[:k])

    @classmethod
    def imagenet1k(cls) -> ClassSet:
        """The 1000 ImageNet classes, from package data."""
        raw = resources.files("heldout").joinpath("data/imagenet-1k.json.xz").read_bytes()
        return _from_records(json.loads(lzma.decompress(raw)), where="imagenet-1k")

    @classmethod
    def from_file(cls, path: str | Path) -> ClassSet:
        """Load a CSV (id,name,synonyms,description[,similar]) or JSON class list.

        JSON is either a list of records or ``{"name": ..., "classes": [...]}``; each record has
        ``id`` and ``name`` (or ``names``), optionally ``synonyms``, ``description``, ``similar``.
        In CSV, ``synonyms`` and ``similar`` are separated by ``;``.
        """
        path = Path(path)
        if not path.is_file():
            raise ClassSetError("class list file not found", where=path, fix="check the path")
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8-sig"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ClassSetError(f"not valid JSON: {exc}", where=path) from exc
            if isinstance(data, list):
                data = {"classes": data}
            if not isinstance(data, dict):
                raise ClassSetError(
                    "a JSON class list is a list of records or an object with a 'classes' list",
                    where=path,
                )
            data.setdefault("name", path.stem)
            return _from_records(data, where=path)
        if path.suffix.lower() == ".csv":
            try:  # utf-8-sig: spreadsheet programs start CSV files with a byte-order mark
                with path.open(newline="", encoding="utf-8-sig") as handle:
                    rows = list(csv.DictReader(handle))
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ClassSetError(f"not a readable UTF-8 CSV file: {exc}", where=path) from exc
            records = [
                {
                    **row,
                    "synonyms": _split(row.get("synonyms")),
                    "similar": _split(row.get("similar")),
                }
                for row in rows
            ]
            return _from_records({"name": path.stem, "classes": records}, where=path)
        raise ClassSetError(
            f"unsupported class list format {path.suffix!r}",
            where=path,
            fix="use a .csv (id,name,synonyms,description) or .json file",
        )


BUILTIN_CLASS_SETS = ("imagenet-1k", "fashion-mnist")


def load_class_set(name_or_path: str | Path) -> ClassSet:
    """A built-in class set by name (``imagenet-1k``, ``fashion-mnist``), else a CSV/JSON file path."""
    if str(name_or_path) == "imagenet-1k":
        return ClassSet.imagenet1k()
    if str(name_or_path) in BUILTIN_CLASS_SETS:
        raw = resources.files("heldout").joinpath(f"data/{name_or_path}.json").read_bytes()
        return _from_records(json.loads(raw), where=str(name_or_path))
    return ClassSet.from_file(name_or_path)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(_SYNONYM_SEPARATOR) if part.strip()]


def _from_records(data: dict, *, where: str | Path) -> ClassSet:
    records = data.get("classes")
    if not isinstance(records, list) or not records:
        raise ClassSetError("no classes found", where=where, fix="list at least one class")
    classes = []
    for row, record in enumerate(records):
        if not isinstance(record, dict) or not str(record.get("id") or "").strip():
            raise ClassSetError(f"class record {row} has no 'id'", where=where, fix="give every class an id")
        for key in ("names", "synonyms", "similar"):
            if isinstance(record.get(key), str):
                raise ClassSetError(f"class record {row}: {key!r} must be a list of strings", where=where)
        names = record.get("names") or [record.get("name") or record["id"]]
        names = [*names, *(s for s in record.get("synonyms") or () if s not in names)]
        classes.append(
            ClassInfo(
                index=row,
                id=str(record["id"]).strip(),
                names=tuple(str(n) for n in names),
                description=str(record.get("description") or ""),
                similar=tuple(record.get("similar") or ()),
            )
        )
    try:
        return ClassSet(str(data.get("name") or Path(str(where)).stem), classes)
    except ClassSetError as exc:  # name the file, not just the set
        raise ClassSetError(exc.what, where=where, fix=exc.fix) from exc
