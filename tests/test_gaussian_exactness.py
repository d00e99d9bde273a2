"""MMPS and the samplers against closed-form Gaussian posteriors and priors.

With a Gaussian prior the denoiser is exact and linear, Tweedie's covariance is exact, and MMPS
solved to convergence is the exact posterior denoiser; the sampler's samples must then have the
closed-form posterior's mean and covariance. Tolerances: 3x the sampling error expected from
the sample count (Wishart moments for the covariance) plus 4 % for the sampler's time
discretisation (the ancestral sampler loses ~2-3 % of the variance at 256 steps).
"""

from __future__ import annotations

import pytest
import torch

from diffem import GaussianDenoiser, MMPSDenoiser, VESchedule, make_sampler
from diffem.samplers import SAMPLERS
from diffem.operators import BoxMask, Denoise, Downsample, GaussianBlur, LinearOperator, RandomMask, RandomProjection
from gaussian_reference import (
    expected_covariance_error,
    gaussian_posterior,
    operator_matrix,
    random_covariance,
    relative_errors,
)

SAMPLES = 4096
STEPS = 256
DISCRETISATION = 0.04
SCHEDULE = VESchedule(sigma_min=1e-3, sigma_max=10.0)
IMAGE = (2, 2, 2)


def make_prior(shape: tuple[int, ...], generator: torch.Generator) -> tuple[GaussianDenoiser, torch.Tensor, torch.Tensor]:
    dim = int(torch.tensor(shape).prod())
    cov = random_covariance(dim, generator)
    mean = 0.5 * torch.randn(dim, generator=generator, dtype=torch.float64)
    return GaussianDenoiser(mean.reshape(shape), cov=cov), mean, cov


