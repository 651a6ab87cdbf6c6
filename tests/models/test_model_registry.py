"""create_model: every accepted spec form, and clear errors for the rest."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from heldout.errors import ModelError
from heldout.models import CallableModel, Model, TorchModel, create_model, list_models, resolve_specs


def test_list_models_names_the_built_ins():
    assert list_models() == ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]
    assert list_models("*lite2") == ["efficientnet-lite2"]


def test_all_resolves_to_every_built_in():
    assert resolve_specs("all") == list_models()
    assert resolve_specs("a.onnx, efficientnet-lite1") == ["a.onnx", "efficientnet-lite1"]


def test_built_in_name_gives_a_model_with_the_contract(lite0):
    assert isinstance(lite0, Model)
    assert (lite0.name, lite0.num_classes) == ("efficientnet-lite0", 1000)


def test_unknown_name_says_timm_is_unavailable_and_lists_the_built_ins():
    with pytest.raises(ModelError, match="timm cannot be imported") as raised:
        create_model("resnet50")
    assert "efficientnet-lite0" in raised.value.fix


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    """An importable module with a function, a factory and a torch module."""
    (tmp_path / "my_models.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            import torch

            def logits(batch):
                return np.zeros((len(batch), 1000), dtype=np.float32)

            def factory():
                torch.manual_seed(0)
                return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4))

            broken_factory = lambda: 1 / 0
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_models"
    sys.modules.pop("my_models", None)


def test_module_function_spec_wraps_a_logits_function(user_module):
    model = create_model(f"{user_module}:logits")
    assert isinstance(model, CallableModel)
    assert model.logits(np.zeros((2, 3, 224, 224), dtype=np.float32)).shape == (2, 1000)


def test_factory_spec_returning_a_torch_module_is_adapted(user_module, tmp_path):
    model = create_model(f"{user_module}:factory", cache=tmp_path)
    assert isinstance(model, TorchModel) and model.num_classes == 4


def test_raising_factory_is_a_model_error(user_module):
    with pytest.raises(ModelError, match="factory raised ZeroDivisionError"):
        create_model(f"{user_module}:broken_factory")


def test_missing_attribute_is_a_model_error(user_module):
    with pytest.raises(ModelError, match="cannot import 'absent'"):
        create_model(f"{user_module}:absent")
