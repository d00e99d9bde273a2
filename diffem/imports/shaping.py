r"""Bringing imported observations to one square size and one channel count, without leaking.

Resizing an observation must not spread the unknown values of missing pixels into observed
ones. Each new pixel is therefore a *normalised* box average (normalised convolution): with the
source mask ``m`` and pixels ``y``,

    y'_j = sum_{i in B_j} w_ij m_i y_i / sum_{i in B_j} w_ij m_i,    m'_j = [sum_i w_ij m_i / sum_i w_ij >= 1/2]

over the source area ``B_j`` of pixel ``j``: an average of observed pixels only, and a pixel is
observed when at least half of its area was. ``crop`` first takes the centred square, ``resize``
squashes the whole image. Blurred observations are never resized (their kernels would change).
Grey images become one channel; under ``channels=auto`` a set is colour when any image is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .base import MAX_SIZE, MIN_SIZE, ImportSettings, ObservationImportError, Observed

#: ITU-R 601 luma weights, as PIL's conversion to grey ("L")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: 16-bit and 32-bit integer images are scaled by their full range
INTEGER_RANGES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I": 65535.0}


@dataclass
class ShapedSet:
    """Stacked observations: ``pixels`` ``(N, C, S, S)`` in ``[0, 1]`` and ``masks`` ``(N, 1, S, S)`` or
    ``kernels`` ``(N, 1, k, k)``, with the source name of each row."""

    pixels: np.ndarray
    masks: np.ndarray | None
    kernels: np.ndarray | None
    names: list[str]


def image_pixels(image: Image.Image, name: str) -> np.ndarray:
    """A decoded image as ``(H, W, 3)`` float32 in ``[0, 1]`` (alpha dropped, 16-bit scaled)."""
    if image.mode in INTEGER_RANGES:
        array = np.asarray(image, dtype=np.float32) / INTEGER_RANGES[image.mode]
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float32)
    else:
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    check_pixels(array, name)
    return array


def check_pixels(array: np.ndarray, name: str) -> None:
    if not np.isfinite(array).all():
        raise ObservationImportError(f"{name} holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < -0.5 or high > 1.5:
        raise ObservationImportError(f"{name} holds values from {low:.3g} to {high:.3g}; pixels must lie in [0, 1] "
                                     "(floats) or 0-255 (8-bit)")


def binary_mask(values: np.ndarray, name: str) -> np.ndarray:
    """A mask ``(H, W)`` of 0 (missing) and 1 (observed) from 0/1 or 0/255 values; else an error."""
    if values.ndim == 3:
        if values.shape[-1] not in (1, 3, 4) or (values.shape[-1] > 1 and not (values[..., :3] == values[..., :1]).all()):
            raise ObservationImportError(f"mask {name} has colours; a mask is black (missing) and white (observed)")
        values = values[..., 0]
    if values.ndim != 2:
        raise ObservationImportError(f"mask {name} has shape {values.shape}; a mask is one 2-D image")
    if values.dtype == bool:
        return values.astype(np.float32)
    found = np.unique(values)
    for white in (1, 255):
        if np.isin(found, (0, white)).all():
            return (values == white).astype(np.float32)
    odd = [v for v in found.tolist() if v not in (0, 1, 255)][:3]
    raise ObservationImportError(f"mask {name} holds values other than 0 and 1 (e.g. {', '.join(f'{v:g}' for v in odd)}); "
                                 "save masks as black-and-white PNGs (white = observed)")


def mask_pixels(image: Image.Image, name: str) -> np.ndarray:
    """A decoded mask image as ``(H, W)`` of 0/1 (white = observed)."""
    if image.mode == "1":
        return np.asarray(image, dtype=np.float32)
    return binary_mask(np.asarray(image.convert("RGB") if image.mode in ("P", "RGBA", "LA", "RGB") else image), name)


def target_size(first: Observed, settings: ImportSettings) -> int:
    """``--size`` if given, else the first image's own side (which must be square and in range)."""
    if settings.size is not None:
        return settings.size
    height, width = first.pixels.shape[:2]
    if height != width:
        raise ObservationImportError(f"{first.name} is {width}x{height}, not square: give --size (and --fit)")
    if not MIN_SIZE <= height <= MAX_SIZE:
        raise ObservationImportError(f"{first.name} is {width}x{height}: sizes from {MIN_SIZE} to {MAX_SIZE} px can be "
                                     f"used as they are; give --size to resize")
    return height


