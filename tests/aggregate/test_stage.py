"""The aggregation stage stores scores per method and records the run."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from heldout.aggregate import DawidSkene, SelectionFrequency, aggregate
from heldout.catalog import Run, Score
from heldout.crowd import import_real


def test_scores_are_stored_per_question_and_method(project, real_slice):
    import_real(project, real_slice)
    result = aggregate(project, SelectionFrequency())
    with project.transaction() as session:
        stored = session.execute(
            select(Score.question_id, Score.value, Score.annotations)
            .where(Score.method == "frequency")
            .order_by(Score.question_id)
        ).all()
    assert [r[0] for r in stored] == result.question_ids.tolist()
    np.testing.assert_allclose([r[1] for r in stored], result.scores)
    assert {r[2] for r in stored} == {5}


def test_rerun_replaces_a_methods_scores(project, real_slice):
    import_real(project, real_slice)
    aggregate(project, DawidSkene())
    aggregate(project, DawidSkene(grouped_prior=True))
    with project.transaction() as session:
        count = len(session.scalars(select(Score.question_id).where(Score.method == "dawid-skene")).all())
        runs = session.scalars(select(Run).where(Run.stage == "aggregate")).all()
    assert count == 3000
    assert [r.parameters["grouped_prior"] for r in runs] == [False, True]
