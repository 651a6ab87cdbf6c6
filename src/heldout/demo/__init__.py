"""The demo: ``heldout demo`` builds and analyses Fashion-MNIST-V2 through every stage
(:mod:`heldout.demo.pipeline`); ``heldout demo --published`` reproduces the published ImageNetV2
and ReaL numbers (:mod:`heldout.demo.published`)."""

from heldout.demo.published import find_data_dir, run_demo

__all__ = ["find_data_dir", "run_demo"]
