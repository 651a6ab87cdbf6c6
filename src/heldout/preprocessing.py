"""Model input preprocessing with Pillow and numpy (no torchvision).

Resize the shorter side to ``floor(size / crop_pct)``, centre-crop ``size`` x ``size``, scale to
[0, 1] and normalise. The parameters travel with every result as provenance, because a different
crop or interpolation moves accuracy by tenths of a point.
"""

from __future__ import annotations

import math
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
        scale_px = math.floor(self.size_px / self.crop_pct)
        width, height = image.size
        ratio = scale_px / min(width, height)
        resized = image.resize(
            (max(scale_px, round(width * ratio)), max(scale_px, round(height * ratio))),
            _RESAMPLE[self.interpolation],
        )
        left = (resized.width - self.size_px) // 2
        top = (resized.height - self.size_px) // 2
        cropped = resized.crop((left, top, left + self.size_px, top + self.size_px))
        pixels = np.asarray(cropped, dtype=np.float32) / 255.0
        normalised = (pixels - np.float32(self.mean)) / np.float32(self.std)
        return np.ascontiguousarray(normalised.transpose(2, 0, 1))

    def to_dict(self) -> dict:
        return asdict(self)
