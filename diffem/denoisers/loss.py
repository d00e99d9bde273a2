r"""Denoising score-matching loss (Vincent, 2011; EDM weighting as in EM-MMPS).

For clean ``x``, ``t ~ Beta(3, 3)``, ``sigma = sigma_t`` and ``z ~ N(0, I)``::

    L = E[ w(sigma) * mean((d(x + sigma z, sigma[, cond]) - x)^2) ],   w(sigma) = 1/sigma^2 + 1.

With ``sigma_data = 1`` this weight makes the effective target of the EDM backbone unit-variance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..rng import rand, randn
from ..schedule import VESchedule
from .edm import EDMDenoiser


def denoising_loss(
    denoiser: EDMDenoiser,
    x: Tensor,
    schedule: VESchedule,
    cond: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Mean weighted denoising error over a batch of clean samples ``x``."""
    t = rand_beta33(x.shape[0], generator, x)
    sigma = schedule.sigma(t)
    z = randn(x.shape, generator, x)
    s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    x_t = x + s * z
    d = denoiser(x_t, sigma, cond) if cond is not None else denoiser(x_t, sigma)
    weight = 1 / sigma**2 + 1
    per_sample = ((d - x) ** 2).flatten(1).mean(dim=1)
    return (weight * per_sample).mean()


def rand_beta33(batch: int, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """``Beta(3, 3)`` draws: the median (3rd order statistic) of five uniforms."""
    return rand((batch, 5), generator, like).median(dim=1).values
