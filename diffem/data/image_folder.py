r"""A folder of images (PNG, JPEG, ...) as a clean dataset.

Each image is converted to grey (``L``) or ``RGB``, centre-cropped to a square and resized to
``size x size`` with a Lanczos filter, then scaled to ``[0, 1]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from ..image_files import open_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def image_to_array(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """A PIL image as a ``(channels, size, size)`` float array in ``[0, 1]``."""
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise ValueError(f"images must have 1 or 3 channels, got {channels}")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")
    image = ImageOps.fit(image.convert(mode), (size, size), method=Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def read_image_file(path: str | Path, size: int, channels: int) -> np.ndarray:
    """One image file as a ``(channels, size, size)`` array in ``[0, 1]``.

    The size is checked (:func:`~diffem.image_files.check_image_size`) before decoding; EXIF
    orientation is applied and an animation gives its first frame. Raises ``FileNotFoundError`` if there is no file,
    :class:`~diffem.image_files.ImageSizeError` for a size out of bounds, ``ValueError`` naming the file if it cannot be decoded.
    """
    return image_to_array(open_image(path), size, channels)


def load_image_folder(folder: str | Path, size: int = 28, channels: int = 1, limit: int | None = None) -> Tensor:
    """All images under ``folder`` (sorted, recursive) as ``(N, channels, size, size)`` in ``[0, 1]``."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no image folder at {root}")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if limit is not None:
        paths = paths[:limit]
    if not paths:
        raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {root}")
    return torch.from_numpy(np.stack([read_image_file(path, size, channels) for path in paths]))

