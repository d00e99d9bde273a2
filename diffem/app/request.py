r"""The observation a visitor asks for, from the page's control values (:class:`~.controls.ObservationValues`).

Three ways in, one :class:`~.observation.Observation` out:

- a clean picture (an example or an upload) and a corruption: ``y = A x + sigma_y eta`` with the operator's
  parameters drawn from the seed (:func:`~.observation.observe_picture`);
- corruption ``user-mask`` with a mask file: the picture is taken as already observed, ``y = m * x``, its
  mask's white pixels the observed ones (as ``diffem restore --mask`` takes it); the clean image is unknown;
- corruption ``user-mask`` without a picture: the mask editor's background is the observation and its painted
  pixels are missing.

Which files may be read is the caller's to say (``readable``): a web server must not read any file of its disk
that a visitor names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import Tensor

from ..bundle import PriorBundle
from ..registry import PriorEntry
from .controls import ObservationValues, chosen_level
from .inputs import InputError, check_choice, check_float, check_int, mask_from_layers, picture_from_array, \
    read_picture
from .observation import Observation, corruption_operator, observe_picture, take_corrupted_picture, \
    take_observed_picture

#: ``readable(path, what)`` gives the path back if it may be read, else raises :class:`InputError`
Readable = Callable[[str, str], str]


def any_file(path: str, what: str) -> str:
    """Every file may be read (a command line, a test)."""
    return path


def editor_layers(editor: dict[str, Any] | None) -> list[Any]:
    """The mask editor's drawn layers (Gradio's ImageEditor value)."""
    return list((editor or {}).get("layers") or [])


def editor_background(editor: dict[str, Any] | None) -> np.ndarray | None:
    """The mask editor's background picture, or None when it has none."""
    background = (editor or {}).get("background")
    return None if background is None or np.asarray(background).size == 0 else np.asarray(background)


def chosen_picture(image: str | None, event_shape: Sequence[int], readable: Readable = any_file) -> Tensor:
    """The chosen picture file at the prior's resolution."""
    if not image:
        raise InputError("Upload an image or pick an example first.")
    return read_picture(readable(image, "the image"), event_shape)


def requested_observation(entry: PriorEntry, bundle: PriorBundle, values: ObservationValues,
                          readable: Readable = any_file) -> Observation:
    """The observation the controls describe, at ``entry``'s resolution, every value checked."""
    image, corruption = values.picture, values.corruption
    check_choice(corruption, entry.operators, "corruption for this prior")
    sigma_y = check_float(values.sigma_y, 1e-4, 1.0, "Noise sigma")
    seed = check_int(values.seed, 0, 2**31 - 1, "Seed")
    level = chosen_level(str(corruption), values.levels)
    if corruption == "user-mask" and values.mask_file:
        if not image:
            raise InputError("Upload the observed image too: the mask file says which of its pixels are observed")
        return take_observed_picture(bundle, readable(image, "the image"), readable(values.mask_file, "the mask"),
                                     sigma_y)
    editor = values.editor
    mask = mask_from_layers(editor_layers(editor), entry.event_shape[-1]) if corruption == "user-mask" else None
    operator = corruption_operator(str(corruption), level, sigma_y, mask)
    background = editor_background(editor)
    if corruption == "user-mask" and not image and background is not None:
        return take_corrupted_picture(bundle, picture_from_array(background, entry.event_shape), operator)
    return observe_picture(bundle, chosen_picture(image, entry.event_shape, readable), operator, seed)
