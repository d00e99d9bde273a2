r"""Heun's second-order sampler of the probability-flow ODE (Karras et al., 2022, "EDM", Algorithm 1).

On the VE schedule the ODE is ``dx / dsigma = (x - d(x, sigma)) / sigma``. A step from
``sigma_t`` to ``sigma_s`` takes the Euler step and corrects it with the slope at its end::

    k_t = (x_t - d(x_t, sigma_t)) / sigma_t,    x' = x_t + (sigma_s - sigma_t) k_t,
    k_s = (x' - d(x', sigma_s)) / sigma_s,      x_s = x_t + (sigma_s - sigma_t) (k_t + k_s) / 2.

Two denoiser calls a step (one more than DDPM), deterministic given the starting noise. Its
error is second order in the step, where DDPM's and DDIM's are first order: on an exact Gaussian
posterior it keeps the posterior's variance with fewer calls (``benchmarks/estep_variance.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..denoisers.base import Denoiser
from .base import Sampler, register_sampler


@register_sampler
class HeunSampler(Sampler):
    name = "heun"
    summary = "Heun's second-order ODE steps (deterministic, 2 calls a step)"

    def update(self, denoiser: Denoiser, x_t: Tensor, denoised: Tensor, sigma_t: Tensor, sigma_s: Tensor,
               generator: torch.Generator | None) -> Tensor:
        slope_t = (x_t - denoised) / sigma_t
        euler = x_t + (sigma_s - sigma_t) * slope_t
        slope_s = (euler - denoiser(euler, sigma_s.expand(x_t.shape[0]))) / sigma_s
        return x_t + (sigma_s - sigma_t) * 0.5 * (slope_t + slope_s)
