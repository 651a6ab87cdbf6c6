"""Fixtures of the analysis tests: the published ImageNetV2 predictions scored once per session,
and analyses of b-33 against val built from them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from heldout.analysis import Analysis, analyze_predictions
from heldout.evaluate import EvaluationResult, evaluate_published

VAL = "imagenet-validation-original"
B33 = "imagenetv2-b-33"


@pytest.fixture(scope="session")
def published(predictions_dir: Path) -> dict[str, list[EvaluationResult]]:
    """Every published model on every published set, with ReaL: {dataset: results}."""
    by_set: dict[str, list[EvaluationResult]] = defaultdict(list)
    for result in evaluate_published(predictions_dir, real=True):
        by_set[result.dataset].append(result)
    return dict(by_set)


@pytest.fixture(scope="session")
def b33_analysis(predictions_dir: Path) -> Analysis:
    """b-33 against val, probit, compared with the testbed line, per-image correctness included."""
    return analyze_predictions(predictions_dir, original="val", new="b-33", reference="testbed")


@pytest.fixture(scope="session")
def fresh_process(tmp_path_factory) -> dict[str, str]:
    """One new interpreter, away from the repo and with no public data: what importing the
    analysis loads, and whether the shipped reference lines load."""
    import json
    import os
    import subprocess
    import sys

    where = tmp_path_factory.mktemp("fresh")
    code = (
        "import json, sys; from heldout import analysis; "
        "n = len(analysis.load_reference_line('timm/real')); "
        "print(json.dumps({'lines': n, 'matplotlib': 'matplotlib' in sys.modules, 'sklearn': 'sklearn' in sys.modules}))"
    )
    env = {**os.environ, "HELDOUT_DATA": str(where / "nowhere")}
    done = subprocess.run([sys.executable, "-c", code], cwd=where, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
