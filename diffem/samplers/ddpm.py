r"""Ancestral DDPM sampler on the VE schedule (Ho et al., 2020; DDIM with eta = 1).

For a step from ``sigma_t`` to ``sigma_s < sigma_t``, with ``tau = 1 - sigma_s^2 / sigma_t^2``::

    x_s = x_t - tau (x_t - d) + sigma_s sqrt(tau) z,   z ~ N(0, I).

This is the exact Gaussian transition ``p(x_s | x_t, x = d)`` of the VE forward process.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..denoisers.base import Denoiser
from ..rng import randn
from .base import Sampler, register_sampler


@register_sampler
class DDPMSampler(Sampler):
    name = "ddpm"
    summary = "ancestral DDPM (stochastic)"

    def update(self, denoiser: Denoiser, x_t: Tensor, denoised: Tensor, sigma_t: Tensor, sigma_s: Tensor,
               generator: torch.Generator | None) -> Tensor:
        tau = 1 - (sigma_s / sigma_t) ** 2
        variance = self.step_variance(x_t, denoised, sigma_t, sigma_s, tau)
        return x_t - tau * (x_t - denoised) + variance.sqrt() * randn(x_t.shape, generator, x_t)

    def step_variance(self, x_t: Tensor, denoised: Tensor, sigma_t: Tensor, sigma_s: Tensor, tau: Tensor) -> Tensor:
        """The variance a step adds: ``sigma_s^2 tau``, that of ``p(x_s | x_t, x = d)``."""
        return sigma_s**2 * tau
