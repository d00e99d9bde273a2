r"""The denoiser interface.

A denoiser approximates the posterior mean ``d(x_t, sigma) ~ E[x | x_t]`` of the clean data
``x`` given its noisy version ``x_t = x + sigma z`` (Tweedie's formula links it to the score:
``grad log p(x_t) = (d(x_t, sigma) - x_t) / sigma^2``). Every sampler in :mod:`diffem.samplers`
only needs this map, so a posterior denoiser ``E[x | x_t, y]`` (MMPS, DPS, a conditional model)
plugs into any sampler unchanged.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class Denoiser(Protocol):
    """Anything callable as ``denoiser(x_t, sigma) -> E[x | x_t]``.

    ``x_t`` has shape ``(B, *event_shape)``; ``sigma`` has shape ``(B,)`` (or is broadcastable).
    """

    def __call__(self, x_t: Tensor, sigma: Tensor) -> Tensor: ...


def batch_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    """``sigma`` as a tensor of shape ``(B,)`` matching the batch of ``x``."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.ndim == 0:
        return sigma.expand(x.shape[0])
    if sigma.shape != (x.shape[0],):
        raise ValueError(f"sigma must be a scalar or have shape ({x.shape[0]},), got {tuple(sigma.shape)}")
    return sigma


def expand_as_batch(values: Tensor, x: Tensor) -> Tensor:
    """Reshape per-sample values ``(B,)`` to broadcast against ``x`` of shape ``(B, ...)``."""
    return values.reshape(values.shape[0], *([1] * (x.ndim - 1)))
