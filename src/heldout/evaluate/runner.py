"""Run a model over a test set's images: batched, cached, resumable, tolerant of bad files.

Logits are cached under ``<cache>/logits/<key>/`` where the key hashes the model fingerprint,
the image list (for a test set: the manifest's sha256 and each file's name, size and mtime) and
the preprocessing, so a second run is free and a changed model, set, file or crop never reuses
stale rows. Rows are written in chunk files named by their row range, each atomically: a killed
run resumes at the first missing chunk and never reads half a file. An image that fails to decode is skipped and listed; the rest are scored.

Decoding and preprocessing (Pillow releases the GIL) run in a thread pool one batch ahead of
inference, so the two cores are busy with both at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from heldout.atomic import write_atomic
from heldout.datasets.folders import Layout, match_folder
from heldout.datasets.manifest import Manifest
from heldout.datasets.testset import TestSet
from heldout.errors import HeldoutError, ManifestMismatchError
from heldout.evaluate.predictions import Predictions
from heldout.evaluate.result import EvaluationResult
from heldout.evaluate.scoring import SubsetPolicy, evaluate
from heldout.images import decode
from heldout.models import Model, cache_dir
from heldout.preprocessing import Preprocessing

__all__ = ["ModelOutput", "evaluate_model", "files_digest", "logits_key", "predict_testset", "run_model"]

Progress = Callable[[int, int], None]
CHUNK_ROWS = 256
BATCH_ROWS = 32


@dataclass(frozen=True, eq=False)
class ModelOutput:
    """Logits for the images that decoded, their ids, and the ones that did not (id -> reason)."""

    model: Model
    ids: np.ndarray
    logits: np.ndarray
    failed: dict[str, str]
    key: str

    def predictions(self) -> Predictions:
        """The logits as scoring's ``Predictions``, aligned by image id."""
        digest = hashlib.sha256(np.ascontiguousarray(self.logits).tobytes()).hexdigest()
        return Predictions.from_array(
            self.logits,
            model=self.model.name,
            ids=self.ids,
            source=f"{self.model.name} ({self.key})",
            sha256=digest,
        )


def logits_key(model: Model, images_digest: str) -> str:
    """Cache key: model fingerprint + image list + preprocessing, hashed."""
    text = f"{model.fingerprint}\n{images_digest}\n{model.preprocessing.digest()}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def files_digest(manifest_sha256: str, paths: Sequence[str | Path]) -> str:
    """The manifest hash plus every file's name, size and mtime.

    A re-fetched or repaired image changes its size or mtime, so its stale row (or stale
    decoding failure) is not served from the cache; moving the folder keeps the cache.
    """
    digest = hashlib.sha256(manifest_sha256.encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"\n{Path(path).name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def run_model(
    model: Model,
    paths: Sequence[str | Path],
    ids: Sequence[str],
    *,
    images_digest: str,
    cache: str | Path | None = None,
    batch_size: int = BATCH_ROWS,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
) -> ModelOutput:
    """Logits of ``model`` on every image in ``paths`` (named ``ids``), through the chunk cache.

    ``images_digest`` names the image list in the cache key (a manifest sha256, or a hash of
    the paths); ``cache`` is the folder holding ``logits/`` (default: the heldout cache).
    """
    ids = np.asarray(ids, dtype=str)
    key = logits_key(model, images_digest)
    folder = Path(cache or cache_dir()) / "logits" / key
    total = len(paths)
    logits, ok, reasons = [], [], {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, total, chunk_rows):
            stop = min(start + chunk_rows, total)
            chunk = _load_or_run(
                folder / f"rows-{start:08d}-{stop:08d}.npz", model, paths[start:stop], batch_size, pool
            )
            logits.append(chunk["logits"])
            ok.append(chunk["ok"])
            reasons.update(
                zip(ids[start:stop][~chunk["ok"]].tolist(), chunk["reasons"].tolist(), strict=True)
            )
            if progress:
                progress(stop, total)
    _write_meta(folder, model, images_digest, total)
    mask = np.concatenate(ok) if ok else np.zeros(0, dtype=bool)
    rows = np.concatenate(logits) if logits else np.zeros((0, model.num_classes), dtype=np.float32)
    return ModelOutput(model, ids[mask], rows, reasons, key)


