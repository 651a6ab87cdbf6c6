"""``create_model(spec)``: one entry point from a string to a runnable model.

A spec is a built-in name (``efficientnet-lite0/1/2``), a path to an ``.onnx`` file, or
``package.module:attribute`` naming a Model, a torch module, a factory returning either, or a
function ``batch -> logits``. timm names work only where timm imports (it does not with the
CUDA-only torchvision wheel), and say so when it does not.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import sys
from pathlib import Path

from heldout.errors import ModelError
from heldout.models.base import Model
from heldout.models.callable import CallableModel
from heldout.models.efficientnet import EFFICIENTNET_LITE, load_efficientnet
from heldout.models.onnx import OnnxModel

__all__ = ["create_model", "list_models", "resolve_specs"]


def list_models(pattern: str = "*") -> list[str]:
    """Sorted built-in model names matching a shell-style ``pattern``."""
    return sorted(fnmatch.filter(EFFICIENTNET_LITE, pattern))


def resolve_specs(spec: str) -> list[str]:
    """``"all"`` means every built-in; a comma-separated list its parts; else the spec itself."""
    if spec == "all":
        return list_models()
    return [part.strip() for part in spec.split(",") if part.strip()]


def create_model(spec: str, *, cache: str | Path | None = None) -> Model:
    """The model a spec names, ready to run; ModelError saying which forms are accepted otherwise."""
    if spec in EFFICIENTNET_LITE:
        return load_efficientnet(spec, cache=cache)
    if spec.endswith(".onnx") or Path(spec).is_file():
        return OnnxModel(spec)
    if ":" in spec and not spec.startswith("timm:"):
        return _from_attribute(spec, cache)
    return _from_timm(spec.removeprefix("timm:"), cache)


def _from_attribute(spec: str, cache: str | Path | None) -> Model:
    module_name, _, attribute = spec.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ModelError(
            f"cannot import {attribute!r} from {module_name!r}: {error}",
            where=spec,
            fix="use package.module:name with the module on PYTHONPATH",
        ) from error
    if _is_factory(target):
        try:
            target = target()
        except Exception as error:
            raise ModelError(
                f"the model factory raised {type(error).__name__}: {error}", where=spec, fix="fix the factory"
            ) from error
    return _adapt(target, spec, cache)


def _is_factory(target: object) -> bool:
    """A class or a function with no required parameters builds the model; others are the model."""
    if isinstance(target, Model) or not callable(target) or _is_torch_module(target):
        return False
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters
    )


def _adapt(target: object, spec: str, cache: str | Path | None) -> Model:
    if isinstance(target, Model):
        return target
    if _is_torch_module(target):
        from heldout.models.torch import TorchModel

        return TorchModel(target, name=spec, cache=cache)
    if callable(target):
        return CallableModel(target, name=spec)
    raise ModelError(
        f"{type(target).__name__} is not a model",
        where=spec,
        fix="name a Model, a torch module or a function",
    )


def _is_torch_module(target: object) -> bool:
    """Only a loaded torch can have made the object, so never import torch just to check."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(target, torch.nn.Module)


def _from_timm(name: str, cache: str | Path | None) -> Model:
    known = ", ".join(list_models())
    try:
        import timm
    except Exception as error:  # ImportError, or torchvision's RuntimeError on CPU-only torch
        raise ModelError(
            f"unknown model; {name!r} is not built in and timm cannot be imported here "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})",
            where=name,
            fix=f"use one of {known}, a path to an .onnx file, or package.module:function",
        ) from error
    return _timm_model(timm, name, cache)


def _timm_model(timm, name: str, cache: str | Path | None) -> Model:  # pragma: no cover - needs timm
    from heldout.models.torch import TorchModel
    from heldout.preprocessing import Preprocessing

    if not timm.list_models(name, pretrained=True):
        raise ModelError(
            "timm has no pretrained model of this name", where=name, fix="see timm.list_models()"
        )
    module = timm.create_model(name, pretrained=True)
    config = timm.data.resolve_model_data_config(module)
    preprocessing = Preprocessing(
        config["input_size"][-1], config["crop_pct"], config["interpolation"], config["mean"], config["std"]
    )
    return TorchModel(module, name=name, preprocessing=preprocessing, cache=cache)
