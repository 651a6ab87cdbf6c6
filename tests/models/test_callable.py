"""CallableModel: plain functions as models, with their failures made clear."""

from __future__ import annotations

import numpy as np
import pytest

from heldout.errors import ModelError, ModelOutputError
from heldout.models import CallableModel
from heldout.preprocessing import Preprocessing

SMALL = Preprocessing(size_px=16, crop_pct=1.0)
BATCH = np.zeros((2, 3, 16, 16), dtype=np.float32)


def mean_colour(batch: np.ndarray) -> np.ndarray:
    """Three 'classes': which channel is brightest."""
    return batch.mean(axis=(2, 3))


def test_function_output_becomes_float32_logits():
    model = CallableModel(mean_colour, num_classes=3, preprocessing=SMALL)
    batch = BATCH.copy()
    batch[1, 2] = 1.0
    logits = model.logits(batch)
    assert logits.dtype == np.float32 and logits.argmax(axis=1)[1] == 2


def test_wrong_class_count_is_a_model_output_error():
    model = CallableModel(mean_colour, num_classes=1000, preprocessing=SMALL)
    with pytest.raises(ModelOutputError, match=r"shape \(2, 3\), expected \(2, 1000\)"):
        model.logits(BATCH)


def test_a_raising_function_is_a_model_error():
    def broken(batch):
        raise ZeroDivisionError("division by zero")

    model = CallableModel(broken, num_classes=3, preprocessing=SMALL)
    with pytest.raises(ModelError, match="raised ZeroDivisionError: division by zero"):
        model.logits(BATCH)


def test_non_finite_output_is_refused():
    model = CallableModel(lambda b: np.full((len(b), 3), np.nan), num_classes=3, preprocessing=SMALL)
    with pytest.raises(ModelOutputError, match="6 non-finite values"):
        model.logits(BATCH)


def test_fingerprint_depends_on_the_function():
    first = CallableModel(mean_colour, num_classes=3).fingerprint
    assert first == CallableModel(mean_colour, num_classes=3).fingerprint
    assert first != CallableModel(np.max, num_classes=3).fingerprint


def test_two_lambdas_in_one_module_have_different_fingerprints():
    ones, zeros = (lambda b: b.sum()), (lambda b: b.max())
    assert CallableModel(ones).fingerprint != CallableModel(zeros).fingerprint


def test_closures_over_different_weights_have_different_fingerprints():
    def classifier(weights):
        return lambda batch: batch.mean(axis=(2, 3)) @ weights

    first = CallableModel(classifier(np.eye(3, dtype=np.float32)), num_classes=3)
    second = CallableModel(classifier(2 * np.eye(3, dtype=np.float32)), num_classes=3)
    assert first.fingerprint != second.fingerprint
