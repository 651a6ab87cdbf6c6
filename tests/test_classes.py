"""Class sets: the built-in ImageNet-1k classes against the public metadata, and user class lists."""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from heldout.classes import ClassSet, load_class_set
from heldout.errors import ClassSetError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def imagenet() -> ClassSet:
    return ClassSet.imagenet1k()


@pytest.fixture(scope="session")
def class_info(shared_data: Path) -> list[dict]:
    return json.loads((shared_data / "imagenetv2" / "metadata" / "class_info.json").read_text())


@pytest.fixture(scope="session")
def similar_wnids(shared_data: Path) -> dict[str, list[str]]:
    path = shared_data / "imagenetv2" / "metadata" / "wnid_to_most_similar_wnids.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def build_script():
    """scripts/build_package_data.py, imported from its path (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location(
        "build_package_data", REPO / "scripts" / "build_package_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- package data


def test_packaged_imagenet_classes_regenerate_byte_identically(build_script, shared_data):
    packaged = resources.files("heldout").joinpath("data/imagenet-1k.json.xz").read_bytes()
    assert build_script.compress(build_script.imagenet_classes(shared_data)) == packaged


# ---------------------------------------------------------------- ImageNet-1k


def test_imagenet1k_has_1000_classes(imagenet):
    assert len(imagenet) == 1000


def test_class_0_is_n01440764(imagenet):
    assert imagenet[0].id == "n01440764"
    assert imagenet.index("n01440764") == 0


def test_class_999_is_n15075141(imagenet):
    assert imagenet[999].id == "n15075141"
    assert imagenet.index("n15075141") == 999


def test_class_index_is_position_in_sorted_wnids(imagenet, class_info):
    assert imagenet.ids.tolist() == sorted(record["wnid"] for record in class_info)


def test_class_index_equals_published_cid_for_all_classes(imagenet, class_info):
    wnids = [record["wnid"] for record in class_info]
    assert imagenet.indices(wnids).tolist() == [record["cid"] for record in class_info]


def test_class_info_index_field_equals_its_position(imagenet):
    assert [info.index for info in imagenet] == list(range(1000))


def test_names_are_synset_lemmas(imagenet, class_info):
    for record in class_info:
        assert imagenet[record["wnid"]].names == tuple(record["synset"])


def test_name_is_first_lemma(imagenet, class_info):
    for record in class_info:
        assert imagenet[record["wnid"]].name == record["synset"][0]


def test_description_is_gloss(imagenet, class_info):
    for record in class_info:
        assert imagenet[record["wnid"]].description == record["gloss"]


def test_most_similar_is_first_other_wnid_of_published_list(imagenet, similar_wnids):
    for wnid, published in similar_wnids.items():
        assert imagenet.most_similar(wnid) == [published[1]]


def test_most_similar_k_gives_published_order_without_the_class_itself(imagenet, similar_wnids):
    for wnid, published in similar_wnids.items():
        assert imagenet.most_similar(wnid, k=20) == published[1:21]


def test_string_and_integer_lookup_give_the_same_class(imagenet):
    assert imagenet["n01443537"] is imagenet[1]


def test_indices_are_vectorised_and_keep_input_order(imagenet):
    order = np.random.default_rng(0).permutation(1000)
    assert np.array_equal(imagenet.indices(imagenet.ids[order]), order)


def test_indices_of_empty_input_are_empty(imagenet):
    assert imagenet.indices(np.array([], dtype=str)).shape == (0,)


def test_indices_with_unknown_id_raise_class_set_error_naming_it(imagenet):
    with pytest.raises(ClassSetError, match="n99999999"):
        imagenet.indices(["n01440764", "n99999999", "n15075141"])


def test_index_of_unknown_id_raises_class_set_error(imagenet):
    with pytest.raises(ClassSetError, match="tench"):
        imagenet.index("tench")


def test_has_ids_marks_unknown_ids_without_raising(imagenet):
    found = imagenet.has_ids(["n01440764", "n0144076", "n014407640", "", "n15075141", "zzz"])
    assert found.tolist() == [True, False, False, False, True, False]


def test_contains_accepts_wnids_and_rejects_other_strings(imagenet):
    assert "n02123045" in imagenet
    assert "tabby" not in imagenet


def test_load_class_set_by_name_gives_imagenet1k(imagenet):
    loaded = load_class_set("imagenet-1k")
    assert loaded.name == "imagenet-1k"
    assert np.array_equal(loaded.ids, imagenet.ids)


# ---------------------------------------------------------------- user class sets


CSV_TEXT = (
    "id,name,synonyms,description\n"
    "zebra,Zebra,plains zebra; Equus quagga,striped horse\n"
    "ant,Ant,,\n"
    "moth,Moth, miller ;  ;lepidopteran ,night flier\n"
)


def test_csv_class_index_is_file_row_order(tmp_path):
    classes = ClassSet.from_file(write(tmp_path / "insects.csv", CSV_TEXT))
    assert classes.ids.tolist() == ["zebra", "ant", "moth"]
    assert classes.indices(["moth", "zebra", "ant"]).tolist() == [2, 0, 1]


def test_csv_synonyms_split_on_semicolon_follow_the_name(tmp_path):
    classes = ClassSet.from_file(write(tmp_path / "insects.csv", CSV_TEXT))
    assert classes["zebra"].names == ("Zebra", "plains zebra", "Equus quagga")
    assert classes["moth"].names == ("Moth", "miller", "lepidopteran")
    assert classes["ant"].names == ("Ant",)


def test_csv_description_column_is_description(tmp_path):
    classes = ClassSet.from_file(write(tmp_path / "insects.csv", CSV_TEXT))
    assert [c.description for c in classes] == ["striped horse", "", "night flier"]


def test_csv_similar_column_splits_on_semicolon(tmp_path):
    text = "id,name,similar\ncat,Cat,dog; fox\ndog,Dog,\nfox,Fox,dog\n"
    classes = ClassSet.from_file(write(tmp_path / "pets.csv", text))
    assert classes.most_similar("cat", k=2) == ["dog", "fox"]
    assert classes.most_similar("dog") == []


def test_csv_class_set_is_named_after_the_file(tmp_path):
    assert ClassSet.from_file(write(tmp_path / "insects.csv", CSV_TEXT)).name == "insects"


def test_csv_with_byte_order_mark_reads_the_id_column(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV_TEXT.encode())
    assert ClassSet.from_file(path).ids.tolist() == ["zebra", "ant", "moth"]


def test_json_list_keeps_file_order_as_index(tmp_path):
    records = [
        {"id": "b", "name": "Bee"},
        {"id": "a", "name": "Ant"},
        {"id": "c", "names": ["Cicada", "cicala"]},
    ]
    classes = ClassSet.from_file(write(tmp_path / "bugs.json", json.dumps(records)))
    assert [(c.index, c.id) for c in classes] == [(0, "b"), (1, "a"), (2, "c")]
    assert classes["c"].names == ("Cicada", "cicala")


def test_json_object_keeps_its_name_description_and_synonyms(tmp_path):
    document = {
        "name": "garden",
        "classes": [
            {
                "id": "rose",
                "name": "Rose",
                "synonyms": ["rosa"],
                "description": "a shrub",
                "similar": ["tulip"],
            },
            {"id": "tulip", "name": "Tulip"},
        ],
    }
    classes = ClassSet.from_file(write(tmp_path / "plants.json", json.dumps(document)))
    assert classes.name == "garden"
    assert classes["rose"].names == ("Rose", "rosa")
    assert classes["rose"].description == "a shrub"
    assert classes.most_similar("rose") == ["tulip"]


def test_class_without_name_is_shown_by_its_id(tmp_path):
    classes = ClassSet.from_file(write(tmp_path / "bare.json", '[{"id": "x1"}]'))
    assert classes[0].name == "x1"


def test_load_class_set_with_a_path_reads_the_file(tmp_path):
    path = write(tmp_path / "insects.csv", CSV_TEXT)
    assert load_class_set(path).ids.tolist() == ["zebra", "ant", "moth"]


@pytest.mark.parametrize(
    ("file_name", "text", "message"),
    [
        ("dup.csv", "id,name\na,A\nb,B\na,A again\n", "unique"),
        ("noid.csv", "name,description\nfoo,bar\n", "no 'id'"),
        ("blankid.csv", "id,name\na,A\n ,B\n", "record 1 has no 'id'"),
        ("empty.csv", "", "no classes"),
        ("dup.json", '[{"id": "a"}, {"id": "a"}]', "unique"),
        ("bad.json", '[{"id": "a"},', "not valid JSON"),
        ("scalar.json", "42", "list of records"),
        ("noclasses.json", '{"name": "x"}', "no classes"),
        ("notrecords.json", "[1, 2]", "no 'id'"),
        ("stringnames.json", '[{"id": "a", "names": "Ant"}]', "'names' must be a list"),
        ("list.txt", "a\nb\n", "unsupported class list format"),
    ],
)
def test_bad_class_file_raises_class_set_error_naming_the_file(tmp_path, file_name, text, message):
    path = write(tmp_path / file_name, text)
    with pytest.raises(ClassSetError, match=message) as caught:
        ClassSet.from_file(path)
    assert caught.value.where == str(path)


def test_csv_that_is_not_utf8_raises_class_set_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,name\ncaf\xe9,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(ClassSetError, match="UTF-8"):
        ClassSet.from_file(path)


def test_missing_class_file_raises_class_set_error(tmp_path):
    with pytest.raises(ClassSetError, match="not found"):
        load_class_set(tmp_path / "nope.csv")
