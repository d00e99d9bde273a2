r"""Pseudo-inverse guided diffusion (PiGDM; Song, Vahdat, Mardani & Kautz, 2023, "Pseudoinverse-Guided
Diffusion Models for Inverse Problems", ICLR, Eq. 7-8).

PiGDM takes ``p(x | x_t) ~ N(d, r_t^2 I)`` with ``r_t^2 = sigma_t^2 v / (sigma_t^2 + v)`` (the
posterior variance of a ``N(mu, v I)`` prior; the paper's ``v = 1``), so
``p(y | x_t) ~ N(y; A d, r_t^2 A A^T + Sigma_y)`` and, treating that covariance as constant::

    E[x | x_t, y] ~ d + sigma_t^2 J^T A^T u,   (r_t^2 A A^T + sigma_y^2 I) u = y - A d,

``J = d d / d x_t``. The solve involves only ``A`` (a few network-free CG iterations,
:func:`~diffem.guidance.linear.solve_gram`; one is exact for masks), and ``J^T A^T u`` is one
vector-Jacobian product: one forward pass and one VJP a step. It is MMPS with the Tweedie
covariance ``sigma_t^2 J`` replaced by ``r_t^2 I``, so for an isotropic Gaussian prior of variance
``v`` it is the exact posterior denoiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..denoisers.base import Denoiser, expand_as_batch
from ..denoisers.clamped import Clamp
from ..operators import LinearOperator
from .base import Cost, PosteriorDenoiser, register_posterior
from .linear import solve_gram
from ..options import option


@register_posterior
class PiGDMDenoiser(PosteriorDenoiser):
    """``E[x | x_t, y]`` by PiGDM's isotropic-covariance likelihood around ``denoiser``."""

    name = "pigdm"
    summary = "pseudo-inverse guidance (isotropic covariance, one VJP a step)"
    source = "Song et al., 2023 (PiGDM)"

    @dataclass(frozen=True)
    class Options:
        data_variance: float = option(1.0, "prior variance v in r_t^2 = sigma_t^2 v / (sigma_t^2 + v)", low=1e-6, high=1e3,
                                      tune=(0.1, 0.3, 1.0, 3.0), symbol="v")
        solve_iterations: int = option(8, "network-free CG iterations for (r_t^2 A A^T + sigma_y^2) u = y - A d",
                                       low=1, high=256)

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor, data_variance: float = 1.0,
                 solve_iterations: int = 8, clamp: Clamp = None) -> None:
        super().__init__(denoiser, operator, y, clamp)
        self.data_variance = float(data_variance)
        self.solve_iterations = int(solve_iterations)

    @classmethod
    def step_cost(cls, options: "PiGDMDenoiser.Options") -> Cost:
        return Cost(1, 1)

    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        x_t, sigma, d = self.denoise_tracked(x_t, sigma)
        with torch.enable_grad():
            y_hat = self.operator.forward(d)
        r2 = sigma**2 * self.data_variance / (sigma**2 + self.data_variance)
        residual = (self.y - y_hat).detach()
        u = solve_gram(self.operator, residual, expand_as_batch(r2, residual), self.operator.sigma_y**2,
                       self.solve_iterations)
        return d.detach() + expand_as_batch(sigma**2, d) * self.vjp(y_hat, x_t, u)
