r"""Diffusion posterior sampling (DPS; Chung et al., 2023), the baseline.

DPS approximates ``p(y | x_t)`` by ``p(y | x = d(x_t))`` and takes a normalised gradient step::

    E[x | x_t, y] ~ d + zeta * grad_{x_t}( -||y - A d||^2 ) / ||y - A d||,

one forward pass and one vector-Jacobian product per call. ``zeta`` is the step size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..denoisers.base import Denoiser, batch_sigma, expand_as_batch
from ..operators import LinearOperator
from .base import check_shapes, validated_observation


class DPSDenoiser(nn.Module):
    """``E[x | x_t, y]`` by a normalised likelihood-gradient step around ``denoiser``."""

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor, zeta: float = 1.0) -> None:
        super().__init__()
        if not zeta > 0:
            raise ValueError(f"DPS step size zeta must be positive, got {zeta}")
        self.denoiser = denoiser
        self.operator = operator
        self.y = validated_observation(operator, y)
        self.zeta = float(zeta)

    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        check_shapes(self.operator, self.y, x_t)
        sigma = batch_sigma(sigma, x_t)
        with torch.enable_grad():
            x_t = x_t.detach().requires_grad_(True)
            d = self.denoiser(x_t, sigma)
            error = ((self.y - self.operator.forward(d)) ** 2).flatten(1).sum(dim=1)
            (grad,) = torch.autograd.grad(-error.sum(), x_t)
        norm = torch.sqrt(error.detach()).clamp_min(1e-12)
        return (d + self.zeta * grad / expand_as_batch(norm, grad)).detach()