def assert_matches(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> None:
    mean_error, cov_error = relative_errors(samples, mean, cov)
    mean_bound = 3 / SAMPLES**0.5 + 0.01
    cov_bound = 3 * expected_covariance_error(cov, SAMPLES) + DISCRETISATION
    assert mean_error < mean_bound, f"mean relative error {mean_error:.4f} >= {mean_bound:.4f}"
    assert cov_error < cov_bound, f"covariance relative error {cov_error:.4f} >= {cov_bound:.4f}"


def image_operators(generator: torch.Generator) -> list[LinearOperator]:
    return [
        RandomMask(sigma_y=0.05, ratio=0.5).draw(1, IMAGE, generator),
        BoxMask(sigma_y=0.05, size=0.5).draw(1, IMAGE, generator),
        GaussianBlur(sigma_y=0.1, kernel_sigma=0.8),
        Downsample(sigma_y=0.05, factor=2),
        Denoise(sigma_y=0.3),
    ]


@pytest.mark.parametrize("solver", ["cg", "gmres"])
@pytest.mark.parametrize("index", range(5), ids=["mask", "box", "blur", "downsample", "denoise"])
def test_mmps_samples_the_exact_gaussian_posterior(index: int, solver: str) -> None:
    generator = torch.Generator().manual_seed(10 + index)
    prior, mean, cov = make_prior(IMAGE, generator)
    operator = image_operators(generator)[index]
    x = prior.sample(1, generator)
    y = operator.observe(x, generator)
    matrix = operator_matrix(operator, IMAGE)
    post_mean, post_cov = gaussian_posterior(mean, cov, matrix, operator.sigma_y, y.flatten())
    rank = int(torch.linalg.matrix_rank(matrix))
    posterior = MMPSDenoiser(prior, operator, y, solver=solver, iterations=rank)
    samples = make_sampler("ddpm", SCHEDULE, STEPS).sample(posterior, (SAMPLES, *IMAGE), generator=generator, dtype=torch.float64)
    assert_matches(samples, post_mean, post_cov)


def test_mmps_with_random_projections_of_vectors(generator: torch.Generator) -> None:
    prior, mean, cov = make_prior((8,), generator)
    operator = RandomProjection(sigma_y=0.05, rows=3).draw(1, (8,), generator)
    x = prior.sample(1, generator)
    y = operator.observe(x, generator)
    matrix = operator.matrix[0].double()
    post_mean, post_cov = gaussian_posterior(mean, cov, matrix, operator.sigma_y, y.flatten())
    posterior = MMPSDenoiser(prior, operator, y, solver="cg", iterations=3)
    samples = make_sampler("ddpm", SCHEDULE, STEPS).sample(posterior, (SAMPLES, 8), generator=generator, dtype=torch.float64)
    assert_matches(samples, post_mean, post_cov)


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_unconditional_sampling_matches_the_prior(sampler: str, generator: torch.Generator) -> None:
    prior, mean, cov = make_prior(IMAGE, generator)
    samples = make_sampler(sampler, SCHEDULE, STEPS).sample(prior, (SAMPLES, *IMAGE), generator=generator, dtype=torch.float64)
    assert_matches(samples, mean, cov)


def test_too_few_iterations_are_not_exact(generator: torch.Generator) -> None:
    """The exactness test can fail: one CG iteration under a blur misses the posterior."""
    prior, mean, cov = make_prior(IMAGE, generator)
    operator = GaussianBlur(sigma_y=0.1, kernel_sigma=0.8)
    y = operator.observe(prior.sample(1, generator), generator)
    post_mean, post_cov = gaussian_posterior(mean, cov, operator_matrix(operator, IMAGE), operator.sigma_y, y.flatten())
    posterior = MMPSDenoiser(prior, operator, y, solver="cg", iterations=1)
    samples = make_sampler("ddpm", SCHEDULE, 64).sample(posterior, (SAMPLES, *IMAGE), generator=generator, dtype=torch.float64)
    with pytest.raises(AssertionError):
        assert_matches(samples, post_mean, post_cov)


def test_low_rank_gaussian_denoiser_matches_full(generator: torch.Generator) -> None:
    dim, rank = 12, 3
    factor = torch.randn(dim, rank, generator=generator, dtype=torch.float64)
    diag = torch.rand(dim, generator=generator, dtype=torch.float64) + 0.1
    mean = torch.randn(dim, generator=generator, dtype=torch.float64)
    low_rank = GaussianDenoiser(mean, diag=diag, factor=factor)
    full = GaussianDenoiser(mean, cov=low_rank.covariance())
    x_t = torch.randn(5, dim, generator=generator, dtype=torch.float64)
    sigma = torch.tensor([0.01, 0.1, 1.0, 10.0, 100.0], dtype=torch.float64)
    torch.testing.assert_close(low_rank(x_t, sigma), full(x_t, sigma))


def test_analytic_variance_keeps_what_ddpm_loses(generator: torch.Generator) -> None:
    """At 16 steps DDPM under-disperses an exact Gaussian; Analytic-DPM's variance puts most of it back."""
    prior, mean, cov = make_prior(IMAGE, generator)
    kept = {}
    for name in ("ddpm", "analytic-ddpm"):
        samples = make_sampler(name, SCHEDULE, 16).sample(prior, (SAMPLES, *IMAGE), generator=torch.Generator().manual_seed(3),
                                                         dtype=torch.float64)
        kept[name] = float(torch.trace(torch.cov(samples.flatten(1).T)) / torch.trace(cov))
    assert kept["ddpm"] < 0.85, kept
    assert abs(kept["analytic-ddpm"] - 1) < 0.5 * abs(kept["ddpm"] - 1), kept


def test_analytic_step_is_the_forward_increment_when_nothing_is_denoised() -> None:
    """With ``d(x_t) = x_t`` (Gamma = 0) the step adds the forward process's own variance ``sigma_t^2 - sigma_s^2``."""
    sampler = make_sampler("analytic-ddpm", SCHEDULE, 8)
    x_t = torch.randn(4, *IMAGE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma_t, sigma_s = torch.tensor(2.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    step = sampler.update(lambda x, s: x, x_t, x_t, sigma_t, sigma_s, torch.Generator().manual_seed(1))
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(step, x_t + 3**0.5 * noise)
