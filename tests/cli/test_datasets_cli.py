"""``heldout datasets list/show/match``, ``heldout fetch-set`` and ``heldout classes show``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from heldout.datasets import Manifest, TestSet, _registry, load_dataset, register_dataset


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="session")
def b33() -> TestSet:
    return load_dataset("imagenetv2-b-33")


@pytest.fixture(scope="session")
def pixel_jpeg(tmp_path_factory) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (0, 90, 0)).save(buffer, "JPEG")
    path = tmp_path_factory.mktemp("pixel") / "pixel.jpeg"
    path.write_bytes(buffer.getvalue())
    return path


def build_tree(root: Path, testset: TestSet, source: Path) -> Path:
    """The released layout ``<class index>/<id>.jpeg``, every file a hard link to ``source``."""
    for image_id, label in zip(testset.ids.tolist(), testset.labels.tolist(), strict=True):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        os.link(source, root / str(label) / f"{image_id}.jpeg")
    return root


@pytest.fixture(scope="session")
def mismatched_tree(tmp_path_factory, b33, pixel_jpeg) -> Path:
    """The b-33 tree with image 0 missing and image 1 moved to another class folder."""
    root = build_tree(tmp_path_factory.mktemp("cli-tree") / "b33", b33, pixel_jpeg)
    (root / str(b33.labels[0]) / f"{b33.ids[0]}.jpeg").unlink()
    wrong = (int(b33.labels[1]) + 1) % 1000
    (root / str(b33.labels[1]) / f"{b33.ids[1]}.jpeg").rename(root / str(wrong) / f"{b33.ids[1]}.jpeg")
    return root


@pytest.fixture(scope="session")
def mini_testset(b33) -> TestSet:
    """A 30-image slice of b-33 (classes 2, 10, 999)."""
    rows = np.flatnonzero(np.isin(b33.labels, [2, 10, 999]))
    return TestSet("cli-mini-b-33", Manifest.create(b33.ids[rows], b33.manifest.wnids[rows]), b33.classes)


@pytest.fixture()
def mini(monkeypatch, mini_testset) -> TestSet:
    """``mini_testset`` registered as ``cli-mini-b-33`` for one test (the registry is restored after it)."""
    monkeypatch.setattr(_registry, "_ENTRIES", dict(_registry._ENTRIES))
    monkeypatch.setattr(_registry, "_ALIASES", dict(_registry._ALIASES))
    register_dataset("cli-mini-b-33")(lambda: mini_testset)
    return mini_testset


@pytest.fixture()
def mini_tarball(tmp_path, mini, pixel_jpeg) -> Path:
    path = tmp_path / "mini.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for image_id, label in zip(mini.ids.tolist(), mini.labels.tolist(), strict=True):
            archive.add(pixel_jpeg, f"mini-format-val/{label}/{image_id}.jpeg")
    return path


# ---------------------------------------------------------------- datasets list / show


def test_datasets_list_shows_published_sets_and_sizes(run_cli):
    code, out, _ = run_cli("datasets", "list")
    assert code == 0
    for name in ("imagenetv2-a-44", "imagenetv2-b-33", "imagenetv2-c-12", "imagenet-val"):
        assert name in out
    for size in ("50,000", "20,000", "10,000"):
        assert size in out


def test_datasets_list_pattern_shows_only_matching_sets(run_cli):
    code, out, _ = run_cli("datasets", "list", "imagenetv2-*")
    assert code == 0
    assert "imagenetv2-b-33" in out
    assert "50,000" not in out
    assert "20,000" not in out


def test_datasets_show_prints_hash_of_published_manifest(run_cli, shared_data):
    raw = (shared_data / "imagenetv2" / "datasets" / "imagenetv2-b-33.json").read_bytes()
    code, out, _ = run_cli("datasets", "show", "imagenetv2-b-33")
    assert code == 0
    assert hashlib.sha256(raw).hexdigest() in out


def test_datasets_show_of_alias_names_the_canonical_set(run_cli):
    code, out, _ = run_cli("datasets", "show", "imagenetv2-matched-frequency")
    assert code == 0
    assert "imagenetv2-b-33 10,000 images, 1000 classes" in flat(out)


def test_datasets_show_prints_manifest_metadata(run_cli, shared_data):
    document = json.loads((shared_data / "imagenetv2" / "datasets" / "imagenetv2-a-44.json").read_bytes())
    code, out, _ = run_cli("datasets", "show", "imagenetv2-threshold0.7")
    assert code == 0
    assert f"seed: {document['seed']}" in out
    assert f"sampling_function: {document['sampling_function']}" in out


def test_datasets_show_of_a_manifest_file_works(run_cli, shared_data):
    path = shared_data / "imagenetv2" / "datasets" / "imagenet-annotatedval20k-0.json"
    code, out, _ = run_cli("datasets", "show", path)
    assert code == 0
    assert "20,000 images" in out


def test_datasets_show_of_unknown_name_exits_2_naming_it(run_cli):
    code, _, err = run_cli("datasets", "show", "imagenetv2-b-3")
    assert code == 2
    assert "no test set named 'imagenetv2-b-3'" in flat(err)
    assert "did you mean" in err


def test_datasets_show_of_bad_manifest_file_exits_2(run_cli, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    code, _, err = run_cli("datasets", "show", path)
    assert code == 2
    assert "not valid JSON" in flat(err)


# ---------------------------------------------------------------- datasets match


def test_datasets_match_of_mismatched_folder_exits_1(run_cli, mismatched_tree):
    code, _, _ = run_cli("datasets", "match", "imagenetv2-b-33", mismatched_tree)
    assert code == 1


def test_datasets_match_prints_counts(run_cli, mismatched_tree):
    _, out, _ = run_cli("datasets", "match", "imagenetv2-b-33", mismatched_tree)
    text = flat(out)
    assert "9999/10000 images found" in text
    assert "1 missing, 0 extra, 1 in the wrong class" in text


def test_datasets_match_names_the_missing_and_misplaced_images(run_cli, mismatched_tree, b33):
    _, out, _ = run_cli("datasets", "match", "imagenetv2-matched-frequency", mismatched_tree)
    text = flat(out)
    assert f"missing {b33.ids[0]}" in text
    wrong = (int(b33.labels[1]) + 1) % 1000
    assert f"wrong {b33.ids[1]}: in class folder {wrong}, manifest says {b33.labels[1]}" in text


def test_datasets_match_of_exact_folder_exits_0(run_cli, tmp_path, mini, pixel_jpeg):
    root = build_tree(tmp_path / "mini", mini, pixel_jpeg)
    code, out, _ = run_cli("datasets", "match", "cli-mini-b-33", root)
    assert code == 0
    assert "30/30 images found" in flat(out)


def test_datasets_match_with_non_integer_class_folder_exits_2_naming_it(run_cli, tmp_path, mini, pixel_jpeg):
    root = build_tree(tmp_path / "mini", mini, pixel_jpeg)
    (root / "abc").mkdir()
    code, _, err = run_cli("datasets", "match", "cli-mini-b-33", root)
    assert code == 2
    assert "'abc'" in err
    assert "integers" in err


def test_datasets_match_of_unknown_set_exits_2(run_cli, tmp_path):
    code, _, err = run_cli("datasets", "match", "imagenet-v3", tmp_path)
    assert code == 2
    assert "no test set named 'imagenet-v3'" in flat(err)


def test_datasets_match_with_unknown_layout_exits_2(run_cli, tmp_path):
    code, _, err = run_cli("datasets", "match", "imagenetv2-b-33", tmp_path, "--layout", "nested")
    assert code == 2
    assert "unknown layout 'nested'" in err


# ---------------------------------------------------------------- fetch-set


def test_fetch_set_from_file_reports_exact_match(run_cli, tmp_path, mini_tarball):
    code, out, _ = run_cli("fetch-set", "cli-mini-b-33", "--file", mini_tarball, "--dest", tmp_path / "data")
    assert code == 0
    assert "30/30 images found" in flat(out)
    assert "0 missing, 0 extra, 0 in the wrong class" in flat(out)


def test_fetch_set_from_file_unpacks_into_dest(run_cli, tmp_path, mini_tarball, mini):
    run_cli("fetch-set", "cli-mini-b-33", "--file", mini_tarball, "--dest", tmp_path / "data")
    unpacked = sorted(p.name for p in (tmp_path / "data" / "cli-mini-b-33").rglob("*.jpeg"))
    assert unpacked == sorted(f"{i}.jpeg" for i in mini.ids.tolist())


def test_fetch_set_without_url_or_file_exits_2(run_cli, tmp_path):
    code, _, err = run_cli("fetch-set", "imagenetv2-b-33", "--dest", tmp_path)
    assert code == 2
    assert "exactly one of url or file" in err


def test_fetch_set_of_corrupt_file_exits_2_and_unpacks_nothing(run_cli, tmp_path, mini):
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + b"\x00" * 100)
    code, _, err = run_cli("fetch-set", "cli-mini-b-33", "--file", garbage, "--dest", tmp_path / "data")
    assert code == 2
    assert "cannot unpack" in err
    assert os.listdir(tmp_path / "data") == []


# ---------------------------------------------------------------- classes show


def test_classes_show_search_finds_tench_and_its_most_similar_class(run_cli, shared_data):
    similar = json.loads(
        (shared_data / "imagenetv2" / "metadata" / "wnid_to_most_similar_wnids.json").read_text()
    )
    code, out, _ = run_cli("classes", "show", "--search", "tench")
    assert code == 0
    assert "n01440764" in out
    assert "Tinca tinca" in out
    assert similar["n01440764"][1] in out


def test_classes_show_search_leaves_out_other_classes(run_cli):
    _, out, _ = run_cli("classes", "show", "imagenet-1k", "--search", "tench")
    assert "n15075141" not in out
    assert "1000 classes" in out


def test_classes_show_of_user_csv_lists_classes_in_file_order(run_cli, tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("id,name,synonyms,description\ndog,Dog,hound; pooch,\ncat,Cat,,\n")
    code, out, _ = run_cli("classes", "show", path)
    assert code == 0
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")
    ]
    assert rows == [["0", "dog", "Dog, hound, pooch", ""], ["1", "cat", "Cat", ""]]


def test_classes_show_of_bad_file_exits_2_naming_the_problem(run_cli, tmp_path):
    path = tmp_path / "dups.csv"
    path.write_text("id,name\na,A\na,B\n")
    code, _, err = run_cli("classes", "show", path)
    assert code == 2
    assert "unique" in err