def predict_testset(
    model: Model,
    testset: TestSet,
    root: str | Path,
    *,
    layout: Layout = "auto",
    cache: str | Path | None = None,
    batch_size: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> ModelOutput:
    """``run_model`` over a test set's image folder (matched to its manifest first)."""
    match = match_folder(root, testset, layout=layout)
    if match.missing or match.mislabelled:
        raise ManifestMismatchError(
            match.summary(), where=root, fix="fetch the set again (`heldout fetch-set`)"
        )
    paths = match.paths.tolist()
    return run_model(
        model,
        paths,
        testset.ids,
        images_digest=files_digest(testset.sha256, paths),
        cache=cache,
        batch_size=batch_size,
        progress=progress,
    )


def evaluate_model(
    model: Model,
    testset: TestSet,
    root: str | Path,
    *,
    real: bool = False,
    topk: Sequence[int] = (1, 5),
    subset: np.ndarray | None = None,
    subset_policy: SubsetPolicy = "restrict",
    layout: Layout = "auto",
    cache: str | Path | None = None,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Run ``model`` on the images and score it; undecodable images are left out and flagged.

    The result's provenance names the model fingerprint and the preprocessing, next to the
    manifest's sha256 (of the whole set, even when images were left out).
    """
    output = predict_testset(model, testset, root, layout=layout, cache=cache, progress=progress)
    scored = _decodable_part(testset, output)
    result = evaluate(
        scored, output.predictions(), real=real, topk=topk, subset=subset, subset_policy=subset_policy
    )
    provenance = {
        **result.provenance,
        "manifest_sha256": testset.sha256,
        "model_fingerprint": model.fingerprint,
        "preprocessing": model.preprocessing.to_dict(),
        "logits_key": output.key,
        "images_failed": output.failed,
    }
    flags = result.flags
    excluded = dict(result.excluded)
    if output.failed:
        excluded["undecodable"] = len(output.failed)
        flags = (*flags, f"{len(output.failed)} image(s) could not be decoded and were left out")
    return replace(result, flags=flags, excluded=excluded, provenance=provenance)


def _decodable_part(testset: TestSet, output: ModelOutput) -> TestSet:
    if not output.failed:
        return testset
    keep = np.flatnonzero(~np.isin(testset.ids, list(output.failed)))
    manifest = Manifest(testset.ids[keep], testset.manifest.wnids[keep], source=testset.manifest.source)
    real = testset.real.take(keep) if testset.real is not None else None
    return replace(testset, manifest=manifest, real=real)


def _load_or_run(path: Path, model: Model, paths: Sequence, batch_size: int, pool) -> dict[str, np.ndarray]:
    if path.is_file():
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    chunk = _run_chunk(model, paths, batch_size, pool)
    buffer = io.BytesIO()
    np.savez(buffer, **chunk)
    write_atomic(path, buffer.getvalue())
    return chunk


def _run_chunk(model: Model, paths: Sequence, batch_size: int, pool) -> dict[str, np.ndarray]:
    """Logits of the decodable images of one chunk; preprocessing of batch i+1 overlaps inference of i."""
    starts = range(0, len(paths), batch_size)
    pending = [pool.map(_prepared(model.preprocessing), paths[s : s + batch_size]) for s in starts[:1]]
    logits, ok, reasons = [], [], []
    for index, _ in enumerate(starts):
        items = list(pending.pop(0))
        if index + 1 < len(starts):
            nxt = starts[index + 1]
            pending.append(pool.map(_prepared(model.preprocessing), paths[nxt : nxt + batch_size]))
        arrays = [a for a in items if isinstance(a, np.ndarray)]
        ok.extend(isinstance(a, np.ndarray) for a in items)
        reasons.extend(a for a in items if isinstance(a, str))
        if arrays:
            logits.append(model.logits(np.stack(arrays)))
    empty = np.zeros((0, model.num_classes), dtype=np.float32)
    return {
        "logits": np.concatenate(logits) if logits else empty,
        "ok": np.array(ok, dtype=bool),
        "reasons": np.array(reasons, dtype=str),
    }


def _prepared(preprocessing: Preprocessing) -> Callable[[str | Path], np.ndarray | str]:
    """Decode + preprocess one file; a decoding failure comes back as its message, not raised."""

    def prepare(path: str | Path) -> np.ndarray | str:
        try:
            return preprocessing(decode(Path(path).read_bytes(), name=str(path)))
        except (HeldoutError, OSError, ValueError) as error:
            return str(error).splitlines()[0]

    return prepare


def _write_meta(folder: Path, model: Model, images_digest: str, total: int) -> None:
    """What the cached rows are, for a person looking in the cache folder."""
    meta = {**model.describe(), "images_digest": images_digest, "images": total}
    path = folder / "meta.json"
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    if not path.is_file() or path.read_text() != text:
        write_atomic(path, text)
