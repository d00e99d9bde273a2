r"""Denoising diffusion models for plug-and-play image restoration (DiffPIR; Zhu et al., 2023,
CVPR, Eq. 13-15, Algorithm 1).

Each step solves a data proximal problem around the denoised estimate ``d = d(x_t, sigma_t)``::

    x0_hat = argmin_x ||y - A x||^2 + rho_t ||x - d||^2,   rho_t = lambda sigma_y^2 / sigma_t^2,
           = (A^T A + rho_t I)^{-1} (A^T y + rho_t d)

(network-free CG, :func:`~diffem.guidance.linear.solve_normal`; closed form in two iterations for
masks), then moves to ``sigma_s`` with the effective noise ``eps_hat = (x_t - x0_hat) / sigma_t``::

    x_s = x0_hat + sigma_s (sqrt(1 - zeta) eps_hat + sqrt(zeta) z),   z ~ N(0, I).

``zeta`` (``noise_mix``) trades the deterministic direction for fresh noise; left unset, the
step is the sampler's own update around ``x0_hat`` (DDIM is ``zeta = 0``; ancestral DDPM is
``zeta_t = 1 - sigma_s^2 / sigma_t^2``). One network call a step, no VJP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..denoisers.base import Denoiser, expand_as_batch
from ..denoisers.clamped import Clamp
from ..operators import LinearOperator
from ..rng import randn
from .base import PosteriorDenoiser, register_posterior
from .linear import solve_normal
from ..options import option

if TYPE_CHECKING:
    from ..samplers.base import Sampler


@register_posterior
class DiffPIRDenoiser(PosteriorDenoiser):
    """The data-proximal estimate ``x0_hat`` around an unconditional ``denoiser``, and DiffPIR's step."""

    name = "diffpir"
    summary = "plug-and-play data proximal step (no VJP)"
    source = "Zhu et al., 2023 (DiffPIR)"

    @dataclass(frozen=True)
    class Options:
        lam: float = option(7.0, "lambda in rho_t = lambda sigma_y^2 / sigma_t^2 (smaller trusts y more)",
                            low=1e-4, high=1e4, tune=(1.0, 3.0, 7.0, 20.0), symbol="lambda")
        noise_mix: float | None = option(None, "zeta: share of fresh noise in each step", low=0.0, high=1.0,
                                         unset="the sampler's own step")
        solve_iterations: int = option(8, "network-free CG iterations of the proximal solve", low=1, high=256)

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor, lam: float = 7.0,
                 noise_mix: float | None = None, solve_iterations: int = 8, clamp: Clamp = None) -> None:
        super().__init__(denoiser, operator, y, clamp)
        self.lam = float(lam)
        self.noise_mix = None if noise_mix is None else float(noise_mix)
        self.solve_iterations = int(solve_iterations)
        self._back_projected: Tensor | None = None

    @torch.no_grad()
    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        d = self.network(x_t, sigma)
        rho = expand_as_batch(self.lam * self.operator.sigma_y**2 / sigma**2, d)
        return solve_normal(self.operator, self.back_projection(d) + rho * d, rho, self.solve_iterations)

    def back_projection(self, like: Tensor) -> Tensor:
        """``A^T y`` (computed once) for the batch of ``like``."""
        if self._back_projected is None or self._back_projected.shape[0] not in (1, like.shape[0]):
            self._back_projected = self.operator.adjoint(self.observed(like))
        return self._back_projected

    def transition(self, sampler: "Sampler", x_t: Tensor, sigma_t: Tensor, sigma_s: Tensor,
                   generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        if self.noise_mix is None:
            return super().transition(sampler, x_t, sigma_t, sigma_s, generator)
        x0 = self(x_t, sigma_t.expand(x_t.shape[0]))
        noise = (x_t - x0) / sigma_t
        fresh = randn(x_t.shape, generator, x_t)
        return x0 + sigma_s * (math.sqrt(1 - self.noise_mix) * noise + math.sqrt(self.noise_mix) * fresh), x0
