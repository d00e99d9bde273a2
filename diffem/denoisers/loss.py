r"""Denoising score-matching loss (Vincent, 2011; EDM weighting as in EM-MMPS).

For clean ``x``, ``t ~ Beta(3, 3)``, ``sigma = sigma_t`` and ``z ~ N(0, I)``::

    L = E[ w(sigma) * mean((d(x + sigma z, sigma[, cond]) - x)^2) ],   w(sigma) = 1/sigma^2 + 1.

With ``sigma_data = 1`` this weight makes the effective target of the EDM backbone unit-variance.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..rng import rand, randn
from ..schedule import VESchedule


def draw_noise(x: Tensor, schedule: VESchedule, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Noise levels ``sigma(t)``, ``t ~ Beta(3, 3)``, and standard normal noise for a batch ``x``."""
    t = rand_beta33(x.shape[0], generator, x)
    return schedule.sigma(t), randn(x.shape, generator, x)


def denoising_loss(
    denoiser: Callable[..., Tensor],
    x: Tensor,
    schedule: VESchedule,
    cond: Tensor | None = None,
    generator: torch.Generator | None = None,
    noise: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Mean weighted denoising error over a batch of clean samples ``x``.

    ``noise`` is ``(sigma, z)`` drawn beforehand (data-parallel training draws it for the global
    batch and gives each process its slice); by default it is drawn here.
    """
    sigma, z = noise if noise is not None else draw_noise(x, schedule, generator)
    s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    x_t = x + s * z
    d = denoiser(x_t, sigma, cond) if cond is not None else denoiser(x_t, sigma)
    weight = 1 / sigma**2 + 1
    per_sample = ((d - x) ** 2).flatten(1).mean(dim=1)
    return (weight * per_sample).mean()


def rand_beta33(batch: int, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """``Beta(3, 3)`` draws: the median (3rd order statistic) of five uniforms."""
    return rand((batch, 5), generator, like).median(dim=1).values
