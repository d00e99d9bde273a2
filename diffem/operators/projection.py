r"""Random linear projections of vectors (the toy-manifold experiment of both papers).

Each sample has its own ``A_i in R^{m x n}`` with i.i.d. Gaussian entries and rows normalised
to unit norm; ``y_i = A_i x_i + sigma_y eta``.

DiffEM's paper conditions its network on ``[y, vec(A)]``. We condition on
``[A^+ y, vec(A^+ A)]`` instead: the least-norm solution of ``A x = y`` and the orthogonal
projector onto the row space of ``A``, which together pin down the affine set ``{x : A x = y}``
that the likelihood concentrates on (``sigma_y = 0.01``), in ``x``'s own coordinates, as the
image operators' ``[A^T y, A^T A 1]`` do (``A^+ = A^T`` for a mask). An MLP reading ``[y, vec(A)]``
must learn the products and the inverse of ``(A A^T)`` itself; trained on clean points (3000 steps,
``benchmarks/manifold.py``'s MLP) it mostly ignored ``y`` (posterior RMSE 2.61 against 1.87 with
this conditioning; Sinkhorn divergence of the aggregate posterior 0.067 against 0.031).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..rng import randn
from .base import LinearOperator, register_operator, require_batch


@register_operator
class RandomProjection(LinearOperator):
    name = "projection"
    domain = "vector"
    spec_argument = "rows"
    spec_range = (1, 16, 1)
    summary = "random projection to `rows` dimensions with unit-norm rows (vectors)"
    title = "random projections"

    def __init__(self, sigma_y: float = 0.01, rows: int | float = 2, matrix: Tensor | None = None) -> None:
        super().__init__(sigma_y)
        if float(rows) != int(rows) or int(rows) < 1:
            raise ValueError(f"projection rows must be a positive integer, got {rows}")
        self.rows = int(rows)
        self.matrix = None if matrix is None else self._validated(matrix)

    def _validated(self, matrix: Tensor) -> Tensor:
        if matrix.ndim != 3 or matrix.shape[1] != self.rows:
            raise ValueError(f"projection: matrix must have shape (B, {self.rows}, n), got {tuple(matrix.shape)}")
        return matrix

    def _matrix_for(self, batch: int, dim: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        if self.matrix is None:
            raise ValueError("projection: no matrix yet; call draw(...) or give one")
        if self.matrix.shape[0] not in (1, batch):
            raise ValueError(f"projection: matrices are for a batch of {self.matrix.shape[0]}, input has batch {batch}")
        if self.matrix.shape[2] != dim:
            raise ValueError(f"projection: matrices act on R^{self.matrix.shape[2]}, input is in R^{dim}")
        return self.matrix.to(dtype=dtype, device=device)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2:
            raise ValueError(f"projection acts on vector batches of shape (B, n), got {tuple(x.shape)}")
        matrix = self._matrix_for(x.shape[0], x.shape[1], x.dtype, x.device)
        return torch.einsum("bmn,bn->bm", matrix.expand(x.shape[0], -1, -1), x)

    def adjoint(self, y: Tensor) -> Tensor:
        if self.matrix is None:
            raise ValueError("projection: no matrix yet; call draw(...) or give one")
        require_batch(y, self.matrix, self.name)
        matrix = self.matrix.to(dtype=y.dtype, device=y.device).expand(y.shape[0], -1, -1)
        return torch.einsum("bmn,bm->bn", matrix, y)

    def input_shape(self, y_shape: torch.Size) -> torch.Size:
        assert self.matrix is not None
        return torch.Size([y_shape[0], self.matrix.shape[2]])

    def condition(self, y: Tensor) -> Tensor:
        """``[A^+ y, vec(A^+ A)]``: the least-norm solution of ``A x = y`` and the row-space projector."""
        matrix = self._matrix_for(y.shape[0], self.input_shape(y.shape)[1], y.dtype, y.device)
        pseudo_inverse = torch.linalg.pinv(matrix.expand(y.shape[0], -1, -1))
        solution = torch.einsum("bnm,bm->bn", pseudo_inverse, y)
        projector = pseudo_inverse @ matrix
        return torch.cat([solution, projector.flatten(1)], dim=1)

    def condition_channels(self, event_shape: Sequence[int]) -> int:
        dim = int(event_shape[0])
        return dim + dim * dim

    def draw(self, batch: int, event_shape: Sequence[int], generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> "RandomProjection":
        (dim,) = event_shape
        matrix = randn((batch, self.rows, dim), generator, torch.empty(0, device=device))
        matrix = matrix / matrix.norm(dim=-1, keepdim=True)
        return self.with_tensors({"matrix": matrix})

    def tensors(self) -> dict[str, Tensor]:
        return {} if self.matrix is None else {"matrix": self.matrix}

    def with_tensors(self, tensors: dict[str, Tensor]) -> "RandomProjection":
        unknown = set(tensors) - {"matrix"}
        if unknown:
            raise ValueError(f"projection takes only a 'matrix' tensor, got {sorted(unknown)}")
        return RandomProjection(self.sigma_y, self.rows, tensors.get("matrix"))

    def hyperparameters(self) -> dict[str, Any]:
        return {"rows": self.rows}
