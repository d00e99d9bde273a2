r"""Closed-form EM for a Gaussian prior from linear observations (EM-MMPS's initialisation).

Model: ``x ~ N(mu, Sigma)``, ``y_i = A_i x_i + eta_i``, ``eta_i ~ N(0, sigma_y^2 I)``.

E-step: an exact posterior sample per observation by Matheron's rule (pathwise conditioning)::

    x0 ~ N(mu, Sigma),  e ~ N(0, sigma_y^2 I),
    x  = x0 + Sigma A^T (A Sigma A^T + sigma_y^2 I)^{-1} (y - A x0 - e),

with the linear system solved matrix-free by batched conjugate gradient (``A`` and ``A^T`` by
the operator, ``Sigma v`` by the low-rank-plus-diagonal or full factor).

M-step: ``mu`` and ``Sigma`` are the sample mean and covariance of the posterior samples
(Monte-Carlo EM, as in Rozet et al., 2024). ``Sigma`` is kept full (small dimensions, the toy
manifold) or as ``diag(D) + U U^T`` of rank ``r`` (images, r = 64): ``U`` from the top
eigenpairs of the sample covariance, ``D`` the variance they leave unexplained.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.observations import ObservationSet
from ..denoisers import GaussianDenoiser
from ..operators import LinearOperator
from ..rng import make_generator, randn

#: floor on the diagonal of a fitted covariance, so the Gaussian denoiser stays well posed
MIN_VARIANCE = 1e-4


def batched_conjugate_gradient(matvec: Callable[[Tensor], Tensor], rhs: Tensor, iterations: int,
                               tolerance: float = 1e-6) -> Tensor:
    """Solve ``M v = rhs`` for each sample of a batch (``M`` symmetric positive definite)."""
    dims = tuple(range(1, rhs.ndim))

    def dot(a: Tensor, b: Tensor) -> Tensor:
        return (a * b).sum(dim=dims, keepdim=True)

    v = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rr = dot(r, r)
    threshold = tolerance**2 * rr.clamp_min(torch.finfo(rhs.dtype).tiny)
    for _ in range(iterations):
        if bool((rr <= threshold).all()):
            break
        mp = matvec(p)
        alpha = rr / dot(p, mp).clamp_min(torch.finfo(rhs.dtype).tiny)
        v = v + alpha * p
        r = r - alpha * mp
        rr_new = dot(r, r)
        p = r + (rr_new / rr.clamp_min(torch.finfo(rhs.dtype).tiny)) * p
        rr = rr_new
    return v


def gaussian_posterior_sample(prior: GaussianDenoiser, operator: LinearOperator, y: Tensor,
                              generator: torch.Generator | None = None, iterations: int = 256) -> Tensor:
    """One exact sample of ``p(x | y)`` per observation under the Gaussian ``prior`` (Matheron)."""
    batch = y.shape[0]
    x0 = prior.sample(batch, generator).to(y.dtype)
    noise = operator.sigma_y * randn(y.shape, generator, y)
    support = operator.noise_support(y)
    if support is not None:
        noise = support * noise
    residual = y - operator.forward(x0) - noise

    def sigma_matvec(x: Tensor) -> Tensor:
        return prior.covariance_matvec(x.flatten(1)).reshape(x.shape)

    def system(u: Tensor) -> Tensor:
        return operator.forward(sigma_matvec(operator.adjoint(u))) + operator.sigma_y**2 * u

    v = batched_conjugate_gradient(system, residual, iterations)
    return x0 + sigma_matvec(operator.adjoint(v))


def fit_gaussian(samples: Tensor, rank: int | None) -> GaussianDenoiser:
    """Mean and covariance of ``samples`` (full if ``rank`` is None, else low-rank plus diagonal)."""
    flat = samples.flatten(1).to(torch.float64)
    mean = flat.mean(dim=0)
    centred = flat - mean
    denominator = max(flat.shape[0] - 1, 1)
    event_shape = samples.shape[1:]
    if rank is None:
        cov = centred.T @ centred / denominator + MIN_VARIANCE * torch.eye(centred.shape[1], dtype=centred.dtype)
        return GaussianDenoiser(mean.reshape(event_shape).float(), cov=cov.float())
    rank = min(rank, centred.shape[1])
    top_values, top_vectors = top_eigenpairs(centred, denominator, rank)
    variances = (centred**2).sum(dim=0) / denominator
    left = centred.shape[1] - rank
    residual_floor = ((variances.sum() - top_values.sum()).clamp_min(0) / left if left > 0
                      else torch.tensor(0.0, dtype=centred.dtype))
    factor = top_vectors * torch.sqrt((top_values - residual_floor).clamp_min(0))
    diag = (variances - (factor**2).sum(dim=1)).clamp_min(MIN_VARIANCE)
    return GaussianDenoiser(mean.reshape(event_shape).float(), diag=diag.float(), factor=factor.float())


#: above this dimension the covariance is never formed: its top eigenpairs come from a randomised SVD
EXACT_EIGEN_LIMIT = 1024


def top_eigenpairs(centred: Tensor, denominator: int, rank: int) -> tuple[Tensor, Tensor]:
    """The ``rank`` largest eigenvalues (ascending) and eigenvectors of ``centred^T centred / denominator``.

    Exact (``eigh`` of the ``D x D`` covariance) up to :data:`EXACT_EIGEN_LIMIT` dimensions; beyond,
    from a randomised SVD of the data (Halko et al., 2011), which costs ``O(N D rank)``, not ``O(D^3)``:
    a 32x32 colour image has ``D = 3,072``, a 64x64 one ``12,288``."""
    dim = centred.shape[1]
    if dim <= EXACT_EIGEN_LIMIT:
        eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / denominator)
        return eigenvalues[-rank:], eigenvectors[:, -rank:]
    oversampled = min(rank + 16, *centred.shape)
    _, singular, right = torch.svd_lowrank(centred, q=oversampled, niter=4)
    values, vectors = singular[:rank] ** 2 / denominator, right[:, :rank]
    return values.flip(0), vectors.flip(1)


def initial_gaussian(event_shape: tuple[int, ...], rank: int | None, variance: float = 1.0) -> GaussianDenoiser:
    """The starting point of EM: ``N(0, variance I)``."""
    dim = int(torch.tensor(event_shape).prod())
    mean = torch.zeros(event_shape)
    if rank is None:
        return GaussianDenoiser(mean, cov=variance * torch.eye(dim))
    return GaussianDenoiser(mean, diag=torch.full((dim,), variance), factor=torch.zeros(dim, 0))


def gaussian_em(observations: ObservationSet, iterations: int = 16, rank: int | None = 64, seed: int = 0,
                batch_size: int = 4096, device: torch.device | str = "cpu", cg_iterations: int = 256,
                progress: bool = True, prior: GaussianDenoiser | None = None) -> GaussianDenoiser:
    """Fit ``N(mu, Sigma)`` to the observations by ``iterations`` rounds of Monte-Carlo EM."""
    generator = make_generator(seed, device)
    prior = (prior or initial_gaussian(observations.event_shape, rank)).to(device)
    for _ in tqdm(range(iterations), desc="Gaussian EM", disable=not progress, leave=False):
        samples = []
        for start in range(0, len(observations), batch_size):
            y, operator = observations.batch(slice(start, start + batch_size), device)
            samples.append(gaussian_posterior_sample(prior, operator, y, generator, cg_iterations))
        prior = fit_gaussian(torch.cat(samples), rank).to(device)
    return prior.cpu()