def fitted(observed: Observed, size: int, fit: str, resizing_allowed: bool) -> Observed:
    """``observed`` at ``size x size``: unchanged if it already is, else cropped or squashed (normalised averages)."""
    height, width = observed.pixels.shape[:2]
    if (height, width) == (size, size):
        return observed
    if not resizing_allowed:
        raise ObservationImportError(f"{observed.name} is {width}x{height} but the set is {size}x{size}: images of "
                                     "mixed sizes need --size")
    if observed.kernel is not None:
        raise ObservationImportError(f"{observed.name} is {width}x{height}: blurred observations cannot be resized "
                                     f"to {size}x{size} (their kernels would change); crop them to one square size first")
    box = centre_square(width, height) if fit == "crop" else (0, 0, width, height)
    mask = observed.mask
    assert mask is not None  # blurred observations (no mask) were refused above
    weight = box_resize(mask, size, box)
    channels = [box_resize(observed.pixels[..., c] * mask, size, box) for c in range(observed.pixels.shape[2])]
    kept = weight >= 0.5
    pixels = np.stack(channels, axis=2) / np.maximum(weight, 1e-6)[..., None] * kept[..., None]
    return Observed(observed.name, np.clip(pixels, 0.0, 1.0).astype(np.float32), kept.astype(np.float32))


def centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def box_resize(plane: np.ndarray, size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """The area average of ``box`` of a float plane on a ``size x size`` grid."""
    image = Image.fromarray(plane.astype(np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.Resampling.BOX, box=box), dtype=np.float32)


def grey(pixels: np.ndarray, axis: int) -> np.ndarray:
    """RGB pixels as one grey channel along ``axis`` (luma; a grey picture keeps its values)."""
    return np.expand_dims(np.tensordot(LUMA, pixels, axes=([0], [axis])), axis)


def is_grey(pixels: np.ndarray) -> bool:
    return bool((pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all())


def shape_set(observations: Iterable[Observed], settings: ImportSettings) -> ShapedSet:
    """Every observation checked and fitted to one size, stacked (``(N, C, S, S)``), with one channel count."""
    rows: list[Observed] = []
    size: int | None = None
    colour = settings.channels == "3"
    for observed in observations:
        check_observed(observed)
        if size is None:
            size = target_size(observed, settings)
        row = fitted(observed, size, settings.fit, resizing_allowed=settings.size is not None)
        if rows and (row.mask is None) != (rows[0].mask is None):
            raise ObservationImportError(f"{row.name}: a set holds masked or blurred observations, not both")
        if settings.channels == "auto" and not colour:
            colour = not is_grey(row.pixels)
        rows.append(row)
    if not rows:
        raise ObservationImportError("no observations found")
    pixels = np.stack([row.pixels for row in rows]).transpose(0, 3, 1, 2)
    if not colour:
        pixels = grey(pixels, axis=1)
    masks = None if rows[0].mask is None else np.stack([row.mask for row in rows])[:, None]
    kernels = None if rows[0].kernel is None else stacked_kernels(rows)
    return ShapedSet(np.ascontiguousarray(pixels, dtype=np.float32), masks, kernels, [row.name for row in rows])


def check_observed(observed: Observed) -> None:
    """One mask or one kernel; a mask of the image's size."""
    if (observed.mask is None) == (observed.kernel is None):
        raise ObservationImportError(f"{observed.name}: give either a mask or a blur kernel")
    if observed.mask is not None and observed.mask.shape != observed.pixels.shape[:2]:
        mask_h, mask_w = observed.mask.shape
        height, width = observed.pixels.shape[:2]
        raise ObservationImportError(f"the mask of {observed.name} is {mask_w}x{mask_h} but the image is {width}x{height}")


def stacked_kernels(rows: list[Observed]) -> np.ndarray:
    sides = {row.kernel.shape for row in rows if row.kernel is not None}
    if len(sides) != 1:
        raise ObservationImportError(f"blur kernels of several sizes ({', '.join(f'{a}x{b}' for a, b in sorted(sides))}); "
                                     "pad them to one odd size")
    return np.stack([row.kernel for row in rows if row.kernel is not None])[:, None].astype(np.float32)
