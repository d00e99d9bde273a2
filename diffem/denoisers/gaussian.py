r"""Exact denoiser of a Gaussian prior ``x ~ N(mu, Sigma)``.

For ``x_t = x + sigma z`` the posterior mean is linear in ``x_t`` (Tweedie is exact here)::

    E[x | x_t] = mu + Sigma (Sigma + sigma^2 I)^{-1} (x_t - mu)
               = x_t - sigma^2 (Sigma + sigma^2 I)^{-1} (x_t - mu),

and its Jacobian ``J = Sigma (Sigma + sigma^2 I)^{-1}`` gives ``Cov[x | x_t] = sigma^2 J`` exactly.
``Sigma`` is either full (through its eigendecomposition) or low-rank plus diagonal,
``Sigma = diag(D) + U U^T``, inverted with the Woodbury identity. EM-MMPS initialises its prior
with such a Gaussian fitted to the observations; the tests use it as ground truth for MMPS.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..rng import randn
from .base import batch_sigma


class GaussianDenoiser(nn.Module):
    """Analytic ``E[x | x_t]`` for ``N(mean, cov)`` or ``N(mean, diag(diag) + factor factor^T)``.

    ``mean`` has the event shape (e.g. ``(C, H, W)``); covariances act on the flattened event.
    """

    def __init__(
        self,
        mean: Tensor,
        cov: Tensor | None = None,
        diag: Tensor | None = None,
        factor: Tensor | None = None,
    ) -> None:
        super().__init__()
        dim = mean.numel()
        if (cov is None) == (diag is None):
            raise ValueError("give either a full covariance `cov` or a low-rank-plus-diagonal `diag` (+ `factor`)")
        self.register_buffer("mean", mean.clone())
        if cov is not None:
            if cov.shape != (dim, dim):
                raise ValueError(f"cov must have shape ({dim}, {dim}), got {tuple(cov.shape)}")
            eigenvalues, eigenvectors = torch.linalg.eigh(0.5 * (cov + cov.T))
            self.register_buffer("eigenvalues", eigenvalues.clamp_min(0))
            self.register_buffer("eigenvectors", eigenvectors)
            self.low_rank = False
        else:
            assert diag is not None
            factor = factor if factor is not None else diag.new_zeros(dim, 0)
            if diag.shape != (dim,) or factor.ndim != 2 or factor.shape[0] != dim:
                raise ValueError(f"diag must have shape ({dim},) and factor ({dim}, r), got {tuple(diag.shape)}, {tuple(factor.shape)}")
            if bool((diag <= 0).any()):
                raise ValueError("the diagonal of a low-rank-plus-diagonal covariance must be positive")
            self.register_buffer("diag", diag.clone())
            self.register_buffer("factor", factor.clone())
            self.low_rank = True

    @property
    def event_shape(self) -> torch.Size:
        return self.mean.shape

    @property
    def dim(self) -> int:
        return self.mean.numel()

    def covariance(self) -> Tensor:
        """The dense covariance matrix (for tests and small dimensions)."""
        if self.low_rank:
            return torch.diag(self.diag) + self.factor @ self.factor.T
        return (self.eigenvectors * self.eigenvalues) @ self.eigenvectors.T

    def covariance_matvec(self, flat: Tensor) -> Tensor:
        """``Sigma v`` for each row ``v`` of ``flat`` (shape ``(B, dim)``) without forming ``Sigma``."""
        if self.low_rank:
            return self.diag * flat + (flat @ self.factor) @ self.factor.T
        return ((flat @ self.eigenvectors) * self.eigenvalues) @ self.eigenvectors.T

    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        sigma = batch_sigma(sigma, x_t)
        residual = (x_t - self.mean).flatten(1)
        var = (sigma**2)[:, None]
        correction = var * self._solve_shifted(residual, var)
        return x_t - correction.reshape(x_t.shape)

    def _solve_shifted(self, r: Tensor, var: Tensor) -> Tensor:
        """``(Sigma + var I)^{-1} r`` for each row of ``r``, ``var`` of shape ``(B, 1)``."""
        if not self.low_rank:
            coords = r @ self.eigenvectors
            return (coords / (self.eigenvalues + var)) @ self.eigenvectors.T
        d_inv = 1 / (self.diag + var)
        u = self.factor
        capacitance = torch.eye(u.shape[1], dtype=r.dtype, device=r.device) + torch.einsum("dr,bd,ds->brs", u, d_inv, u)
        projected = torch.einsum("dr,bd->br", u, d_inv * r)
        inner = torch.linalg.solve(capacitance, projected.unsqueeze(-1)).squeeze(-1)
        return d_inv * r - d_inv * (inner @ u.T)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact samples from the prior."""
        z = randn((n, self.dim), generator, self.mean)
        if self.low_rank:
            w = randn((n, self.factor.shape[1]), generator, self.mean)
            flat = z * torch.sqrt(self.diag) + w @ self.factor.T
        else:
            flat = (z * torch.sqrt(self.eigenvalues)) @ self.eigenvectors.T
        return self.mean + flat.reshape(n, *self.event_shape)

