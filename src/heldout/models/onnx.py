"""Run an ONNX graph with onnxruntime: 5–14x faster than eager torch on these CPUs.

The graph's first input takes the NCHW batch; the output named ``logits`` (else the first) gives
the logits and an output named ``features`` the pooled embeddings. A graph exported by heldout
carries its name and preprocessing in the ONNX metadata, so the file alone reproduces a result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from heldout.errors import ModelError
from heldout.models.base import Model, check_batch, check_output, file_sha256
from heldout.preprocessing import Preprocessing

__all__ = ["OnnxModel", "default_threads", "METADATA_NAME", "METADATA_PREPROCESSING"]

METADATA_NAME = "heldout.name"
METADATA_PREPROCESSING = "heldout.preprocessing"


def default_threads() -> int:
    """Cores this process may use: onnxruntime otherwise counts the host's, oversubscribing a container."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class OnnxModel(Model):
    """A model in an ONNX file, run by onnxruntime on the CPU.

    ``num_classes`` and ``preprocessing`` default to what the graph declares (its output shape,
    its heldout metadata, else its input size with ImageNet defaults); ``fingerprint`` to the
    file's SHA-256.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        num_classes: int | None = None,
        preprocessing: Preprocessing | None = None,
        fingerprint: str | None = None,
        threads: int | None = None,
    ):
        self.path = Path(path)
        self._session = _open_session(self.path, threads or default_threads())
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.name = name or metadata.get(METADATA_NAME) or self.path.stem
        self.fingerprint = fingerprint or file_sha256(self.path)
        self._input = self._session.get_inputs()[0]
        outputs = {o.name: o for o in self._session.get_outputs()}
        self._logits_output = "logits" if "logits" in outputs else next(iter(outputs))
        self._has_features = "features" in outputs
        self.preprocessing = preprocessing or _declared_preprocessing(metadata, self._input.shape)
        self.num_classes = num_classes or _declared_classes(outputs[self._logits_output].shape, self)

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, self._logits_output)

    def features(self, batch: np.ndarray) -> np.ndarray:
        if not self._has_features:
            return super().features(batch)
        batch = check_batch(batch, self)
        output = self._run(batch, "features")
        return check_output(output, len(batch), output.shape[-1], self.name)

    def _run(self, batch: np.ndarray, output: str) -> np.ndarray:
        try:
            return self._session.run([output], {self._input.name: batch})[0]
        except Exception as error:  # onnxruntime raises its own pybind11 classes
            raise ModelError(
                f"onnxruntime failed: {error}",
                where=self.path,
                fix="check that the graph takes a float32 NCHW batch with a dynamic batch axis",
            ) from error


def _open_session(path: Path, threads: int):
    try:
        import onnxruntime as ort
    except ImportError as error:
        raise ModelError(
            "onnxruntime is not installed", where=path, fix="pip install heldout[models]"
        ) from error
    if not path.is_file():
        raise ModelError("no such ONNX file", where=path, fix="check the path")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # InvalidProtobuf, Fail, ... from pybind11
        raise ModelError(
            f"not a loadable ONNX model: {str(error).splitlines()[0]}",
            where=path,
            fix="export the model with torch.onnx.export (opset 17) or pass a different file",
        ) from error


def _declared_preprocessing(metadata: dict[str, str], input_shape: list) -> Preprocessing:
    if METADATA_PREPROCESSING in metadata:
        fields = json.loads(metadata[METADATA_PREPROCESSING])
        fields["mean"], fields["std"] = tuple(fields["mean"]), tuple(fields["std"])
        return Preprocessing(**fields)
    size = input_shape[-1] if isinstance(input_shape[-1], int) else 224
    return Preprocessing(size_px=size)


def _declared_classes(shape: list, model: OnnxModel) -> int:
    if len(shape) == 2 and isinstance(shape[1], int):
        return shape[1]
    raise ModelError(
        f"the graph's output shape {shape} does not say how many classes it has",
        where=model.path,
        fix="pass num_classes=",
    )
