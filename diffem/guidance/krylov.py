r"""Batched Krylov solvers that also return the solution's image under a second linear map.

MMPS solves ``M v = b`` with ``M u = Sigma_y u + sigma_t^2 A J^T A^T u`` and then needs
``J^T A^T v``. Each iteration of CG or GMRES computes ``w_i = J^T A^T p_i`` for its new Krylov
vector ``p_i`` (one vector-Jacobian product); the solution is a linear combination
``v = sum_i c_i p_i`` (CG: the step sizes; GMRES: ``v = V c``), so ``J^T A^T v = sum_i c_i w_i``
comes for free. ``k`` iterations therefore cost ``k`` VJPs in total (Rozet et al., 2024, App. C;
Saad, *Iterative Methods for Sparse Linear Systems*, 2003, for CG and GMRES).

``lift(p)`` is the expensive map (``J^T A^T p``) and ``finish(p, w)`` maps it to ``M p``.
Vectors are batched: the first axis indexes independent systems.

Breakdown (the system is solved before the last iteration, e.g. ``k`` past the number of
observed pixels) is detected relative to the scale of the iteration, not by an absolute
threshold: CG stops moving a system once its residual has fallen below one machine epsilon times
the right-hand side's norm; GMRES stops extending a system's basis once its residual norm
``min ||b - M v||`` (tracked by Givens rotations) is below :func:`breakdown_tolerance` (16
machine epsilons) times ``||b||``. Past that point the new directions are round-off, which would otherwise enter the
basis normalised to unit length and spoil the least-squares solution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Lift = Callable[[Tensor], Tensor]
Finish = Callable[[Tensor, Tensor], Tensor]

_TINY = 1e-30


def breakdown_tolerance(like: Tensor) -> float:
    """Relative size below which a Krylov residual is round-off: 16 machine epsilons of ``like``'s dtype."""
    return 16 * torch.finfo(like.dtype).eps


def batch_dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample inner products ``<a_i, b_i>`` of shape ``(B,)``."""
    return (a * b).flatten(1).sum(dim=1)


def _per_sample(values: Tensor, like: Tensor) -> Tensor:
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def _safe_divide(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator`` with 0 where the denominator vanishes (converged systems)."""
    ok = denominator.abs() > _TINY
    return torch.where(ok, numerator / torch.where(ok, denominator, torch.ones_like(denominator)), torch.zeros_like(numerator))


def conjugate_gradient(b: Tensor, lift: Lift, finish: Finish, iterations: int) -> tuple[Tensor, Tensor]:
    """``k`` CG iterations from ``v_0 = 0`` on the SPD system ``M v = b``.

    Returns ``(v, lift(v))`` computed with exactly ``iterations`` calls of ``lift``.
    """
    v = torch.zeros_like(b)
    lifted_v: Tensor | None = None
    r = b
    p = r
    rr = batch_dot(r, r)
    solved_below = (torch.finfo(b.dtype).eps ** 2) * rr
    for _ in range(iterations):
        w = lift(p)
        mp = finish(p, w)
        active = rr > solved_below
        alpha = torch.where(active, _safe_divide(rr, batch_dot(p, mp)), torch.zeros_like(rr))
        a = _per_sample(alpha, b)
        v = v + a * p
        lifted_v = a * w if lifted_v is None else lifted_v + a * w
        r = r - a * mp
        rr_next = batch_dot(r, r)
        p = r + _per_sample(_safe_divide(rr_next, rr), b) * p
        rr = rr_next
    if lifted_v is None:
        lifted_v = lift(v)
    return v, lifted_v


