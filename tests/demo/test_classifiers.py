"""The demo's classifiers: at least eight families, seeded, a CNN through ONNX, a spread of accuracy."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from heldout.demo.classifiers import model_specs, train_classifiers
from heldout.demo.fashion import DEBIAN_FOLDER, load_fashion_mnist


@pytest.fixture(scope="module")
def trained():
    if not DEBIAN_FOLDER.is_dir():
        pytest.skip(
            f"Fashion-MNIST is not installed at {DEBIAN_FOLDER} (apt-get install dataset-fashion-mnist)"
        )
    fashion = load_fashion_mnist()
    rng = np.random.default_rng(0)
    train = rng.choice(60_000, 1_000, replace=False)
    test = rng.choice(10_000, 1_000, replace=False)
    models = train_classifiers(fashion.train_images[train], fashion.train_labels[train], seed=0, cnn_epochs=1)
    return models, fashion.test_images[test], fashion.test_labels[test]


def test_there_are_at_least_eight_models_of_five_families(trained):
    models, _, _ = trained
    assert len(models) >= 8
    assert {m.family for m in models} >= {"linear", "neighbours", "trees", "mlp", "cnn"}


def test_every_model_gives_probabilities_over_the_ten_classes(trained):
    models, images, _ = trained
    for model in models:
        proba = model.predict_proba(images[:7])
        assert proba.shape == (7, 10)
        assert np.allclose(proba.sum(axis=1), 1, atol=1e-5), model.name


def test_accuracies_spread_over_several_points_well_above_chance(trained):
    models, images, labels = trained
    accuracy = np.array([(m.predict(images) == labels).mean() for m in models])
    assert accuracy.min() > 0.2  # chance is 0.1; the one-epoch CNN on 1,000 images is the weakest
    assert accuracy.max() - accuracy.min() > 0.05


def test_the_cnn_is_a_valid_onnx_model(trained):
    models, _, _ = trained
    (cnn,) = [m for m in models if m.family == "cnn"]
    onnx.checker.check_model(onnx.load_from_string(cnn.onnx))


def test_top5_lists_the_best_class_first(trained):
    models, images, _ = trained
    top5 = models[-1].top5(images[:5])
    assert top5.shape == (5, 5)
    assert np.array_equal(top5[:, 0], models[-1].predict(images[:5]))


def test_model_specs_names_are_unique():
    names = [spec[0] for spec in model_specs(0)]
    assert len(names) == len(set(names))
