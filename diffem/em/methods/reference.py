r"""The clean-data reference: what EM-MMPS's network and budget reach when the images are not corrupted.

Every lap is an M-step on the clean images behind the observations, ``min E||d(x + sigma z, sigma) - x||^2``
over ``x`` from the clean source; there is no E-step. It is the upper bound every EM result is
reported against, never an EM result itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...data.sources import load_clean_data
from ..gaussian_em import fit_gaussian
from .base import register_method
from .em_mmps import EMMPS


@register_method
class CleanReference(EMMPS):
    """The upper bound: the same network and budget trained on the clean images behind the observations.

    Lap 0 fits the Gaussian to the clean data; every lap then trains on the clean data (no E-step).
    """

    name = "reference"
    summary = "the upper bound, the same network trained on the clean images (not an EM result)"
    title = "from the clean images (an upper bound, not an EM result)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        source = self.observations.info.get("data")
        if not source:
            raise ValueError("the observation set does not record its clean data source")
        channels, size = self.event_shape[0], self.event_shape[-1]  # an image folder is read at the set's own shape
        clean = load_clean_data(source, size=size, channels=channels) if len(self.event_shape) == 3 else load_clean_data(source)
        self.clean = clean.train[: len(self.observations)]

    def training_samples(self, prior: torch.nn.Module, lap: int, previous: Path) -> Tensor:
        return self.clean

    def info(self, lap: int, **extra: Any) -> dict[str, Any]:
        return super().info(lap, upper_bound="trained on clean images, not an EM result", **extra)

    def initial_gaussian(self) -> torch.nn.Module:
        """The Gaussian fitted to the clean data directly."""
        return fit_gaussian(self.clean, self.gaussian_rank())