def gmres(b: Tensor, lift: Lift, finish: Finish, iterations: int) -> tuple[Tensor, Tensor]:
    """``k`` GMRES iterations (Arnoldi with modified Gram-Schmidt) from ``v_0 = 0``.

    Minimises ``||b - M v||`` over the Krylov space ``span{b, M b, ..., M^{k-1} b}``; works for
    non-symmetric ``M`` (an imperfect denoiser's Jacobian). Returns ``(v, lift(v))`` with exactly
    ``iterations`` calls of ``lift``.
    """
    beta = torch.sqrt(batch_dot(b, b))
    basis = [b / _per_sample(torch.where(beta > _TINY, beta, torch.ones_like(beta)), b)]
    lifted: list[Tensor] = []
    hessenberg = b.new_zeros(b.shape[0], iterations + 1, iterations)
    tolerance = breakdown_tolerance(b)
    extending = beta > _TINY  # per system: False once its Krylov space holds the solution
    residual = _GivensResidual(beta, iterations)
    for j in range(iterations):
        w = lift(basis[j])
        lifted.append(w)
        z = finish(basis[j], w)
        for i in range(j + 1):
            h = batch_dot(z, basis[i])
            hessenberg[:, i, j] = h
            z = z - _per_sample(h, b) * basis[i]
        # a stopped system's basis vector is zero: a unit diagonal keeps its least-squares problem
        # full-rank and gives that (void) direction the coefficient 0
        hessenberg[:, j, j] = torch.where(extending, hessenberg[:, j, j], torch.ones_like(beta))
        norm = torch.sqrt(batch_dot(z, z))
        hessenberg[:, j + 1, j] = norm
        extending = extending & (residual.update(hessenberg[:, : j + 2, j]) > tolerance * beta)
        hessenberg[:, j + 1, j] = torch.where(extending, norm, torch.zeros_like(norm))
        safe = torch.where(extending, norm, torch.ones_like(norm))
        basis.append(torch.where(_per_sample(extending, b), z / _per_sample(safe, b), torch.zeros_like(z)))
    if iterations == 0:
        return torch.zeros_like(b), lift(torch.zeros_like(b))
    rhs = b.new_zeros(b.shape[0], iterations + 1)
    rhs[:, 0] = beta
    coefficients = _least_squares(hessenberg, rhs)
    v = sum(_per_sample(coefficients[:, i], b) * basis[i] for i in range(iterations))
    lifted_v = sum(_per_sample(coefficients[:, i], b) * lifted[i] for i in range(iterations))
    return v, lifted_v


class _GivensResidual:
    """The GMRES residual norm ``min_c ||beta e_1 - H_j c||`` after each Arnoldi step, by Givens rotations."""

    def __init__(self, beta: Tensor, iterations: int) -> None:
        self.g = beta.clone()  # the last entry of the rotated right-hand side
        self.cosines: list[Tensor] = []
        self.sines: list[Tensor] = []

    def update(self, column: Tensor) -> Tensor:
        """Rotate the new Hessenberg ``column`` (entries ``0..j+1``); return the residual norm."""
        column = column.clone()
        for i, (c, s) in enumerate(zip(self.cosines, self.sines)):
            top, bottom = column[:, i].clone(), column[:, i + 1].clone()
            column[:, i], column[:, i + 1] = c * top + s * bottom, -s * top + c * bottom
        a, b = column[:, -2], column[:, -1]
        radius = torch.sqrt(a * a + b * b)
        ok = radius > _TINY
        c = torch.where(ok, a / torch.where(ok, radius, torch.ones_like(radius)), torch.ones_like(a))
        s = torch.where(ok, b / torch.where(ok, radius, torch.ones_like(radius)), torch.zeros_like(b))
        self.cosines.append(c)
        self.sines.append(s)
        self.g = -s * self.g
        return self.g.abs()


def _least_squares(matrix: Tensor, rhs: Tensor) -> Tensor:
    """Batched ``argmin_c ||matrix c - rhs||``, robust to rank deficiency (early convergence)."""
    if matrix.device.type == "cpu":
        return torch.linalg.lstsq(matrix, rhs.unsqueeze(-1), driver="gelsy").solution.squeeze(-1)
    return (torch.linalg.pinv(matrix) @ rhs.unsqueeze(-1)).squeeze(-1)


SOLVERS: dict[str, Callable[[Tensor, Lift, Finish, int], tuple[Tensor, Tensor]]] = {
    "cg": conjugate_gradient,
    "gmres": gmres,
}
