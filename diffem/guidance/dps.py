r"""Diffusion posterior sampling (DPS; Chung et al., 2023, "Diffusion Posterior Sampling for
General Noisy Inverse Problems", Algorithm 1).

DPS approximates ``p(y | x_t)`` by ``p(y | x = d(x_t))`` and guides the sampler's *state*: after
the unconditional step ``x'_s`` of any sampler from ``x_t``,::

    x_s = x'_s - zeta_t grad_{x_t} ||y - A d(x_t)||^2,   zeta_t = zeta / ||y - A d(x_t)||,

with the norm taken per sample (each image of a batch gets its own step). One forward pass and
one vector-Jacobian product a step. The estimate this method reports (``forward``, and so the
final denoising at ``sigma_min``) is the prior's ``d(x_t)`` itself: the returned sample gets no
last guidance jump. ``zeta`` is chosen per prior and operator on validation observations
(:mod:`diffem.tuning`); left unset, it is the tuned value stored with the bundle, else
``DEFAULT_ZETA``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..denoisers.base import Denoiser, expand_as_batch
from ..denoisers.clamped import Clamp, clamp_estimate
from ..operators import LinearOperator
from .base import Cost, PosteriorDenoiser, register_posterior
from ..options import option

if TYPE_CHECKING:
    from ..samplers.base import Sampler

#: the step size when none is given and none was tuned
DEFAULT_ZETA = 1.0
#: the zeta grid a tuner starts from, log-spaced (extended past its ends while the score improves)
ZETA_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


@register_posterior
class DPSDenoiser(PosteriorDenoiser):
    """Guides the sampler's state by a per-sample normalised likelihood gradient around ``denoiser``."""

    name = "dps"
    summary = "diffusion posterior sampling (guidance on x_t, one VJP a step)"
    source = "Chung et al., 2023"

    @dataclass(frozen=True)
    class Options:
        zeta: float | None = option(None, "step size zeta", low=1e-4, high=1e3, tune=ZETA_GRID, symbol="zeta",
                                    unset=f"the value tuned for this prior and operator, else {DEFAULT_ZETA}")

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor, zeta: float | None = DEFAULT_ZETA,
                 clamp: Clamp = None) -> None:
        zeta = DEFAULT_ZETA if zeta is None else zeta
        if not zeta > 0:
            raise ValueError(f"DPS step size zeta must be positive, got {zeta}")
        super().__init__(denoiser, operator, y, clamp)
        self.zeta = float(zeta)

    @classmethod
    def step_cost(cls, options: "DPSDenoiser.Options") -> Cost:
        return Cost(1, 1)

    @classmethod
    def final_cost(cls, options: "DPSDenoiser.Options") -> Cost:
        return Cost(1, 0)

    @torch.no_grad()
    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        return self.network(x_t, sigma)

    def guidance(self, x_t: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """``(d(x_t), zeta_t grad_{x_t} ||y - A d||^2)`` with ``zeta_t = zeta / ||y - A d||`` per sample."""
        x_t, sigma, d = self.denoise_tracked(x_t, sigma)
        with torch.enable_grad():
            error = ((self.y - self.operator.forward(d)) ** 2).flatten(1).sum(dim=1)
            grad = self.vjp(error.sum(), x_t, torch.ones_like(error.sum()))
        norm = torch.sqrt(error.detach()).clamp_min(1e-12)
        return d.detach(), self.zeta * grad / expand_as_batch(norm, grad)

    def transition(self, sampler: "Sampler", x_t: Tensor, sigma_t: Tensor, sigma_s: Tensor,
                   generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        d, step = self.guidance(x_t, sigma_t.expand(x_t.shape[0]))
        denoised = clamp_estimate(d, self.clamp)
        return sampler.update(self, x_t, denoised, sigma_t, sigma_s, generator) - step, denoised
