r"""Deterministic DDIM sampler on the VE schedule (Song et al., 2021; eta = 0).

The probability-flow step keeps the predicted noise ``(x_t - d) / sigma_t``::

    x_s = d + (sigma_s / sigma_t) (x_t - d).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..denoisers.base import Denoiser
from .base import Sampler, register_sampler


@register_sampler
class DDIMSampler(Sampler):
    name = "ddim"
    summary = "deterministic DDIM (eta = 0)"

    def update(self, denoiser: Denoiser, x_t: Tensor, denoised: Tensor, sigma_t: Tensor, sigma_s: Tensor,
               generator: torch.Generator | None) -> Tensor:
        return denoised + (sigma_s / sigma_t) * (x_t - denoised)
