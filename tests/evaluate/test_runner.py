"""The model runner: batched logits over a folder, cached per key, resumable, tolerant of bad files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from heldout.classes import ClassSet, load_class_set
from heldout.datasets import Manifest, TestSet, load_dataset
from heldout.errors import ModelError, ModelOutputError
from heldout.evaluate import evaluate, evaluate_model, predict_testset, run_model, run_models
from heldout.evaluate.runner import logits_key
from heldout.models import CallableModel
from heldout.preprocessing import Preprocessing

# photo -> ImageNet index EfficientNet-Lite0 gives it (see the offline-dependency notes)
PHOTO_LABELS = {"chelsea": 282, "coffee": 967, "camera": 872}
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory, photo_bytes) -> tuple[TestSet, Path]:
    """Three real photos plus a truncated JPEG, in the released layout ``<class index>/<id>.jpeg``."""
    imagenet = load_class_set("imagenet-1k")
    folder = tmp_path_factory.mktemp("photoset")
    ids = [*PHOTO_LABELS, "broken"]
    indices = [*PHOTO_LABELS.values(), 0]
    manifest = Manifest.create(ids, imagenet.ids[indices], {"seed": 0}).save(folder / "photos.json")
    root = folder / "images"
    for image_id, index in zip(ids, indices, strict=True):
        (root / str(index)).mkdir(parents=True, exist_ok=True)
        data = photo_bytes[image_id] if image_id in photo_bytes else photo_bytes["coins"][:600]
        (root / str(index) / f"{image_id}.jpeg").write_bytes(data)
    return load_dataset(manifest), root


def test_lite0_scores_the_photos_and_skips_the_broken_file(lite0, photo_set, tmp_path):
    testset, root = photo_set
    result = evaluate_model(lite0, testset, root, cache=tmp_path)
    assert result.metrics["top1"].correct == 3 and result.metrics["top1"].total == 3
    assert result.excluded["undecodable"] == 1 and list(result.provenance["images_failed"]) == ["broken"]
    assert any("could not be decoded" in flag for flag in result.flags)


def test_result_records_fingerprint_preprocessing_and_whole_manifest(lite0, photo_set, tmp_path):
    testset, root = photo_set
    provenance = evaluate_model(lite0, testset, root, cache=tmp_path).provenance
    assert provenance["model_fingerprint"] == lite0.fingerprint
    assert provenance["preprocessing"] == lite0.preprocessing.to_dict()
    assert provenance["manifest_sha256"] == testset.sha256


def test_second_run_reads_the_cache_without_running_the_model(lite0, photo_set, tmp_path):
    testset, root = photo_set
    first = predict_testset(lite0, testset, root, cache=tmp_path)
    calls = []
    spy = CallableModel(
        lambda b: calls.append(1), preprocessing=lite0.preprocessing, fingerprint=lite0.fingerprint
    )
    again = predict_testset(spy, testset, root, cache=tmp_path)
    assert calls == [] and np.array_equal(again.logits, first.logits)
    assert (tmp_path / "logits" / first.key / "meta.json").is_file()


def test_a_replaced_image_file_is_not_served_from_the_cache(lite0, photo_set, tmp_path, photo_bytes):
    testset, root = photo_set
    copy = tmp_path / "images"
    shutil.copytree(root, copy)
    first = predict_testset(lite0, testset, copy, cache=tmp_path)
    (copy / "0" / "broken.jpeg").write_bytes(photo_bytes["coffee"])  # repaired
    again = predict_testset(lite0, testset, copy, cache=tmp_path)
    assert "broken" in first.failed and not again.failed and again.key != first.key


def test_key_changes_with_preprocessing(lite0):
    other = CallableModel(np.max, preprocessing=Preprocessing(), fingerprint=lite0.fingerprint)
    assert logits_key(lite0, "abc") != logits_key(other, "abc")


def test_predictions_plug_into_scoring(lite0, photo_set, tmp_path):
    testset, root = photo_set
    output = predict_testset(lite0, testset, root, cache=tmp_path)
    keep = testset.ids != "broken"
    assert output.ids.tolist() == testset.ids[keep].tolist()
    predictions = output.predictions()
    assert predictions.scores.shape == (3, 1000)
    assert predictions.ranked[:, 0].tolist() == list(PHOTO_LABELS.values())


# --- resumability and failures ----------------------------------------------------------------------


@pytest.fixture()
def tiny_files(tmp_path, photo_bytes) -> list[str]:
    """Ten real photo files (the sample photos, repeated)."""
    names = sorted(photo_bytes)
    paths = []
    for i in range(10):
        path = tmp_path / "files" / f"{i}.jpeg"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(photo_bytes[names[i % len(names)]])
        paths.append(str(path))
    return paths


SMALL = Preprocessing(size_px=16, crop_pct=1.0)


def brightness(batch: np.ndarray) -> np.ndarray:
    return batch.mean(axis=(2, 3))


def test_a_killed_run_resumes_at_the_first_missing_chunk(tiny_files, tmp_path):
    cache = tmp_path / "cache"
    seen = []

    def dies_on_third_batch(batch):
        seen.append(len(batch))
        if len(seen) == 3:
            raise KeyboardInterrupt  # what a kill looks like from inside
        return brightness(batch)

    dying = CallableModel(dies_on_third_batch, num_classes=3, preprocessing=SMALL, fingerprint="f")
    with pytest.raises(KeyboardInterrupt):
        run_model(
            dying,
            tiny_files,
            [str(i) for i in range(10)],
            images_digest="d",
            cache=cache,
            batch_size=2,
            chunk_rows=4,
        )
    (folder,) = (cache / "logits").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["rows-00000000-00000004.npz"]
    resumed = []
    healthy = CallableModel(
        lambda b: resumed.append(len(b)) or brightness(b), num_classes=3, preprocessing=SMALL, fingerprint="f"
    )
    output = run_model(
        healthy,
        tiny_files,
        [str(i) for i in range(10)],
        images_digest="d",
        cache=cache,
        batch_size=2,
        chunk_rows=4,
    )
    assert sum(resumed) == 6 and output.logits.shape == (10, 3)
    fresh = run_model(
        healthy,
        tiny_files,
        [str(i) for i in range(10)],
        images_digest="d",
        cache=tmp_path / "fresh",
        batch_size=2,
        chunk_rows=4,
    )
    assert np.array_equal(output.logits, fresh.logits)


def test_a_raising_model_leaves_no_cache_entry(tiny_files, tmp_path):
    def broken(batch):
        raise ValueError("bad weights")

    model = CallableModel(broken, num_classes=3, preprocessing=SMALL, fingerprint="g")
    with pytest.raises(ModelError, match="bad weights"):
        run_model(model, tiny_files, [str(i) for i in range(10)], images_digest="d", cache=tmp_path / "cache")
    assert not list(tmp_path.rglob("*.npz"))


def test_wrong_class_count_mid_run_is_an_error_without_partial_files(tiny_files, tmp_path):
    model = CallableModel(brightness, num_classes=1000, preprocessing=SMALL, fingerprint="h")
    with pytest.raises(ModelOutputError):
        run_model(model, tiny_files, [str(i) for i in range(10)], images_digest="d", cache=tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_progress_reports_every_chunk(tiny_files, tmp_path):
    model = CallableModel(brightness, num_classes=3, preprocessing=SMALL, fingerprint="i")
    calls = []
    run_model(
        model,
        tiny_files,
        [str(i) for i in range(10)],
        images_digest="d",
        cache=tmp_path,
        chunk_rows=4,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(4, 10), (8, 10), (10, 10)]


def test_models_sharing_a_preprocessing_decode_each_file_once(tiny_files, tmp_path, monkeypatch):
    import heldout.evaluate.runner as runner

    decoded = []
    real_decode = runner.decode
    monkeypatch.setattr(
        runner, "decode", lambda data, name: decoded.append(name) or real_decode(data, name=name)
    )
    models = [
        CallableModel(brightness, num_classes=3, preprocessing=SMALL, fingerprint=f"m{i}") for i in range(3)
    ]
    ids = [str(i) for i in range(10)]
    outputs = run_models(models, tiny_files, ids, images_digest="d", cache=tmp_path, chunk_rows=4)
    assert len(decoded) == 10 and len({o.key for o in outputs}) == 3


def test_run_models_gives_each_model_what_run_model_gives(tiny_files, tmp_path):
    halved = CallableModel(lambda b: brightness(b) / 2, num_classes=3, preprocessing=SMALL, fingerprint="p")
    other = CallableModel(brightness, num_classes=3, preprocessing=Preprocessing(size_px=8), fingerprint="q")
    ids = [str(i) for i in range(10)]
    together = run_models([halved, other], tiny_files, ids, images_digest="d", cache=tmp_path / "a")
    alone = [run_model(m, tiny_files, ids, images_digest="d", cache=tmp_path / "b") for m in (halved, other)]
    for joint, single in zip(together, alone, strict=True):
        assert joint.key == single.key and np.array_equal(joint.logits, single.logits)
    assert not np.array_equal(together[0].logits, together[1].logits)


def test_a_model_added_later_runs_alone(tiny_files, tmp_path):
    ids = [str(i) for i in range(10)]
    first = CallableModel(brightness, num_classes=3, preprocessing=SMALL, fingerprint="r")
    run_models([first], tiny_files, ids, images_digest="d", cache=tmp_path)
    calls = []
    spy = CallableModel(lambda b: calls.append(1), num_classes=3, preprocessing=SMALL, fingerprint="r")
    later = CallableModel(brightness, num_classes=3, preprocessing=SMALL, fingerprint="s")
    cached, fresh = run_models([spy, later], tiny_files, ids, images_digest="d", cache=tmp_path)
    assert calls == [] and fresh.logits.shape == (10, 3)


# --- a custom class set: Fashion-MNIST -------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion_set(tmp_path_factory) -> tuple[TestSet, Path, ClassSet]:
    """200 Fashion-MNIST test images in ``<class id>/<id>.png`` folders, labels in its own class set."""
    if not (FASHION / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)")
    from heldout.collect.idx import read_idx

    classes = load_class_set("fashion-mnist")
    images = read_idx(FASHION / "t10k-images-idx3-ubyte.gz")[:200]
    labels = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz")[:200]
    root = tmp_path_factory.mktemp("fashion")
    ids = [f"f{i:04d}" for i in range(200)]
    for image_id, pixels, label in zip(ids, images, labels, strict=True):
        folder = root / "images" / classes.ids[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{image_id}.png")
    manifest = Manifest.create(ids, classes.ids[labels]).save(root / "fashion.json")
    return load_dataset(manifest, classes=classes), root / "images", classes


def nearest_mean_classifier() -> CallableModel:
    """Negative distance to each class's mean training image: a real, if weak, Fashion-MNIST model."""
    from heldout.collect.idx import read_idx

    preprocessing = Preprocessing(size_px=28, crop_pct=1.0, mean=(0.0,) * 3, std=(1.0,) * 3)
    train = read_idx(FASHION / "train-images-idx3-ubyte.gz")[:3000].astype(np.float32) / 255
    labels = read_idx(FASHION / "train-labels-idx1-ubyte.gz")[:3000]
    means = np.stack([train[labels == c].mean(axis=0) for c in range(10)]).reshape(10, -1)

    def logits(batch: np.ndarray) -> np.ndarray:
        flat = batch[:, 0].reshape(len(batch), -1)
        return -((flat[:, None, :] - means[None]) ** 2).sum(axis=2)

    return CallableModel(logits, name="nearest-mean", num_classes=10, preprocessing=preprocessing)


def test_custom_class_set_scores_far_above_chance(fashion_set, tmp_path):
    testset, root, _ = fashion_set
    result = evaluate_model(nearest_mean_classifier(), testset, root, cache=tmp_path)
    assert result.metrics["top1"].total == 200
    assert result["top1"] > 55  # nearest class mean gets about two in three; chance is 10 %


def test_runner_logits_score_like_a_saved_file(fashion_set, tmp_path):
    testset, root, _ = fashion_set
    output = predict_testset(nearest_mean_classifier(), testset, root, cache=tmp_path)
    path = tmp_path / "nearest.npy"
    np.save(path, output.logits)
    from heldout.evaluate import load_predictions

    direct = evaluate(testset, output.predictions())
    assert direct["top1"] == evaluate(testset, load_predictions(path))["top1"]
    assert os.path.getsize(path) > 0
