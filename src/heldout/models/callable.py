"""Wrap a plain function ``batch -> logits`` as a model (a custom pipeline, a remote service)."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable

import numpy as np

from heldout.errors import HeldoutError, ModelError
from heldout.models.base import Model
from heldout.preprocessing import Preprocessing

__all__ = ["CallableModel", "source_fingerprint"]


class CallableModel(Model):
    """``function(float32 NCHW batch) -> (N, num_classes)`` logits; its exceptions become ModelError."""

    def __init__(
        self,
        function: Callable[[np.ndarray], np.ndarray],
        *,
        name: str | None = None,
        num_classes: int = 1000,
        preprocessing: Preprocessing | None = None,
        fingerprint: str | None = None,
    ):
        self.function = function
        self.name = name or getattr(function, "__qualname__", type(function).__name__)
        self.num_classes = num_classes
        self.preprocessing = preprocessing or Preprocessing()
        self.fingerprint = fingerprint or source_fingerprint(function)

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        try:
            return self.function(batch)
        except HeldoutError:
            raise
        except Exception as error:
            raise ModelError(
                f"the model function raised {type(error).__name__}: {error}",
                where=self.name,
                fix="run the function on one preprocessed batch by hand to see the traceback",
            ) from error


def source_fingerprint(function: object) -> str:
    """Hash of the defining module's source, the object's name and its code (line, bytecode).

    Edits to the module change it; two lambdas in one module differ by their code, and two
    closures by what they captured (arrays by their bytes, anything else by its repr).
    """
    name = getattr(function, "__qualname__", type(function).__qualname__)
    module = inspect.getmodule(function)
    try:
        source = inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        source = ""
    code = getattr(function, "__code__", None)
    body = f"{code.co_firstlineno}:{code.co_code.hex()}:{code.co_consts!r}:{code.co_names}" if code else ""
    digest = hashlib.sha256(f"{getattr(module, '__name__', '')}:{name}\n{body}\n{source}".encode())
    for cell in getattr(function, "__closure__", None) or ():  # captured weights or settings
        value = cell.cell_contents
        digest.update(value.tobytes() if isinstance(value, np.ndarray) else repr(value).encode())
    return "source:" + digest.hexdigest()
