"""Importing the ReaL release: every answer, question, worker and golden mark lands."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from heldout.answers import load_answers
from heldout.catalog import Answer, Question, Worker
from heldout.crowd import import_real
from heldout.errors import AggregationError


def test_full_import_has_the_published_counts(real_project):
    project, report = real_project
    assert report.images == 24_889 and report.questions == 184_962
    assert report.answers == {"raters": 924_810, "golden": 5_675, "raters_golden": 88_530}
    with project.transaction() as session:
        kinds = dict(session.execute(select(Worker.kind, func.count()).group_by(Worker.kind)).all())
        golden = session.scalar(select(func.count()).select_from(Question).where(Question.is_golden))
        original = session.scalar(
            select(func.count()).select_from(Question).where(Question.is_original_label)
        )
    assert kinds == {"crowd": 85, "expert": 5}
    assert (golden, original) == (1_135, 24_889)


def test_loaded_answers_are_the_raters_file_only(real_project, real_answers):
    project, _ = real_project
    answers = load_answers(project)
    assert len(answers) == 924_810
    assert np.array_equal(np.bincount(answers.value), np.bincount(real_answers.value))
    assert int(answers.group.sum()) == 24_889


def test_expert_answers_load_separately(real_project):
    project, _ = real_project
    experts = load_answers(project, worker_kind="expert", task_kinds=("expert",))
    assert len(experts) == 5_675 and len(np.unique(experts.worker)) == 5


def test_published_scores_are_kept_per_question(real_project, real_scores):
    project, _ = real_project
    with project.transaction() as session:
        stored = np.array(
            session.scalars(select(Question.published_score).order_by(Question.question_id)).all()
        )
    np.testing.assert_allclose(stored, real_scores)


def test_slice_imports_the_same_on_sqlite_and_postgresql(project, real_slice):
    report = import_real(project, real_slice)
    assert report.questions == 3000 and report.answers["raters"] == 15_000
    with project.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == sum(report.answers.values())


def test_a_failed_import_leaves_nothing_behind(project, real_slice):
    with np.load(real_slice / "golden.npz") as data:
        tensor = data["tensor"].copy()
        tensor[0, 0] = [1, 0, 1]  # two answers in one row
        np.savez(real_slice / "golden.npz", tensor=tensor, info=data["info"], ids=data["ids"])
    with pytest.raises(AggregationError, match="two categories set"):
        import_real(project, real_slice)
    with project.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Question)) == 0
        assert session.scalar(select(func.count()).select_from(Answer)) == 0


def test_missing_file_names_the_file(project, tmp_path):
    with pytest.raises(AggregationError, match="not found"):
        import_real(project, tmp_path)
