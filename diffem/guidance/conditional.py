r"""Conditional posterior denoiser (DiffEM; Zhang et al., 2025).

A conditional network learns ``E[x | x_t, y]`` directly from pairs ``(x, y)``; sampling is the
ordinary sampler with ``d(x_t, sigma, cond(y))`` in place of ``d(x_t, sigma)``: one network call
a step, no vector-Jacobian product and no linear solve. ``cond(y)`` is the operator's channels
(:meth:`diffem.operators.LinearOperator.condition`, e.g. ``[y, mask]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..denoisers.clamped import Clamp
from ..denoisers.edm import EDMDenoiser
from ..operators import LinearOperator
from .base import PosteriorDenoiser, register_posterior


@register_posterior
class ConditionalPosteriorDenoiser(PosteriorDenoiser):
    """Binds an observation to a conditional :class:`~diffem.denoisers.EDMDenoiser`."""

    name = "conditional"
    summary = "DiffEM conditional model (one network call a step)"
    source = "Zhang et al., 2025 (DiffEM)"
    needs = "conditional"

    @dataclass(frozen=True)
    class Options:
        pass

    def __init__(self, denoiser: EDMDenoiser, operator: LinearOperator, y: Tensor, clamp: Clamp = None) -> None:
        if not getattr(denoiser, "conditional", False):
            raise ValueError("conditional sampling needs a conditional denoiser (a DiffEM model)")
        super().__init__(denoiser, operator, y, clamp)
        self.cond = operator.condition(self.y)

    @torch.no_grad()
    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        return self.network(x_t, sigma, self.observed_condition(x_t))

    def observed_condition(self, x_t: Tensor) -> Tensor:
        return self.cond if self.cond.shape[0] == x_t.shape[0] else self.cond.expand(x_t.shape[0], *self.cond.shape[1:])

    def check_input(self, x_t: Tensor) -> None:
        """The conditional network checks its condition's width itself; ``y`` may be any shape it accepts."""
