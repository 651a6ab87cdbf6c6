"""Preprocessing: pixel-identical to a plain Pillow reference, with torchvision's rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.data
from PIL import Image

from heldout.preprocessing import Preprocessing

LITE0 = Preprocessing(224, 0.875, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def pillow_reference(image: Image.Image, size: int, crop_pct: float, mean, std) -> np.ndarray:
    """Resize(short side) + CenterCrop + ToTensor + Normalize, spelled out with Pillow and numpy."""
    short = math.floor(size / crop_pct)
    width, height = image.size
    target = (short, int(short * height / width)) if width <= height else (int(short * width / height), short)
    resized = image.convert("RGB").resize(target, Image.Resampling.BICUBIC)
    left = int(round((target[0] - size) / 2.0))
    top = int(round((target[1] - size) / 2.0))
    pixels = np.array(resized, dtype=np.uint8)[top : top + size, left : left + size]
    scaled = pixels.astype(np.float32) / np.float32(255)
    return ((scaled - np.float32(mean)) / np.float32(std)).transpose(2, 0, 1)


@pytest.mark.parametrize("photo", ["chelsea", "coffee", "camera", "astronaut"])
@pytest.mark.parametrize(("size", "crop_pct"), [(224, 0.875), (240, 0.882), (260, 0.89)])
def test_matches_the_pillow_reference_exactly(photo, size, crop_pct):
    image = Image.fromarray(getattr(skimage.data, photo)())
    preprocessing = Preprocessing(size, crop_pct, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    expected = pillow_reference(image, size, crop_pct, (0.5,) * 3, (0.5,) * 3)
    assert np.array_equal(preprocessing(image), expected)


def test_long_side_is_truncated_not_rounded():
    # chelsea is 451 x 300: 256 * 451 / 300 = 384.85 -> 384 (round would give 385)
    assert LITE0.resized_size(451, 300) == (384, 256)
    assert LITE0.resized_size(300, 451) == (256, 384)


def test_half_pixel_crop_offset_rounds_to_even():
    # a 259-wide resize leaves 35 columns: offset round(17.5) = 18, not floor's 17
    image = Image.fromarray(np.tile(np.arange(259, dtype=np.uint8), (256, 1))).convert("RGB")
    out = Preprocessing(224, 0.875, "nearest", (0.0,) * 3, (1.0,) * 3)(image)
    assert round(float(out[0, 0, 0]) * 255) == 18


def test_batch_stacks_to_float32_nchw():
    images = [Image.fromarray(skimage.data.chelsea()), Image.fromarray(skimage.data.camera())]
    batch = LITE0.batch(images)
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == np.float32


def test_digest_changes_with_any_parameter():
    assert LITE0.digest() != Preprocessing(224, 0.9, "bicubic", (0.5,) * 3, (0.5,) * 3).digest()
    assert LITE0.digest() == Preprocessing(224, 0.875, "bicubic", (0.5,) * 3, (0.5,) * 3).digest()
