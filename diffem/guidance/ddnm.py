r"""Denoising diffusion null-space model (DDNM; Wang, Yu & Zhang, 2023, "Zero-Shot Image Restoration
Using Denoising Diffusion Null-Space Model", ICLR, Eq. 13).

DDNM keeps the denoised estimate's null-space part and replaces its range-space part by the
observation's::

    E[x | x_t, y] ~ A^+ y + (I - A^+ A) d = d + A^+ (y - A d),

with ``A^+`` the pseudo-inverse (``A^T`` for masks; otherwise a few network-free CG iterations,
:func:`~diffem.guidance.linear.pseudo_inverse`). Then ``A E[x | x_t, y] = y`` exactly for any
``x_t``: every estimate, the final sample included, agrees with the observation on what ``A``
sees (exact data consistency; the observation noise is copied, so it suits small ``sigma_y``).
One network call a step, no VJP. For a prior whose observed and missing coordinates are
independent (a diagonal Gaussian under a mask) and ``sigma_y -> 0`` this is the exact posterior
denoiser; in general it ignores how the observed part should shape the rest (the
"disharmony" RePaint's resampling and DDNM's time travel work against).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..denoisers.base import Denoiser
from ..denoisers.clamped import Clamp
from ..operators import LinearOperator
from .base import PosteriorDenoiser, register_posterior
from .linear import pseudo_inverse
from ..options import option


@register_posterior
class DDNMDenoiser(PosteriorDenoiser):
    """``d + A^+ (y - A d)``: exact data consistency around an unconditional ``denoiser``."""

    name = "ddnm"
    summary = "null-space projection (exact data consistency, no VJP)"
    source = "Wang et al., 2023 (DDNM)"

    @dataclass(frozen=True)
    class Options:
        solve_iterations: int = option(8, "network-free CG iterations for A^+ (one is exact for masks)",
                                       low=1, high=256)

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor, solve_iterations: int = 8,
                 clamp: Clamp = None) -> None:
        super().__init__(denoiser, operator, y, clamp)
        self.solve_iterations = int(solve_iterations)

    @torch.no_grad()
    def estimate(self, x_t: Tensor, sigma: Tensor) -> Tensor:
        d = self.network(x_t, sigma)
        return d + pseudo_inverse(self.operator, self.observed(d) - self.operator.forward(d), self.solve_iterations)
