r"""Clamping a denoiser's estimate to the data range: the one clamping policy of the library.

``E[x | x_t]`` of data supported in ``[low, high]`` lies in that box, so clamping an estimate
to it can only move it closer to the truth there. It guards sampling against the rare
trajectories on which an imperfect learned denoiser (and MMPS's Jacobian through it) produces
far out-of-range estimates that feed back into later steps; EM otherwise trains on them.

Posterior methods clamp their own estimates (``clamp=(low, high)``, which
:func:`diffem.posterior.make_posterior` sets to the bundle's data range) with
:func:`clamp_estimate`; :class:`ClampedDenoiser` applies the same to any denoiser and passes a
posterior method's state transitions and cost counters through.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .base import Denoiser

#: the data range that estimates are clamped to, as ``(low, high)``, or None for no clamping
Clamp = tuple[float, float] | None


def clamp_estimate(estimate: Tensor, clamp: Clamp) -> Tensor:
    """``estimate`` clamped to ``clamp = (low, high)`` (unchanged for ``None``)."""
    return estimate if clamp is None else estimate.clamp(clamp[0], clamp[1])


class ClampedDenoiser(nn.Module):
    """``clamp(d(x_t, sigma), low, high)`` for any (posterior) denoiser ``d``."""

    def __init__(self, denoiser: Denoiser, low: float, high: float) -> None:
        super().__init__()
        if not low < high:
            raise ValueError(f"clamping needs low < high, got [{low}, {high}]")
        self.denoiser = denoiser
        self.low, self.high = float(low), float(high)

    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        return clamp_estimate(self.denoiser(x_t, sigma), (self.low, self.high))

    @property
    def cost(self) -> Any:
        """The wrapped posterior method's cost counters (``None`` for a plain denoiser)."""
        return getattr(self.denoiser, "cost", None)

    def transition(self, sampler: Any, x_t: Tensor, sigma_t: Tensor, sigma_s: Tensor,
                   generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """The wrapped method's own transition when it has one, with the denoised estimate clamped."""
        inner = getattr(self.denoiser, "transition", None)
        if inner is None:
            denoised = self(x_t, sigma_t.expand(x_t.shape[0]))
            return sampler.update(self, x_t, denoised, sigma_t, sigma_s, generator), denoised
        x_s, denoised = inner(sampler, x_t, sigma_t, sigma_s, generator)
        return x_s, clamp_estimate(denoised, (self.low, self.high))
