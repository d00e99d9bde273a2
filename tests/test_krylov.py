"""CG and GMRES inside MMPS past convergence: iterations beyond the observed pixels stay exact.

On an analytic Gaussian prior MMPS is the exact posterior denoiser once its Krylov space holds the
solution (at most as many iterations as observed pixels). Further iterations must not add
round-off directions to the basis: at ``k = 16`` and ``32``, well past the 4 or 8 observed pixels,
GMRES's relative error must stay at CG's (float32: within 2x CG's error + 1e-6) and at float64
precision (1e-11). Before breakdown was judged relative to the residual, GMRES erred by up to
0.4 (float64) and 4e-2 (float32) on these very cases.
"""

from __future__ import annotations

import pytest
import torch

from diffem import GaussianDenoiser, MMPSDenoiser
from diffem.operators import LinearOperator, RandomMask
from gaussian_reference import exact_posterior_denoiser, operator_matrix, random_covariance

CASES = {  # event shape, operator, noise level of x_t
    "8px-mask50-sigma0.1": ((2, 2, 2), RandomMask(sigma_y=0.05, ratio=0.5), 0.1),
    "8px-mask50-sigma1": ((2, 2, 2), RandomMask(sigma_y=0.05, ratio=0.5), 1.0),
    "16px-mask75-sigma1": ((1, 4, 4), RandomMask(sigma_y=0.01, ratio=0.75), 1.0),
    "16px-mask75-sigma5": ((1, 4, 4), RandomMask(sigma_y=0.01, ratio=0.75), 5.0),
}


def relative_error(case: str, solver: str, iterations: int, dtype: torch.dtype, seed: int) -> float:
    """``||MMPS - exact|| / ||exact||`` of ``E[x | x_t, y]`` for 4 noisy states of one observation."""
    image, operator, sigma = CASES[case]
    generator = torch.Generator().manual_seed(seed)
    dim = int(torch.tensor(image).prod())
    cov = random_covariance(dim, generator)
    mean = 0.5 * torch.randn(dim, generator=generator, dtype=torch.float64)
    drawn: LinearOperator = operator.draw(1, image, generator)
    x = mean + torch.linalg.cholesky(cov) @ torch.randn(dim, generator=generator, dtype=torch.float64)
    y = drawn.observe(x.reshape(1, *image), generator)
    x_t = x + sigma * torch.randn(4, dim, generator=generator, dtype=torch.float64)
    exact = exact_posterior_denoiser(mean, cov, operator_matrix(drawn, image), drawn.sigma_y, y.flatten(), x_t, sigma)
    prior = GaussianDenoiser(mean.reshape(image).to(dtype), cov=cov.to(dtype))
    mmps = MMPSDenoiser(prior, drawn, y.to(dtype), solver=solver, iterations=iterations)
    estimate = mmps(x_t.reshape(4, *image).to(dtype), torch.tensor(sigma, dtype=dtype)).double().flatten(1)
    return float((estimate - exact).norm() / exact.norm())


@pytest.mark.parametrize("iterations", [16, 32])
@pytest.mark.parametrize("case", list(CASES))
def test_gmres_past_convergence_float64(case: str, iterations: int) -> None:
    errors = [relative_error(case, "gmres", iterations, torch.float64, seed) for seed in range(3)]
    assert max(errors) < 1e-11, errors


@pytest.mark.parametrize("iterations", [16, 32])
@pytest.mark.parametrize("case", list(CASES))
def test_gmres_past_convergence_float32_matches_cg(case: str, iterations: int) -> None:
    for seed in range(3):
        gmres = relative_error(case, "gmres", iterations, torch.float32, seed)
        cg = relative_error(case, "cg", iterations, torch.float32, seed)
        assert gmres < 2 * cg + 1e-6, (seed, gmres, cg)


def test_cg_past_convergence_float64() -> None:
    assert max(relative_error(case, "cg", 32, torch.float64, 0) for case in CASES) < 1e-11


def test_one_iteration_is_not_exact() -> None:
    """The bounds can fail: one iteration misses the exact posterior denoiser."""
    assert relative_error("8px-mask50-sigma1", "gmres", 1, torch.float64, 0) > 1e-3
