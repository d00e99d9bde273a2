"""PiGDM, DiffPIR, DDNM, DAPS and DPS against closed-form Gaussian posteriors.

Exact where the method is exact, with the tolerances of ``test_gaussian_exactness`` (3x the
sampling error of 1,024 samples plus the discretisation of 128 ancestral steps):

- PiGDM on an isotropic prior ``N(mu, v I)`` with ``data_variance = v`` (its covariance
  ``r_t^2 I`` is then Tweedie's), under a mask with ``sigma_y = 0.5`` (noisy enough for a wrong
  ``v`` to show);
- DDNM (and DiffPIR) on a diagonal prior under a mask with ``sigma_y = 1e-3``: observed and missing
  pixels are independent and the observed ones are pinned to ``y``;
- DDNM's samples agree with ``y`` on the observed pixels to round-off, for any prior.

A bounded error otherwise, on a correlated 8-pixel prior under a 50 % mask (``sigma_y = 0.05``):
the relative errors of the sample mean (over ``sqrt(tr Sigma_post)``) and covariance (Frobenius)
must stay below the bounds in ``BOUNDED``, which are 1.25x the errors measured at these seeds
(torch 2, CPU) plus 3 sampling standard errors. The prior alone errs by 2.7 (mean) and 6.5
(covariance) there, far above every bound.
"""

from __future__ import annotations

import math

import pytest
import torch

from diffem import GaussianDenoiser, VESchedule, make_sampler
from diffem.guidance import POSTERIORS
from diffem.operators import RandomMask
from gaussian_reference import (
    expected_covariance_error,
    gaussian_posterior,
    operator_matrix,
    random_covariance,
    relative_errors,
)

SAMPLES = 1024
STEPS = 128
DISCRETISATION = 0.06
SCHEDULE = VESchedule(sigma_min=1e-3, sigma_max=10.0)
IMAGE = (2, 2, 2)

#: method -> (options, measured mean error, measured covariance error) at seed 10
BOUNDED = {
    "dps": ({"zeta": 0.3}, 0.084, 0.269),
    "pigdm": ({}, 0.250, 0.184),
    "diffpir": ({}, 0.754, 0.760),
    "ddnm": ({}, 0.727, 0.681),
    "daps": ({"langevin_steps": 10}, 0.142, 0.056),
}


def assert_exact(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> None:
    mean_error, cov_error = relative_errors(samples, mean, cov)
    assert mean_error < 3 / SAMPLES**0.5 + 0.01, mean_error
    assert cov_error < 3 * expected_covariance_error(cov, SAMPLES) + DISCRETISATION, cov_error


def sample(posterior: torch.nn.Module, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return make_sampler("ddpm", SCHEDULE, STEPS).sample(posterior, (SAMPLES, *shape), generator=generator,
                                                        dtype=torch.float64)


def masked_problem(cov: torch.Tensor | None, sigma_y: float, seed: int = 10):
    """A prior (random correlated covariance unless ``cov``), a 50 % mask, ``y`` and the exact posterior."""
    generator = torch.Generator().manual_seed(seed)
    dim = math.prod(IMAGE)
    prior_cov = random_covariance(dim, generator) if cov is None else cov
    mean = 0.5 * torch.randn(dim, generator=generator, dtype=torch.float64)
    prior = GaussianDenoiser(mean.reshape(IMAGE), cov=prior_cov)
    operator = RandomMask(sigma_y=sigma_y, ratio=0.5).draw(1, IMAGE, generator)
    y = operator.observe(prior.sample(1, generator), generator)
    post_mean, post_cov = gaussian_posterior(mean, prior_cov, operator_matrix(operator, IMAGE), sigma_y, y.flatten())
    return prior, operator, y, post_mean, post_cov, generator


def test_pigdm_is_exact_for_an_isotropic_prior() -> None:
    variance = 0.7
    isotropic = variance * torch.eye(8, dtype=torch.float64)
    prior, operator, y, post_mean, post_cov, generator = masked_problem(isotropic, sigma_y=0.5)
    posterior = POSTERIORS["pigdm"](prior, operator, y, data_variance=variance)
    assert_exact(sample(posterior, IMAGE, generator), post_mean, post_cov)
    wrong = POSTERIORS["pigdm"](prior, operator, y, data_variance=0.05)  # the test can fail
    with pytest.raises(AssertionError):
        assert_exact(sample(wrong, IMAGE, generator), post_mean, post_cov)


@pytest.mark.parametrize("method", ["ddnm", "diffpir"])
def test_data_consistent_methods_are_exact_for_a_diagonal_prior(method: str) -> None:
    diagonal = torch.diag(torch.linspace(0.2, 1.5, 8, dtype=torch.float64))
    prior, operator, y, post_mean, post_cov, generator = masked_problem(diagonal, sigma_y=1e-3)
    assert_exact(sample(POSTERIORS[method](prior, operator, y), IMAGE, generator), post_mean, post_cov)


def test_ddnm_samples_equal_y_on_observed_pixels() -> None:
    prior, operator, y, _, _, generator = masked_problem(None, sigma_y=0.05)
    steps = list(make_sampler("ddpm", SCHEDULE, 16).iterate(POSTERIORS["ddnm"](prior, operator, y), (64, *IMAGE),
                                                            generator=generator, dtype=torch.float64))
    for step in steps:  # every estimate and the final sample
        torch.testing.assert_close(operator.forward(step.denoised), y.expand(64, *IMAGE), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", list(BOUNDED))
def test_approximate_methods_have_bounded_error(method: str) -> None:
    options, mean_measured, cov_measured = BOUNDED[method]
    prior, operator, y, post_mean, post_cov, generator = masked_problem(None, sigma_y=0.05)
    samples = sample(POSTERIORS[method](prior, operator, y, **options), IMAGE, generator)
    mean_error, cov_error = relative_errors(samples, post_mean, post_cov)
    mean_bound = 1.25 * mean_measured + 3 / SAMPLES**0.5
    cov_bound = 1.25 * cov_measured + 3 * expected_covariance_error(post_cov, SAMPLES)
    assert mean_error < mean_bound, f"{method}: mean error {mean_error:.3f} >= {mean_bound:.3f}"
    assert cov_error < cov_bound, f"{method}: covariance error {cov_error:.3f} >= {cov_bound:.3f}"
