"""Adapt a ``torch.nn.Module``: export it to ONNX once when that runs faster, else run it eagerly.

Eager CPU torch is slow here (BatchNorm and clamps dominate), so ``backend="auto"`` exports the
module, checks that onnxruntime agrees with torch on a probe batch, times both, and keeps the
faster. Exports are cached under the cache folder, keyed by a hash of the module's state dict.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from heldout.atomic import write_atomic
from heldout.errors import HeldoutError, ModelError
from heldout.models._cache import cache_dir
from heldout.models.base import Model, check_output
from heldout.models.onnx import OnnxModel
from heldout.preprocessing import Preprocessing

__all__ = ["TorchModel", "state_fingerprint"]

Backend = Literal["auto", "onnx", "eager"]


class TorchModel(Model):
    """A torch module returning ``(N, num_classes)`` logits, run by onnxruntime or eager torch.

    ``backend`` says which engine ran (``"onnx"`` or ``"eager"``) once chosen; ``num_classes``
    defaults to the width of the module's output on a probe batch.
    """

    def __init__(
        self,
        module,
        *,
        name: str | None = None,
        preprocessing: Preprocessing | None = None,
        num_classes: int | None = None,
        backend: Backend = "auto",
        cache: str | Path | None = None,
    ):
        self.module = module.eval()
        self.name = name or type(module).__name__
        self.preprocessing = preprocessing or Preprocessing()
        self.fingerprint = state_fingerprint(module)
        probe = _probe_batch(self.preprocessing.size_px)
        eager_logits = self._eager(probe)
        self.num_classes = num_classes or eager_logits.shape[-1]
        check_output(eager_logits, len(probe), self.num_classes, self.name)
        self._onnx: OnnxModel | None = None
        if backend != "eager":
            self._onnx = self._exported(cache, probe, eager_logits, required=backend == "onnx")
        self.backend = "onnx" if self._onnx is not None else "eager"

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        if self._onnx is not None:
            return self._onnx._logits(batch)
        return self._eager(batch)

    def _eager(self, batch: np.ndarray) -> np.ndarray:
        import torch

        try:
            with torch.inference_mode():
                output = self.module(torch.from_numpy(batch))
        except Exception as error:
            raise ModelError(
                f"the module raised {type(error).__name__}: {error}",
                where=self.name,
                fix="check the module takes a float32 (N, 3, H, W) tensor and returns logits",
            ) from error
        return output.detach().float().numpy() if hasattr(output, "detach") else np.asarray(output)

    def _exported(
        self, cache: str | Path | None, probe: np.ndarray, expected: np.ndarray, *, required: bool
    ) -> OnnxModel | None:
        """The ONNX copy if it exports, agrees with torch and (unless required) is faster."""
        path = Path(cache or cache_dir()) / "models" / f"torch-{self.fingerprint.split(':')[-1][:16]}.onnx"
        try:
            if not path.is_file():
                write_atomic(path, _export(self.module, self.preprocessing.size_px))
            onnx_model = OnnxModel(
                path,
                name=self.name,
                num_classes=self.num_classes,
                preprocessing=self.preprocessing,
                fingerprint=self.fingerprint,
            )
            got = onnx_model._logits(probe)
        except (HeldoutError, RuntimeError, ValueError, TypeError) as error:
            if required:
                raise ModelError(
                    f"ONNX export failed: {error}", where=self.name, fix='use backend="eager"'
                ) from error
            return None
        if not np.allclose(got, expected, atol=1e-3, rtol=1e-3):
            if required:
                raise ModelError(
                    "the ONNX export disagrees with torch", where=self.name, fix='use backend="eager"'
                )
            return None
        return onnx_model if required or _faster(onnx_model._logits, self._eager, probe) else None


def _faster(candidate, baseline, batch: np.ndarray) -> bool:
    """True if ``candidate`` beats ``baseline`` on one warm call each."""
    timings = []
    for run in (candidate, baseline):
        start = time.perf_counter()
        run(batch)
        timings.append(time.perf_counter() - start)
    return timings[0] < timings[1]


def _probe_batch(size_px: int) -> np.ndarray:
    """Two fixed pseudo-random images: enough to check shapes and agreement, deterministic."""
    return np.random.default_rng(0).standard_normal((2, 3, size_px, size_px), dtype=np.float32)


def _export(module, size_px: int) -> bytes:
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, 3, size_px, size_px),),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        )
    return buffer.getvalue()


def state_fingerprint(module) -> str:
    """SHA-256 over the class name and every state-dict entry (name, dtype, shape, bytes)."""
    digest = hashlib.sha256(type(module).__qualname__.encode())
    for key, tensor in module.state_dict().items():
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{key}:{array.dtype}:{array.shape}".encode())
        digest.update(array.tobytes())
    return f"sha256:{digest.hexdigest()}"
