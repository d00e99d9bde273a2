"""Closed-form Gaussian facts used as ground truth by the tests."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from diffem.operators import LinearOperator


def random_covariance(dim: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Tensor:
    """A random full covariance with eigenvalues spread over [0.05, 2]."""
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=dtype))
    eigenvalues = torch.exp(torch.linspace(math.log(0.05), math.log(2.0), dim, dtype=dtype))
    return (q * eigenvalues) @ q.T


def operator_matrix(operator: LinearOperator, event_shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> Tensor:
    """The dense matrix of ``operator`` (batch-1 parameters) acting on flattened events."""
    dim = math.prod(event_shape)
    basis = torch.eye(dim, dtype=dtype).reshape(dim, *event_shape)
    images = operator.forward(basis).reshape(dim, -1)
    return images.T


def gaussian_posterior(mean: Tensor, cov: Tensor, matrix: Tensor, sigma_y: float, y: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and covariance of ``x | y`` for ``x ~ N(mean, cov)``, ``y = A x + N(0, sigma_y^2 I)``."""
    gram = matrix @ cov @ matrix.T + sigma_y**2 * torch.eye(matrix.shape[0], dtype=cov.dtype)
    gain = cov @ matrix.T @ torch.linalg.inv(gram)
    post_mean = mean + gain @ (y - matrix @ mean)
    post_cov = cov - gain @ matrix @ cov
    return post_mean, 0.5 * (post_cov + post_cov.T)


def expected_covariance_error(cov: Tensor, n: int) -> float:
    """Expected relative Frobenius error of an n-sample covariance estimate (Wishart moments)."""
    fro2 = float((cov**2).sum())
    return math.sqrt((float(torch.trace(cov)) ** 2 + fro2) / n / fro2)



def exact_posterior_denoiser(mean: Tensor, cov: Tensor, matrix: Tensor, sigma_y: float, y: Tensor,
                             x_t: Tensor, sigma: float) -> Tensor:
    """``E[x | x_t, y]`` for ``x ~ N(mean, cov)``, ``x_t = x + sigma z``, ``y = A x + N(0, sigma_y^2 I)``.

    ``x | x_t`` is Gaussian (mean ``m_t``, covariance ``C_t = cov - cov (cov + sigma^2 I)^{-1} cov``);
    conditioning it on ``y`` is :func:`gaussian_posterior` with that prior. ``x_t`` is ``(B, dim)``.
    """
    eye = torch.eye(cov.shape[0], dtype=cov.dtype)
    gain = cov @ torch.linalg.inv(cov + sigma**2 * eye)
    means = mean + (x_t - mean) @ gain.T
    cov_t = cov - gain @ cov
    return torch.stack([gaussian_posterior(m, cov_t, matrix, sigma_y, y)[0] for m in means])


def relative_errors(samples: Tensor, mean: Tensor, cov: Tensor) -> tuple[float, float]:
    """Relative errors of the samples' mean (over ``sqrt(tr cov)``) and covariance (Frobenius)."""
    flat = samples.flatten(1)
    mean_error = float((flat.mean(0) - mean).norm() / cov.trace().sqrt())
    cov_error = float((torch.cov(flat.T) - cov).norm() / cov.norm())
    return mean_error, cov_error
