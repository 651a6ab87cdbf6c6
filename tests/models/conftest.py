"""Fixtures for the model tests: a tiny deterministic torch network."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_module():
    """Conv -> BatchNorm -> ReLU6 -> pool -> 7 logits, seeded, in eval mode."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU6(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 7),
    )
    return module.eval()
