r"""Network-free linear solves with the operator ``A`` (its forward map and adjoint only).

Used by the methods that correct a denoised estimate in closed form (PiGDM, DiffPIR, DDNM); each
is a few conjugate-gradient iterations (:func:`diffem.guidance.krylov.conjugate_gradient`) on a
symmetric positive (semi-)definite system, batched over the first axis:

- :func:`solve_gram`: ``(scale A A^T + shift I) u = r`` in observation space;
- :func:`solve_normal`: ``(A^T A + shift I) x = b`` in image space;
- :func:`pseudo_inverse`: ``A^+ r = A^T (A A^T)^+ r`` for ``r`` in the range of ``A`` (CG from 0
  stays in that range, so a mask's singular ``A A^T`` is fine; for a mask one iteration is exact).

None of them calls the network, so they add nothing to a method's cost count.
"""

from __future__ import annotations

from torch import Tensor

from ..operators import LinearOperator
from .krylov import conjugate_gradient


def solve_gram(operator: LinearOperator, r: Tensor, scale: Tensor | float, shift: Tensor | float,
               iterations: int) -> Tensor:
    """``u`` with ``(scale A A^T + shift I) u = r`` (``scale``, ``shift`` broadcast against ``r``)."""
    u, _ = conjugate_gradient(r, operator.adjoint, lambda p, back: scale * operator.forward(back) + shift * p,
                              iterations)
    return u


def solve_normal(operator: LinearOperator, b: Tensor, shift: Tensor | float, iterations: int) -> Tensor:
    """``x`` with ``(A^T A + shift I) x = b`` (``shift`` broadcast against ``b``)."""
    x, _ = conjugate_gradient(b, operator.forward, lambda p, image: operator.adjoint(image) + shift * p, iterations)
    return x


def pseudo_inverse(operator: LinearOperator, r: Tensor, iterations: int) -> Tensor:
    """``A^+ r`` for ``r`` in the range of ``A``: ``A^T u`` with ``A A^T u = r`` by CG."""
    _, back = conjugate_gradient(r, operator.adjoint, lambda p, image: operator.forward(image), iterations)
    return back
