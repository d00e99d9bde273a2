r"""Moment-matching posterior sampling (MMPS; Rozet et al., 2024, "Learning Diffusion Priors
from Observations by Expectation Maximization", Sec. 4).

Tweedie's covariance ``Cov[x | x_t] = sigma_t^2 J`` (``J`` the denoiser's Jacobian) gives the
Gaussian likelihood approximation ``q(y | x_t) = N(y; A d, Sigma_y + sigma_t^2 A J A^T)``, hence::

    E[x | x_t, y] ~ d + sigma_t^2 J^T A^T v,   (Sigma_y + sigma_t^2 A J^T A^T) v = y - A d,

with ``d = d(x_t, sigma_t)``. ``J`` is never formed: ``u -> J^T A^T u`` is one vector-Jacobian
product of ``x_t -> A d(x_t)`` by autograd (so ``A^T`` comes for free). The system is solved by
``k`` iterations of CG or GMRES (:mod:`diffem.guidance.krylov`), treating ``v`` as a constant,
and the final ``J^T A^T v`` reuses the solver's products: ``k`` iterations cost one forward
pass and ``k`` VJPs. ``reuse_products=False`` instead lifts ``v`` by one more VJP, as the official
codes and azula do (``k + 1`` VJPs, the same result up to rounding): kept as the cost reference
for benchmarks. With a Gaussian prior and enough iterations this is the exact posterior
denoiser, so any sampler then draws exact posterior samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..denoisers.base import Denoiser, expand_as_batch
from ..denoisers.clamped import Clamp
from ..operators import LinearOperator
from .base import Cost, PosteriorDenoiser, register_posterior
from .krylov import SOLVERS
from ..options import option


@register_posterior
class MMPSDenoiser(PosteriorDenoiser):
    """``E[x | x_t, y]`` by moment matching around an unconditional ``denoiser``."""

    name = "mmps"
    summary = "moment matching (Tweedie covariance, k Krylov iterations)"
    source = "Rozet et al., 2024 (EM-MMPS)"

    @dataclass(frozen=True)
    class Options:
        solver: str = option("gmres", "Krylov solver of the moment-matching system", choices=("cg", "gmres"))  # SOLVERS' keys, as a literal for --help
        iterations: int = option(1, "solver iterations k (each one VJP)", low=1, high=64, tune=(1, 2, 3, 4),
                                 symbol="k")
        reuse_products: bool = option(True, "reuse the solver's VJPs (k VJPs); false spends k + 1, as the official codes")

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor,
                 solver: str = "gmres", iterations: int = 1, reuse_products: bool = True, clamp: Clamp = None) -> None:
        if solver not in SOLVERS:
            raise ValueError(f"unknown MMPS solver {solver!r}; choose one of {', '.join(SOLVERS)}")
        if int(iterations) < 1:
            raise ValueError(f"MMPS needs at least one solver iteration, got {iterations}")
        super().__init__(denoiser, operator, y, clamp)
        self.solver = solver
        self.iterations = int(iterations)
        self.reuse_products = reuse_products

    @classmethod
    def step_cost(cls, options: "MMPSDenoiser.Options") -> Cost:
        return Cost(1, options.iterations + (0 if options.reuse_products else 1))

    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        x_t, sigma, d = self.denoise_tracked(x_t, sigma)
        with torch.enable_grad():
            y_hat = self.operator.forward(d)
        variance = expand_as_batch(sigma**2, self.y)
        noise_variance = self.operator.sigma_y**2

        def lift(u: Tensor) -> Tensor:
            """``J^T A^T u`` by one vector-Jacobian product."""
            return self.vjp(y_hat, x_t, u)

        def finish(u: Tensor, lifted: Tensor) -> Tensor:
            """``Sigma_y u + sigma_t^2 A (J^T A^T u)``."""
            return noise_variance * u + variance * self.operator.forward(lifted)

        residual = (self.y - y_hat).detach()
        v, correction = SOLVERS[self.solver](residual, lift, finish, self.iterations)
        if not self.reuse_products:
            correction = lift(v)
        return d.detach() + expand_as_batch(sigma**2, d) * correction
