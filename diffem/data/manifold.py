r"""The toy manifold of EM-MMPS and DiffEM: points on a random smooth 1-D curve in ``R^n``.

The curve is a random Fourier series with decaying coefficients,
``c(s) = sum_{k=1}^{K} (a_k cos(2 pi k s) + b_k sin(2 pi k s)) / k^2``, ``a_k, b_k ~ N(0, I_n)``,
for ``s in [0, 1)``; each coordinate is then scaled to ``[-2, 2]`` over the whole curve. Data
points are ``c(s)`` at uniform ``s``. The curve is fixed by ``curve_seed``; the points by ``seed``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..rng import make_generator


def curve_coefficients(dim: int, harmonics: int, curve_seed: int) -> tuple[Tensor, Tensor]:
    generator = make_generator(curve_seed)
    decay = 1.0 / torch.arange(1, harmonics + 1, dtype=torch.float64) ** 2
    a = torch.randn(harmonics, dim, generator=generator, dtype=torch.float64) * decay[:, None]
    b = torch.randn(harmonics, dim, generator=generator, dtype=torch.float64) * decay[:, None]
    return a, b


def evaluate_curve(s: Tensor, a: Tensor, b: Tensor) -> Tensor:
    k = torch.arange(1, a.shape[0] + 1, dtype=torch.float64)
    phase = 2 * math.pi * s[:, None].to(torch.float64) * k
    return torch.cos(phase) @ a + torch.sin(phase) @ b


def make_manifold(n: int, dim: int = 5, harmonics: int = 4, curve_seed: int = 0, seed: int = 1) -> Tensor:
    """``n`` points ``(n, dim)`` on the seeded random curve, coordinates in ``[-2, 2]``."""
    if n < 1 or dim < 1:
        raise ValueError(f"need at least one point and one dimension, got n={n}, dim={dim}")
    a, b = curve_coefficients(dim, harmonics, curve_seed)
    dense = evaluate_curve(torch.linspace(0, 1, 4097, dtype=torch.float64), a, b)
    low, high = dense.min(dim=0).values, dense.max(dim=0).values
    s = torch.rand(n, generator=make_generator(seed), dtype=torch.float64)
    points = evaluate_curve(s, a, b)
    return (4 * (points - low) / (high - low) - 2).to(torch.float32)
