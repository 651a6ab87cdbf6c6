"""Model input preprocessing with Pillow and numpy (no torchvision).

Resize the shorter side to ``floor(size / crop_pct)``, centre-crop ``size`` x ``size``, scale to
[0, 1] and normalise. The parameters travel with every result as provenance, because a different
crop or interpolation moves accuracy by tenths of a point.

Rounding conventions, the same as torchvision's ``Resize(int)`` + ``CenterCrop`` on PIL images
(what timm's eval transform does), so published numbers are reproducible without torchvision:

* resize target: short side ``floor(size_px / crop_pct)``; long side
  ``int(short_target * long / short)``, i.e. truncated, not rounded;
* one ``Image.resize`` call with Pillow's filter for ``interpolation`` (Pillow antialiases when
  downscaling), on the image converted to RGB first;
* crop offsets ``int(round((side - size_px) / 2))``: Python's round, so a half pixel goes to the
  even offset;
* pixels ``uint8 / 255`` then ``(x - mean) / std``, all in float32.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from PIL import Image

__all__ = ["Preprocessing"]

Interpolation = Literal["bicubic", "bilinear", "nearest", "lanczos"]
_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Preprocessing:
    """Resize, centre crop, normalise: ``Preprocessing()(image)`` is a float32 (3, size, size) array."""

    size_px: int = 224
    crop_pct: float = 0.875
    interpolation: Interpolation = "bicubic"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = image.convert("RGB")
        resized = image.resize(self.resized_size(*image.size), _RESAMPLE[self.interpolation])
        left = int(round((resized.width - self.size_px) / 2))
        top = int(round((resized.height - self.size_px) / 2))
        cropped = resized.crop((left, top, left + self.size_px, top + self.size_px))
        pixels = np.asarray(cropped, dtype=np.float32) / 255.0
        normalised = (pixels - np.float32(self.mean)) / np.float32(self.std)
        return np.ascontiguousarray(normalised.transpose(2, 0, 1))

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` after the resize step: short side to the scale, long side truncated."""
        short_px = math.floor(self.size_px / self.crop_pct)
        if width <= height:
            return short_px, int(short_px * height / width)
        return int(short_px * width / height), short_px

    def batch(self, images: Iterable[Image.Image]) -> np.ndarray:
        """A float32 ``(N, 3, size, size)`` batch, the input every model's ``logits`` takes."""
        arrays = [self(image) for image in images]
        if not arrays:
            return np.zeros((0, 3, self.size_px, self.size_px), dtype=np.float32)
        return np.stack(arrays)

    def digest(self) -> str:
        """A short stable hash of the parameters: part of every cached-logits key."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)
