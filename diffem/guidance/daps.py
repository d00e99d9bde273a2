r"""Decoupled annealing posterior sampling (DAPS; Zhang, Chu, Berner, Meng, Anandkumar & Song, 2025,
"Improving Diffusion Inverse Problem Solving with Decoupled Noise Annealing", CVPR, Algorithm 1).

DAPS decouples consecutive states: at each noise level ``sigma_t`` of the annealing schedule it

1. estimates ``x0_hat(x_t)`` by ``ode_steps`` steps of the probability-flow ODE (DDIM) from
   ``sigma_t`` to ``sigma_min`` (one step is Tweedie's ``d(x_t, sigma_t)``);
2. samples ``x0 ~ p(x0 | x_t, y) ∝ N(x0; x0_hat, r_t^2 I) N(y; A x0, sigma_y^2 I)``, ``r_t = sigma_t``,
   by ``langevin_steps`` unadjusted Langevin steps started at ``x0_hat``::

       x0 <- x0 + eta (A^T (y - A x0) / sigma_y^2 - (x0 - x0_hat) / r_t^2) + sqrt(2 eta) z;

3. re-noises afresh: ``x_s = x0 + sigma_s z``.

The Langevin steps need only ``A`` (no network); the step size is ``eta = step_fraction / L``,
``L = 1 / r_t^2 + ||A||^2 / sigma_y^2`` the gradient's Lipschitz constant (``||A||^2`` by power
iteration; 1 for masks), our stable choice in place of the paper's hand-set learning rate. Cost:
``ode_steps`` network calls a step, no VJP. The sampler's own update is not used (DAPS is its own
sampler); the final denoising at ``sigma_min`` is a plain ``d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..denoisers.base import Denoiser, expand_as_batch
from ..denoisers.clamped import Clamp, clamp_estimate
from ..operators import LinearOperator
from ..rng import randn
from .base import Cost, PosteriorDenoiser, register_posterior
from ..options import option

if TYPE_CHECKING:
    from ..samplers.base import Sampler

#: power-iteration steps for ``||A||^2``
POWER_ITERATIONS = 20


@register_posterior
class DAPSDenoiser(PosteriorDenoiser):
    """DAPS around an unconditional ``denoiser``: ODE estimate, Langevin in ``x0``, fresh re-noising."""

    name = "daps"
    summary = "decoupled annealing (ODE estimate + Langevin on x0, no VJP)"
    source = "Zhang et al., 2025 (DAPS)"

    @dataclass(frozen=True)
    class Options:
        ode_steps: int = option(1, "probability-flow ODE steps (network calls) for x0_hat at each noise level",
                                low=1, high=64, tune=(1, 2, 4), symbol="ODE steps")
        langevin_steps: int = option(50, "Langevin steps on x0 at each noise level (network-free)", low=0, high=10_000)
        step_fraction: float = option(0.5, "Langevin step size as a fraction of 1/L (L the gradient's Lipschitz constant)",
                                      low=1e-4, high=1.0)

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor, ode_steps: int = 1,
                 langevin_steps: int = 50, step_fraction: float = 0.5, clamp: Clamp = None) -> None:
        super().__init__(denoiser, operator, y, clamp)
        self.ode_steps = int(ode_steps)
        self.langevin_steps = int(langevin_steps)
        self.step_fraction = float(step_fraction)
        self._norm2: float | None = None

    @classmethod
    def step_cost(cls, options: "DAPSDenoiser.Options") -> Cost:
        return Cost(options.ode_steps, 0)

    @classmethod
    def final_cost(cls, options: "DAPSDenoiser.Options") -> Cost:
        return Cost(1, 0)

    @torch.no_grad()
    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        return self.network(x_t, sigma)

    @torch.no_grad()
    def ode_estimate(self, x_t: Tensor, sigma_t: Tensor, sigma_min: float) -> Tensor:
        """``x0_hat``: ``ode_steps`` network calls on a geometric grid from ``sigma_t`` to ``sigma_min``."""
        batch = x_t.shape[0]
        if self.ode_steps == 1:
            return self.network(x_t, sigma_t.expand(batch))
        ratios = torch.linspace(0, 1, self.ode_steps, dtype=torch.float64)
        grid = (float(sigma_t) * (sigma_min / float(sigma_t)) ** ratios).to(x_t)
        x = x_t
        for i in range(self.ode_steps):
            d = self.network(x, grid[i].expand(batch))
            if i + 1 < self.ode_steps:
                x = d + (grid[i + 1] / grid[i]) * (x - d)
        return d

    def operator_norm2(self, like: Tensor) -> float:
        """``||A||^2 = max_i lambda_max(A_i^T A_i)`` over the batch, by power iteration (once)."""
        if self._norm2 is None:
            v = torch.ones_like(like)
            value = torch.ones(like.shape[0], dtype=like.dtype, device=like.device)
            for _ in range(POWER_ITERATIONS):
                w = self.operator.adjoint(self.operator.forward(v))
                value = w.flatten(1).norm(dim=1) / v.flatten(1).norm(dim=1).clamp_min(1e-30)
                v = w / expand_as_batch(w.flatten(1).norm(dim=1).clamp_min(1e-30), w)
            self._norm2 = float(value.max())
        return self._norm2

    @torch.no_grad()
    def langevin(self, x0_hat: Tensor, r2: Tensor, generator: torch.Generator | None) -> Tensor:
        """``langevin_steps`` steps on ``N(x0; x0_hat, r^2 I) N(y; A x0, sigma_y^2 I)`` from ``x0_hat``."""
        noise_var = self.operator.sigma_y**2
        lipschitz = 1 / r2 + self.operator_norm2(x0_hat) / noise_var
        eta = expand_as_batch(self.step_fraction / lipschitz, x0_hat)
        r2 = expand_as_batch(r2, x0_hat)
        y = self.observed(x0_hat)
        spread = torch.sqrt(2 * eta)
        x0 = x0_hat
        for _ in range(self.langevin_steps):
            grad = self.operator.adjoint(y - self.operator.forward(x0)) / noise_var - (x0 - x0_hat) / r2
            x0 = x0 + eta * grad + spread * randn(x0.shape, generator, x0)
        return x0

    def transition(self, sampler: "Sampler", x_t: Tensor, sigma_t: Tensor, sigma_s: Tensor,
                   generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        self.check_input(x_t)
        x0_hat = clamp_estimate(self.ode_estimate(x_t, sigma_t, sampler.schedule.sigma_min), self.clamp)
        r2 = (sigma_t**2).expand(x_t.shape[0])
        x0 = clamp_estimate(self.langevin(x0_hat, r2, generator), self.clamp)
        return x0 + sigma_s * randn(x_t.shape, generator, x_t), x0
