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

__all__ = [
    "ModelOutput",
    "evaluate_model",
    "files_digest",
    "logits_key",
    "predict_testset",
    "run_model",
    "run_models",
]

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
    (output,) = run_models(
        [model],
        paths,
        ids,
        images_digest=images_digest,
        cache=cache,
        batch_size=batch_size,
        chunk_rows=chunk_rows,
        progress=progress,
    )
    return output


def run_models(
    models: Sequence[Model],
    paths: Sequence[str | Path],
    ids: Sequence[str],
    *,
    images_digest: str,
    cache: str | Path | None = None,
    batch_size: int = BATCH_ROWS,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
) -> list[ModelOutput]:
    """:func:`run_model` for several models over the same images, each chunk decoded and
    preprocessed once per distinct preprocessing however many models read it.

    A testbed of small models sharing one input pipeline spends most of its time decoding, not
    predicting: ten scikit-learn models on 28 px inputs decode each file once here, not ten
    times. Each model keeps its own cache folder, so the result is the same as ``run_model``
    per model, and a model added later only runs itself.
    """
    ids = np.asarray(ids, dtype=str)
    folders = [Path(cache or cache_dir()) / "logits" / logits_key(m, images_digest) for m in models]
    total = len(paths)
    chunks: list[list[dict[str, np.ndarray]]] = [[] for _ in models]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, total, chunk_rows):
            stop = min(start + chunk_rows, total)
            name = f"rows-{start:08d}-{stop:08d}.npz"
            files = [folder / name for folder in folders]
            for number, chunk in _load_or_run(files, models, paths[start:stop], batch_size, pool).items():
                chunks[number].append(chunk)
            if progress:
                progress(stop, total)
    outputs = []
    for model, folder, parts in zip(models, folders, chunks, strict=True):
        _write_meta(folder, model, images_digest, total)
        outputs.append(_output(model, ids, parts, folder.name))
    return outputs


def _output(model: Model, ids: np.ndarray, chunks: list[dict[str, np.ndarray]], key: str) -> ModelOutput:
    """One model's chunks joined: logits of the decodable images, and why the others failed."""
    if not chunks:
        return ModelOutput(model, ids[:0], np.zeros((0, model.num_classes), dtype=np.float32), {}, key)
    mask = np.concatenate([chunk["ok"] for chunk in chunks])
    reasons = np.concatenate([chunk["reasons"] for chunk in chunks])
    failed = dict(zip(ids[~mask].tolist(), reasons.tolist(), strict=True))
    return ModelOutput(model, ids[mask], np.concatenate([chunk["logits"] for chunk in chunks]), failed, key)


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


def _load_or_run(
    files: list[Path], models: Sequence[Model], paths: Sequence, batch_size: int, pool
) -> dict[int, dict[str, np.ndarray]]:
    """Each model's rows of one chunk (by position in ``models``): read where cached, else
    computed, once per preprocessing group, and written atomically."""
    out: dict[int, dict[str, np.ndarray]] = {}
    groups: dict[str, list[int]] = {}
    for number, (path, model) in enumerate(zip(files, models, strict=True)):
        if path.is_file():
            with np.load(path) as stored:
                out[number] = {name: stored[name] for name in stored.files}
        else:
            groups.setdefault(model.preprocessing.digest(), []).append(number)
    for numbers in groups.values():
        computed = _run_chunk([models[n] for n in numbers], paths, batch_size, pool)
        for number, chunk in zip(numbers, computed, strict=True):
            buffer = io.BytesIO()
            np.savez(buffer, **chunk)
            write_atomic(files[number], buffer.getvalue())
            out[number] = chunk
    return out


def _run_chunk(
    models: Sequence[Model], paths: Sequence, batch_size: int, pool
) -> list[dict[str, np.ndarray]]:
    """Logits of the decodable images of one chunk for models sharing one preprocessing;
    preprocessing of batch i+1 overlaps inference of batch i."""
    prepare = _prepared(models[0].preprocessing)
    starts = range(0, len(paths), batch_size)
    pending = [pool.map(prepare, paths[s : s + batch_size]) for s in starts[:1]]
    logits: list[list[np.ndarray]] = [[] for _ in models]
    ok, reasons = [], []
    for index, _ in enumerate(starts):
        items = list(pending.pop(0))
        if index + 1 < len(starts):
            nxt = starts[index + 1]
            pending.append(pool.map(prepare, paths[nxt : nxt + batch_size]))
        arrays = [a for a in items if isinstance(a, np.ndarray)]
        ok.extend(isinstance(a, np.ndarray) for a in items)
        reasons.extend(a for a in items if isinstance(a, str))
        if arrays:
            batch = np.stack(arrays)
            for model, rows in zip(models, logits, strict=True):
                rows.append(model.logits(batch))
    return [
        {
            "logits": np.concatenate(rows) if rows else np.zeros((0, model.num_classes), dtype=np.float32),
            "ok": np.array(ok, dtype=bool),
            "reasons": np.array(reasons, dtype=str),
        }
        for model, rows in zip(models, logits, strict=True)
    ]


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
