r"""Clamping a denoiser's estimate to the data range.

``E[x | x_t]`` of data supported in ``[low, high]`` lies in that box, so clamping an estimate
to it can only move it closer to the truth there. It guards sampling against the rare
trajectories on which an imperfect learned denoiser (and MMPS's Jacobian through it) produces
far out-of-range estimates that feed back into later steps; EM otherwise trains on them.
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import Denoiser


class ClampedDenoiser(nn.Module):
    """``clamp(d(x_t, sigma), low, high)`` for any (posterior) denoiser ``d``."""

    def __init__(self, denoiser: Denoiser, low: float, high: float) -> None:
        super().__init__()
        if not low < high:
            raise ValueError(f"clamping needs low < high, got [{low}, {high}]")
        self.denoiser = denoiser
        self.low, self.high = float(low), float(high)

    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        return self.denoiser(x_t, sigma).clamp(self.low, self.high)
