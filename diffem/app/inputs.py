"""A visitor's inputs, checked: numbers, choices, pictures, drawn masks and observed pictures with their masks.

Every check raises :class:`InputError` with a sentence a person can act on; the page shows it
as it is (``gr.Error`` in the app), the CLI prints it on one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..data.image_folder import image_to_array, read_image_file
from ..image_files import ImageSizeError, check_image_size, open_image
from ..imports.base import ObservationImportError, Observed
from ..imports.shaping import fitted, grey, image_pixels, mask_pixels


class InputError(ValueError):
    """Bad input from a visitor or a caller of the app's API."""


def check_choice(value: Any, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise InputError(f"Unknown {what} {value!r}; choose one of: {', '.join(choices) or 'none installed'}.")
    return str(value)


def as_number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number.") from None
    if not np.isfinite(number):
        raise InputError(f"{what} must be a finite number, got {value}.")
    return number


def check_int(value: Any, low: int, high: int, what: str) -> int:
    number = as_number(value, what)
    if number != int(number) or not low <= number <= high:
        raise InputError(f"{what} must be a whole number between {low} and {high}, got {value}.")
    return int(number)


def check_float(value: Any, low: float, high: float, what: str) -> float:
    number = as_number(value, what)
    if not low <= number <= high:
        raise InputError(f"{what} must be between {low} and {high}, got {value}.")
    return number


def read_picture(path: str | Path, event_shape: Sequence[int]) -> Tensor:
    """An image file as a ``(C, H, W)`` tensor in ``[0, 1]`` at the model's resolution (centre crop, resize)."""
    try:
        array = read_image_file(path, int(event_shape[-1]), int(event_shape[0]))
    except ImageSizeError as error:
        raise InputError(str(error)) from None
    except (OSError, ValueError) as error:
        raise InputError(f"Cannot read this file as an image ({type(error).__name__}).") from None
    return torch.from_numpy(array)


def picture_from_array(array: np.ndarray, event_shape: Sequence[int]) -> Tensor:
    """An in-memory picture (the mask editor's background) at the model's resolution."""
    image = Image.fromarray(array[..., :3] if array.ndim == 3 else array)
    try:
        check_image_size(*image.size)
    except ImageSizeError as error:
        raise InputError(str(error)) from None
    return torch.from_numpy(image_to_array(image, int(event_shape[-1]), int(event_shape[0])))


def painted_pixels(layers: Sequence[Any]) -> np.ndarray | None:
    """Where any layer of a drawing has paint (alpha > 0), or None when nothing is painted."""
    painted = None
    for layer in layers:
        if layer is None:
            continue
        array = np.asarray(layer)
        alpha = array[..., -1] if array.ndim == 3 else array
        painted = alpha > 0 if painted is None else painted | (alpha > 0)
    return painted if painted is not None and painted.any() else None


def mask_from_layers(layers: Sequence[Any], size: int) -> Tensor | None:
    """A ``(1, 1, size, size)`` observation mask from drawn layers: painted pixels are missing (0)."""
    painted = painted_pixels(layers)
    if painted is None:
        return None
    resized = Image.fromarray(painted.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)
    return torch.from_numpy((np.asarray(resized) == 0).astype(np.float32))[None, None]


def opened(path: str | Path, what: str) -> Image.Image:
    try:
        return open_image(path)
    except ImageSizeError as error:
        raise InputError(f"{what.capitalize()}: {error}") from None
    except (OSError, ValueError):
        raise InputError(f"Cannot read {what} as an image.") from None


def read_observed(image: str | Path, mask: str | Path, event_shape: Sequence[int]) -> tuple[Tensor, Tensor]:
    """An already corrupted picture and its mask (white = observed) at the model's resolution:
    ``(C, H, W)`` pixels in ``[0, 1]`` and a ``(1, 1, H, W)`` mask of 0/1.

    They are fitted as an import fits them (:mod:`diffem.imports.shaping`: centre square, then a
    normalised average of observed pixels only, a pixel being observed when half its area was),
    so a restored observation is read exactly as the training observations were.
    """
    mask_name = Path(mask).name
    try:
        pixels = image_pixels(opened(image, "the observed image"), Path(image).name)
        observed = mask_pixels(opened(mask, "the mask"), mask_name)
    except ObservationImportError as error:
        raise InputError(str(error)) from None
    if observed.shape != pixels.shape[:2]:
        raise InputError(f"The mask is {observed.shape[1]}x{observed.shape[0]} but the image is "
                         f"{pixels.shape[1]}x{pixels.shape[0]}: upload the mask made for this image.")
    shaped = fitted(Observed(Path(image).name, pixels, mask=observed), int(event_shape[-1]), "crop",
                    resizing_allowed=True)
    assert shaped.mask is not None
    picture = shaped.pixels.transpose(2, 0, 1)
    if int(event_shape[0]) == 1:
        picture = grey(picture, axis=0)
    return torch.from_numpy(np.ascontiguousarray(picture, dtype=np.float32)), torch.from_numpy(shaped.mask)[None, None]
