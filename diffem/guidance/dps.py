r"""Diffusion posterior sampling (DPS; Chung et al., 2023), the baseline.

DPS approximates ``p(y | x_t)`` by ``p(y | x = d(x_t))`` and takes a normalised gradient step::

    E[x | x_t, y] ~ d + zeta * grad_{x_t}( -||y - A d||^2 ) / ||y - A d||,

one forward pass and one vector-Jacobian product per call. ``zeta`` is the step size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..denoisers.base import Denoiser, expand_as_batch
from ..operators import LinearOperator
from .base import ObservationGuidance


class DPSDenoiser(ObservationGuidance):
    """``E[x | x_t, y]`` by a normalised likelihood-gradient step around ``denoiser``."""

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor, zeta: float = 1.0) -> None:
        if not zeta > 0:
            raise ValueError(f"DPS step size zeta must be positive, got {zeta}")
        super().__init__(denoiser, operator, y)
        self.zeta = float(zeta)

    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        x_t, _, d = self.denoise_tracked(x_t, sigma)
        with torch.enable_grad():
            error = ((self.y - self.operator.forward(d)) ** 2).flatten(1).sum(dim=1)
            (grad,) = torch.autograd.grad(-error.sum(), x_t)
        norm = torch.sqrt(error.detach()).clamp_min(1e-12)
        return (d + self.zeta * grad / expand_as_batch(norm, grad)).detach()
