"""The demo's classifiers: a spread of model families trained on Fashion-MNIST's training part.

Like ImageNetV2's testbed, the point is many models of different accuracy, so the analysis can
draw accuracy on the new set against accuracy on the original one. Ten models, all seeded:
Gaussian naive Bayes and nearest centroid (weak), logistic regression and k-nearest neighbours
(on 50 principal components, fast), random forest, extra trees and histogram gradient boosting,
multi-layer perceptrons of three sizes, and a small CNN trained with torch, exported to ONNX and
run by onnxruntime (the way a user's own model is most portably handed over). Every model maps
uint8 images (n, 28, 28) to class probabilities (n, 10).
"""

from __future__ import annotations

import hashlib
import io
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from heldout.models.callable import CallableModel
from heldout.preprocessing import Preprocessing

__all__ = ["PREPROCESSING", "TrainedModel", "as_model", "model_specs", "train_classifiers", "train_cnn"]

Progress = Callable[[int, int | None], None]
N_CLASSES = 10


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A trained classifier: ``predict_proba(images)`` -> (n, 10) probabilities."""

    name: str
    family: str
    predict_proba: Callable[[np.ndarray], np.ndarray]
    fingerprint: str
    """sha256 of the trained model (pickled estimator, or ONNX graph): keys cached logits."""
    onnx: bytes | None = None

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.predict_proba(images).argmax(axis=1)

    def top5(self, images: np.ndarray) -> np.ndarray:
        """Top-5 class indices, best first (the published prediction layout)."""
        return np.argsort(-self.predict_proba(images), axis=1, kind="stable")[:, :5]


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def model_specs(seed: int) -> list[tuple[str, str, Callable[[], object], bool]]:
    """(name, family, estimator factory, uses the PCA features) of the scikit-learn models."""
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.neural_network import MLPClassifier

    def mlp(hidden: tuple[int, ...]) -> Callable[[], object]:
        return lambda: MLPClassifier(hidden, max_iter=15, early_stopping=True, random_state=seed)

    return [
        ("naive-bayes", "linear", GaussianNB, False),
        ("nearest-centroid", "linear", NearestCentroid, False),
        ("logistic-regression", "linear", lambda: LogisticRegression(max_iter=150, tol=1e-3), True),
        ("knn-5", "neighbours", lambda: KNeighborsClassifier(5, n_jobs=2), True),
        ("random-forest", "trees", lambda: RandomForestClassifier(100, n_jobs=2, random_state=seed), False),
        ("extra-trees", "trees", lambda: ExtraTreesClassifier(100, n_jobs=2, random_state=seed), False),
        (
            "hist-gradient-boosting",
            "trees",
            lambda: HistGradientBoostingClassifier(max_iter=40, early_stopping=False, random_state=seed),
            True,
        ),
        ("mlp-16", "mlp", mlp((16,)), False),
        ("mlp-128", "mlp", mlp((128,)), False),
        ("mlp-256x128", "mlp", mlp((256, 128)), False),
    ]


def train_classifiers(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    cnn_epochs: int = 2,
    progress: Progress | None = None,
) -> list[TrainedModel]:
    """Train every model on ``images`` (n, 28, 28) uint8 and ``labels`` (n,) in 0..9."""
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning

    specs = model_specs(seed)
    total = len(specs) + 1
    flat = _flat(images)
    pca = PCA(50, random_state=seed).fit(flat)
    projected = pca.transform(flat)
    models = []
    for done, (name, family, factory, on_pca) in enumerate(specs):
        estimator = factory()
        with warnings.catch_warnings():  # few iterations on purpose: the demo wants speed and a spread
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # nearest centroid: constant border pixels
            estimator.fit(projected if on_pca else flat, labels)
        fitted = (estimator, pca if on_pca else None)
        fingerprint = "sha256:" + hashlib.sha256(pickle.dumps(fitted)).hexdigest()
        models.append(TrainedModel(name, family, _sklearn_proba(*fitted), fingerprint))
        if progress:
            progress(done + 1, total)
    models.append(train_cnn(images, labels, seed=seed, epochs=cnn_epochs))
    if progress:
        progress(total, total)
    return models


def _sklearn_proba(estimator: object, pca: object | None) -> Callable[[np.ndarray], np.ndarray]:
    def predict_proba(images: np.ndarray) -> np.ndarray:
        features = _flat(images)
        if pca is not None:
            features = pca.transform(features)
        if hasattr(estimator, "predict_proba"):
            return estimator.predict_proba(features)
        return np.eye(N_CLASSES)[estimator.predict(features)]  # nearest centroid: one-hot

    return predict_proba


def train_cnn(images: np.ndarray, labels: np.ndarray, *, seed: int, epochs: int) -> TrainedModel:
    """A small CNN (two conv layers) trained with torch on 2 threads, exported to ONNX, and
    returned as an onnxruntime model."""
    import onnxruntime
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, N_CLASSES),
    )  # fmt: skip
    x = torch.from_numpy(images[:, None].astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(128):
            optimiser.zero_grad()
            nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
            optimiser.step()
    net.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no onnxscript
        torch.onnx.export(
            net,
            (x[:1],),
            buffer,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "n"}, "logits": {0: "n"}},
            dynamo=False,
            opset_version=17,
        )
    onnx = buffer.getvalue()
    session = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"])

    def predict_proba(batch: np.ndarray) -> np.ndarray:
        logits = session.run(None, {"images": batch[:, None].astype(np.float32) / 255.0})[0]
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    fingerprint = "sha256:" + hashlib.sha256(onnx).hexdigest()
    return TrainedModel("small-cnn-onnx", "cnn", predict_proba, fingerprint, onnx)


PREPROCESSING = Preprocessing(
    size_px=28, crop_pct=1.0, interpolation="bilinear", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)
)
"""Back to 28 x 28 from the 500 px renditions, values in [0, 1]."""


def as_model(model: TrainedModel) -> CallableModel:
    """The model as a :class:`heldout.models.CallableModel`, so heldout's runner evaluates it like any
    user's model: batches of ``PREPROCESSING`` in, log-probabilities out."""

    def logits(batch: np.ndarray) -> np.ndarray:
        gray = np.clip(np.rint(batch[:, 0] * 255.0), 0, 255).astype(np.uint8)
        return np.log(np.maximum(model.predict_proba(gray), 1e-12)).astype(np.float32)

    return CallableModel(
        logits,
        name=model.name,
        num_classes=N_CLASSES,
        preprocessing=PREPROCESSING,
        fingerprint=model.fingerprint,
    )
