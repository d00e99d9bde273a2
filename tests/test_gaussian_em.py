"""Closed-form Gaussian EM recovers a Gaussian from masked observations of it."""

from __future__ import annotations

import pytest
import torch

from diffem.data.observations import ObservationSet, make_observation_set
from diffem.denoisers import GaussianDenoiser
from diffem.em import gaussian_em, gaussian_posterior_sample
from diffem.em.gaussian_em import batched_conjugate_gradient
from diffem.operators import parse_corruption

EVENT = (1, 2, 3)


def gaussian_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    factor = 0.6 * torch.randn(6, 6, generator=generator)
    cov = factor @ factor.T + 0.2 * torch.eye(6)
    mean = torch.randn(6, generator=generator)
    x = mean + torch.randn(n, 6, generator=generator) @ torch.linalg.cholesky(cov).T
    return x.reshape(n, *EVENT), mean, cov


def relative_error(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    """``||estimate - truth|| / ||truth||`` in the Frobenius norm."""
    return float(torch.linalg.matrix_norm(estimate - truth) / torch.linalg.matrix_norm(truth))


@pytest.mark.parametrize("rank", [None, 6])
def test_em_recovers_mean_and_covariance_from_masked_observations(rank: int | None) -> None:
    x, mean, cov = gaussian_data(16000)
    observations = make_observation_set(x, parse_corruption("mask:0.5", 0.01), seed=1)
    fitted = gaussian_em(observations, iterations=25, rank=rank, progress=False)
    mean_error = (fitted.mean.flatten() - mean).norm() / mean.norm()
    cov_error = relative_error(fitted.covariance(), cov)
    assert mean_error < 0.03
    assert cov_error < 0.08
    # the naive answer (statistics of the zero-filled observations) is far off: EM did the work
    naive = observations.y.flatten(1)
    assert relative_error(torch.cov(naive.T), cov) > 4 * cov_error


def test_matheron_samples_have_the_exact_posterior_moments() -> None:
    _, mean, cov = gaussian_data(1)
    prior = GaussianDenoiser(mean.reshape(EVENT), cov=cov)
    operator = parse_corruption("mask:0.5", 0.05).draw(1, EVENT, torch.Generator().manual_seed(3))
    y = operator.observe(mean.reshape(1, *EVENT) + 1.0, torch.Generator().manual_seed(4))
    samples = gaussian_posterior_sample(prior, operator, y.expand(20000, *EVENT),
                                        torch.Generator().manual_seed(5)).flatten(1)
    a = torch.diag(operator.mask.flatten().repeat_interleave(1))
    gain = cov @ a.T @ torch.linalg.inv(a @ cov @ a.T + 0.05**2 * torch.eye(6))
    exact_mean = mean + gain @ (y.flatten() - a @ mean)
    exact_cov = cov - gain @ a @ cov
    assert torch.allclose(samples.mean(0), exact_mean, atol=0.03)
    assert torch.allclose(torch.cov(samples.T), exact_cov, atol=0.04)


def test_batched_conjugate_gradient_solves_each_sample() -> None:
    generator = torch.Generator().manual_seed(0)
    basis = torch.randn(4, 5, 5, generator=generator)
    matrices = basis @ basis.transpose(1, 2) + torch.eye(5)
    rhs = torch.randn(4, 5, generator=generator)
    solution = batched_conjugate_gradient(lambda v: torch.einsum("bij,bj->bi", matrices, v), rhs, iterations=20)
    assert torch.allclose(solution, torch.linalg.solve(matrices, rhs), atol=1e-4)


def covariance_error(observations: ObservationSet, cov: torch.Tensor, iterations: int) -> float:
    return relative_error(gaussian_em(observations, iterations=iterations, rank=None, progress=False).covariance(), cov)


def test_heavier_masking_needs_more_iterations() -> None:
    """EM's rate is the missing fraction: 16 iterations settle a 50 %-masked fit, not a 90 %-masked one."""
    x, _, cov = gaussian_data(8000)
    half = make_observation_set(x, parse_corruption("mask:0.5", 0.01), seed=1)
    assert covariance_error(half, cov, 16) < 1.5 * covariance_error(half, cov, 64)
    most = make_observation_set(x, parse_corruption("mask:0.9", 0.01), seed=1)
    assert covariance_error(most, cov, 64) < 0.7 * covariance_error(most, cov, 16)
