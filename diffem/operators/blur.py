r"""Gaussian blur (DiffEM's blurred CIFAR-10 corruption).

``A x = k * x``: a per-channel *circular* convolution with a normalised Gaussian kernel of
standard deviation ``kernel_sigma`` pixels, truncated at ``3 kernel_sigma``. It is computed in
the Fourier domain, ``A x = F^{-1}(F(k) . F(x))``. The kernel is symmetric and the boundary
periodic, so ``F(k)`` is real and ``A`` is symmetric: ``A^T = A``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
from torch import Tensor

from .base import LinearOperator, register_operator, require_image


@register_operator
class GaussianBlur(LinearOperator):
    name = "blur"
    spec_argument = "kernel_sigma"
    spec_range = (0.3, 5.0, 0.1)
    summary = "Gaussian blur with standard deviation `kernel_sigma` pixels"
    title = "blur"

    def __init__(self, sigma_y: float = 0.01, kernel_sigma: float = 1.5) -> None:
        super().__init__(sigma_y)
        kernel_sigma = float(kernel_sigma)
        if not math.isfinite(kernel_sigma) or not 0.0 < kernel_sigma <= 16.0:
            raise ValueError(f"blur kernel_sigma must be in (0, 16] pixels, got {kernel_sigma}")
        self.kernel_sigma = kernel_sigma

    def transfer_function(self, height: int, width: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """``F(k)`` on the ``height x width`` grid (real, since the kernel is symmetric)."""
        return _transfer_function(self.kernel_sigma, height, width).to(dtype=dtype, device=device)

    def forward(self, x: Tensor) -> Tensor:
        require_image(x, self.name)
        height, width = x.shape[-2:]
        spectrum = torch.fft.rfft2(x) * self.transfer_function(height, width, x.dtype, x.device)
        return torch.fft.irfft2(spectrum, s=(height, width))

    def adjoint(self, y: Tensor) -> Tensor:
        return self.forward(y)

    def hyperparameters(self) -> dict[str, Any]:
        return {"kernel_sigma": self.kernel_sigma}


@functools.lru_cache(maxsize=64)
def _transfer_function(kernel_sigma: float, height: int, width: int) -> Tensor:
    radius = max(1, math.ceil(3 * kernel_sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    profile = torch.exp(-0.5 * (offsets / kernel_sigma) ** 2)
    profile = profile / profile.sum()
    kernel = _wrap(profile, offsets, height)[:, None] * _wrap(profile, offsets, width)[None, :]
    return torch.fft.rfft2(kernel).real


def _wrap(profile: Tensor, offsets: Tensor, size: int) -> Tensor:
    """A 1-D kernel folded onto a periodic grid of ``size`` points, centred at index 0."""
    folded = torch.zeros(size, dtype=profile.dtype)
    folded.index_add_(0, offsets.long() % size, profile)
    return folded
