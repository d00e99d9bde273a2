r"""Predictor-corrector sampler (Song et al., 2021, "Score-Based Generative Modeling through SDEs").

Predictor: one ancestral DDPM step to ``sigma_s``. Corrector: ``corrections`` Langevin steps at
``sigma_s`` with the score ``(d - x) / sigma_s^2`` and step size ``delta sigma_s^2``::

    x <- x + delta (d(x, sigma_s) - x) + sqrt(2 delta) sigma_s z.

Each corrector step costs one more denoiser call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..denoisers.base import Denoiser
from ..options import option
from ..rng import randn
from ..schedule import VESchedule
from .base import Sampler, register_sampler
from .ddpm import DDPMSampler


@register_sampler
class PCSampler(Sampler):
    name = "pc"
    summary = "predictor-corrector (DDPM + Langevin corrections)"

    @dataclass(frozen=True)
    class Options:
        corrections: int = option(1, "Langevin corrector steps after each predictor step (one network call each)",
                                  low=0, high=8)
        delta: float = option(0.1, "corrector step size, as a fraction of sigma^2", low=0.001, high=0.5)

    def __init__(self, schedule: VESchedule, steps: int = 64, options: Any = None) -> None:
        super().__init__(schedule, steps, options)
        self.corrections = self.options.corrections
        self.delta = self.options.delta
        self._predictor = DDPMSampler(schedule, steps)

    def update(self, denoiser: Denoiser, x_t: Tensor, denoised: Tensor, sigma_t: Tensor, sigma_s: Tensor,
               generator: torch.Generator | None) -> Tensor:
        x = self._predictor.update(denoiser, x_t, denoised, sigma_t, sigma_s, generator)
        for _ in range(self.corrections):
            d = denoiser(x, sigma_s.expand(x.shape[0]))
            x = x + self.delta * (d - x) + math.sqrt(2 * self.delta) * sigma_s * randn(x.shape, generator, x)
        return x
