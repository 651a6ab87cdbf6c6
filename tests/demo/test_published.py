"""The demo: all published models on all published sets, with ReaL, from the public data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from heldout.demo.published import find_data_dir, run_demo
from heldout.errors import ConfigError

VAL = "imagenet-validation-original"


@pytest.fixture()
def no_data_around(monkeypatch, tmp_path) -> Path:
    """No $HELDOUT_DATA and a working folder whose ../shared/data does not exist."""
    monkeypatch.delenv("HELDOUT_DATA", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="session")
def demo_results(shared_data):
    return run_demo(shared_data)


def test_find_data_dir_takes_the_folder_given(shared_data, no_data_around):
    assert find_data_dir(shared_data) == shared_data


def test_find_data_dir_falls_back_to_heldout_data(shared_data, no_data_around, monkeypatch):
    monkeypatch.setenv("HELDOUT_DATA", str(shared_data))
    assert find_data_dir() == shared_data


def test_find_data_dir_falls_back_to_shared_data_next_to_the_working_folder(shared_data, no_data_around):
    (no_data_around.parent / "shared").mkdir()
    (no_data_around.parent / "shared" / "data").symlink_to(shared_data, target_is_directory=True)
    assert find_data_dir() == no_data_around.parent / "shared" / "data"


def test_find_data_dir_without_data_says_where_it_looked_and_how_to_fix_it(no_data_around):
    with pytest.raises(ConfigError) as info:
        find_data_dir("/nonexistent")
    assert "/nonexistent/imagenetv2/predictions" in info.value.what
    assert "--data" in info.value.fix


def test_run_demo_scores_67_models_on_5_sets(demo_results):
    assert len(demo_results) == 335
    assert len({r.model for r in demo_results}) == 67
    assert len({r.dataset for r in demo_results}) == 5


def test_run_demo_adds_real_on_the_val_sets_only(demo_results):
    assert {r.dataset for r in demo_results if "real_top1" in r.metrics} == {
        VAL,
        "imagenet-annotatedval20k-0",
    }


def test_run_demo_reproduces_resnet50_on_val(demo_results):
    (resnet50,) = [r for r in demo_results if r.model == "resnet50" and r.dataset == VAL]
    assert resnet50["top1"] == pytest.approx(76.13, abs=0.005)
    assert resnet50["real_top1"] == pytest.approx(82.96, abs=0.005)


def test_demo_command_prints_the_table_and_exits_0(run_cli, shared_data):
    code, out, _ = run_cli("demo", "--published", "--data", shared_data)
    assert code == 0
    assert "resnet50" in out and "ReaL" in out
    assert "335 evaluations: 67 models × 5 test sets" in " ".join(out.split())


def test_demo_command_writes_a_csv_of_every_evaluation(run_cli, shared_data, tmp_path):
    code, _, _ = run_cli("demo", "--published", "--data", shared_data, "--csv", tmp_path / "demo.csv")
    assert code == 0
    with (tmp_path / "demo.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 335
    assert {row["model"] for row in rows if row["flags"]} == {"fv_16k"}


def test_demo_command_without_data_exits_2_saying_what_is_missing_and_how_to_fix(run_cli, no_data_around):
    code, out, err = run_cli("demo", "--published", "--data", "/nonexistent")
    message = " ".join(err.split())
    assert code == 2
    assert "published ImageNetV2 predictions were not found" in message
    assert "/nonexistent/imagenetv2/predictions" in message
    assert "fix: pass --data DIR" in message
    assert out == ""
