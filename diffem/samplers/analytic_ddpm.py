r"""Ancestral DDPM with the analytic reverse variance (Bao et al., 2022, "Analytic-DPM"), on the VE schedule.

The exact reverse transition of the VE forward process is a mixture over the unknown clean image::

    p(x_s | x_t) = E_{x | x_t}[ N(x_s; x_t - tau (x_t - x), sigma_s^2 tau I) ],   tau = 1 - sigma_s^2 / sigma_t^2,

whose mean is ``x_t - tau (x_t - E[x | x_t])`` and whose covariance is
``sigma_s^2 tau I + tau^2 Cov[x | x_t]``. Plain DDPM (:mod:`.ddpm`) keeps the mean and drops the
second term, so every step under-disperses; at 32 geometric steps ``tau`` is about 0.5 and an exact
Gaussian posterior keeps only 71 % of its variance (``benchmarks/estep_variance.py``).

Analytic-DPM puts back the isotropic Gaussian closest in KL: by Tweedie's formula and Fisher's
identity the mean per-pixel variance of ``x | x_t`` is ``sigma_t^2 (1 - E||eps||^2 / D)``, with
``eps = (x_t - d) / sigma_t`` the denoiser's implied noise and ``D`` the pixels of a sample::

    x_s = x_t - tau (x_t - d) + sqrt(sigma_s^2 tau + tau^2 sigma_t^2 (1 - Gamma)) z,
    Gamma = clamp(||x_t - d||^2 / (D sigma_t^2), 0, 1).

The paper estimates ``E||eps||^2`` per step from training data ahead of time. Here each sample's
own ``D`` pixels stand in for that expectation. The sampler then needs no calibration and no
data, gives a sample the same step whether it runs alone or in a batch, and serves posterior
denoisers (MMPS, conditional models), whose noise statistics differ from the prior's. ``Gamma = 1``
is plain DDPM; ``Gamma = 0`` is the forward process's own increment ``sigma_t^2 - sigma_s^2``
(the largest variance a step may add). Same cost as DDPM: one denoiser call a step.
"""

from __future__ import annotations

from torch import Tensor

from .base import register_sampler
from .ddpm import DDPMSampler


def implied_noise_power(x_t: Tensor, denoised: Tensor, sigma_t: Tensor) -> Tensor:
    """``Gamma = ||x_t - d||^2 / (D sigma_t^2)`` per sample, clamped to [0, 1], shaped to broadcast over ``x_t``."""
    power = (x_t - denoised).flatten(1).pow(2).mean(1) / sigma_t**2
    return power.clamp(0, 1).reshape(-1, *[1] * (x_t.ndim - 1))


@register_sampler
class AnalyticDDPMSampler(DDPMSampler):
    name = "analytic-ddpm"
    summary = "ancestral DDPM with Analytic-DPM's variance (stochastic; keeps more posterior variance)"

    def step_variance(self, x_t: Tensor, denoised: Tensor, sigma_t: Tensor, sigma_s: Tensor, tau: Tensor) -> Tensor:
        kept = 1 - implied_noise_power(x_t, denoised, sigma_t)
        return super().step_variance(x_t, denoised, sigma_t, sigma_s, tau) + tau**2 * sigma_t**2 * kept
