r"""The naive baseline: the network trained on the observations as they are, with no E-step.

Every lap is an M-step on the observations drawn as images, ``x_i = preview(y_i)`` (``y_i``
itself where it has the image's shape: masked images with their missing pixels at 0, blurred
images; ``A^T y_i`` otherwise), ``min E||d(x + sigma z, sigma) - x||^2``. Lap 0 is the Gaussian
fitted to those images. It is the lower end every EM result is reported against (issue 19: "a
naive baseline trained on the zero-filled observations"), as the clean-data reference is the upper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..gaussian_em import fit_gaussian
from .base import register_method
from .em_mmps import EMMPS


@register_method
class NaiveFill(EMMPS):
    name = "naive"
    summary = "a baseline, the same network trained on the observations as they are (no E-step)"
    title = "with no EM at all: trained on the observations as they are (a baseline)"
    lap_words = "laps of training"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filled = self.observations.operator.preview(self.observations.y)

    def training_samples(self, prior: torch.nn.Module, lap: int, previous: Path) -> Tensor:
        return self.filled

    def info(self, lap: int, **extra: Any) -> dict[str, Any]:
        return super().info(lap, lower_bound="trained on the observations as they are (missing pixels at 0), "
                                             "not an EM result", **extra)

    def initial_gaussian(self) -> torch.nn.Module:
        """The Gaussian fitted to the zero-filled observations directly."""
        return fit_gaussian(self.filled, self.gaussian_rank())
