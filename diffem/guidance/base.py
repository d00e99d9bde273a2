r"""Posterior denoisers: ``E[x | x_t, y]`` in place of ``E[x | x_t]`` inside any sampler.

By Bayes, ``grad log p(x_t | y) = grad log p(x_t) + grad log p(y | x_t)``; with Tweedie's formula
the posterior denoiser is ``E[x | x_t, y] = E[x | x_t] + sigma_t^2 grad_{x_t} log p(y | x_t)``.
Each method here approximates that likelihood term differently (MMPS, DPS) or learns the
posterior denoiser directly (DiffEM's conditional model).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..denoisers.base import Denoiser, batch_sigma
from ..operators import LinearOperator


def validated_observation(operator: LinearOperator, y: Tensor) -> Tensor:
    """``y`` after checking it is finite (shape is checked at the first call)."""
    if not isinstance(y, Tensor):
        raise TypeError(f"the observation must be a tensor, got {type(y).__name__}")
    if not bool(torch.isfinite(y).all()):
        raise ValueError(f"{operator.name}: the observation contains NaN or infinite values")
    return y


def check_shapes(operator: LinearOperator, y: Tensor, x_t: Tensor) -> None:
    """Raise a clear error if ``y`` does not match ``A x_t`` in shape."""
    expected = operator.forward(torch.zeros_like(x_t)).shape
    if y.shape[1:] != expected[1:] or y.shape[0] not in (1, x_t.shape[0]):
        raise ValueError(
            f"{operator.name}: observation of shape {tuple(y.shape)} does not match A x of shape {tuple(expected)}"
        )


class ObservationGuidance(nn.Module):
    """A denoiser bound to an observation ``y`` of ``operator``: the base of posterior denoisers."""

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, y: Tensor) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.operator = operator
        self.y = validated_observation(operator, y)
        self._checked_shape: torch.Size | None = None

    def check_input(self, x_t: Tensor) -> None:
        """:func:`check_shapes` once per input shape (it costs one pass of the operator)."""
        if x_t.shape != self._checked_shape:
            check_shapes(self.operator, self.y, x_t)
            self._checked_shape = x_t.shape

    def denoise_tracked(self, x_t: Tensor, sigma: Tensor | float) -> tuple[Tensor, Tensor, Tensor]:
        """``(x_t, sigma, d(x_t, sigma))`` with ``x_t`` a fresh leaf that ``d`` is differentiable in."""
        self.check_input(x_t)
        sigma = batch_sigma(sigma, x_t)
        with torch.enable_grad():
            x_t = x_t.detach().requires_grad_(True)
            return x_t, sigma, self.denoiser(x_t, sigma)
