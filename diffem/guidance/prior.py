r"""Unconditional generation: the prior's own denoiser ``d(x_t, sigma) ~ E[x | x_t]``, no observation.

Listed as a posterior method so that every way of sampling a bundle goes through one registry
(the same clamping, the same cost counters: one network evaluation a step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..denoisers.base import Denoiser
from ..denoisers.clamped import Clamp
from ..operators import LinearOperator
from .base import PosteriorDenoiser, register_posterior


@register_posterior
class PriorSampler(PosteriorDenoiser):
    """``d(x_t, sigma)`` of an unconditional prior, counted and clamped like a posterior method."""

    name = "prior"
    summary = "no observation: samples of the prior"
    source = "Ho et al., 2020; Karras et al., 2022"
    observes = False

    @dataclass(frozen=True)
    class Options:
        pass

    def __init__(self, denoiser: Denoiser, operator: LinearOperator | None = None, y: Tensor | None = None,
                 clamp: Clamp = None) -> None:
        super().__init__(denoiser, None, None, clamp)

    @torch.no_grad()
    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        return self.network(x_t, sigma)
