r"""Conditional posterior denoiser (DiffEM; Zhang et al., 2025).

A conditional network learns ``E[x | x_t, y]`` directly from pairs ``(x, y)``; sampling is the
ordinary sampler with ``d(x_t, sigma, cond(y))`` in place of ``d(x_t, sigma)``: one network call
a step, no vector-Jacobian product and no linear solve. ``cond(y)`` is the operator's channels
(:meth:`diffem.operators.LinearOperator.condition`, e.g. ``[y, mask]``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..denoisers.edm import EDMDenoiser
from ..operators import LinearOperator
from .base import ObservationGuidance


class ConditionalPosteriorDenoiser(ObservationGuidance):
    """Binds an observation to a conditional :class:`~diffem.denoisers.EDMDenoiser`."""

    def __init__(self, denoiser: EDMDenoiser, operator: LinearOperator, y: Tensor) -> None:
        if not getattr(denoiser, "conditional", False):
            raise ValueError("conditional sampling needs a conditional denoiser (a DiffEM model)")
        super().__init__(denoiser, operator, y)
        self.cond = operator.condition(self.y)

    @torch.no_grad()
    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        cond = self.cond if self.cond.shape[0] == x_t.shape[0] else self.cond.expand(x_t.shape[0], *self.cond.shape[1:])
        return self.denoiser(x_t, sigma, cond)
