"""A folder of clean images (``folder:PATH``, recursive, sorted by path), centre-cropped and resized to one square
size; every 10th image is held out as the test split."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...options import option
from ...scaling import DataScaling
from ..image_folder import load_image_folder
from .base import CleanData, DataSource, register_source

#: one image in ``HELD_OUT`` is the test split's
HELD_OUT = 10


@register_source
class ImageFolder(DataSource):
    name = "folder"
    summary = "a folder of clean images, every 10th held out for testing"
    title = "images"
    argument = "PATH"

    @dataclass(frozen=True)
    class Options:
        size: int = option(28, "image size for folder data (square, pixels)", low=4, high=512)
        channels: int = option(1, "image channels for folder data: 1 (grey) or 3 (colour)", low=1, high=3)

    def load(self, argument: str | None, scaling: DataScaling) -> CleanData:
        if self.options.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {self.options.channels}")
        images = scaling.to_model(load_image_folder(str(argument), size=self.options.size,
                                                    channels=self.options.channels))
        held_out = (torch.arange(images.shape[0]) % HELD_OUT) == HELD_OUT - 1
        if int(held_out.sum()) == 0:
            raise ValueError(f"an image folder needs at least {HELD_OUT} images (every {HELD_OUT}th is held out "
                             "for testing)")
        return CleanData(images[~held_out], images[held_out], "image")
