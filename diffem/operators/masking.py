r"""Masking operators: ``A x = m * x`` with a binary mask ``m`` (1 = observed).

The observation keeps the image shape, with zeros where pixels are missing, so ``A`` is an
orthogonal projection: ``A^T = A``. Noise lives on observed pixels only. The conditional
channels are ``[y, m]`` (the explicit mask channel recommended by DiffEM).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .base import LinearOperator, require_batch, require_image


class MaskingOperator(LinearOperator):
    """Common behaviour of operators that keep a subset of pixels."""

    def __init__(self, sigma_y: float = 0.01, mask: Tensor | None = None) -> None:
        super().__init__(sigma_y)
        self.mask = None if mask is None else self._validated_mask(mask)

    def _validated_mask(self, mask: Tensor) -> Tensor:
        if mask.ndim != 4:
            raise ValueError(f"{self.name}: a mask has shape (B, 1 or C, H, W), got {tuple(mask.shape)}")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"{self.name}: a mask holds only 0 (missing) and 1 (observed)")
        return mask

    def _mask_for(self, x: Tensor) -> Tensor:
        require_image(x, self.name)
        if self.mask is None:
            raise ValueError(f"{self.name}: no mask yet; call draw(...) or give one")
        require_batch(x, self.mask, self.name)
        if self.mask.shape[2:] != x.shape[2:] or self.mask.shape[1] not in (1, x.shape[1]):
            raise ValueError(f"{self.name}: mask of shape {tuple(self.mask.shape)} does not fit images {tuple(x.shape)}")
        return self.mask.to(dtype=x.dtype, device=x.device)

    def forward(self, x: Tensor) -> Tensor:
        return self._mask_for(x) * x

    def adjoint(self, y: Tensor) -> Tensor:
        return self._mask_for(y) * y

    def noise_support(self, y: Tensor) -> Tensor:
        return self._mask_for(y)

    def missing(self, y: Tensor) -> Tensor:
        return 1 - self._mask_for(y)

    def condition(self, y: Tensor) -> Tensor:
        return torch.cat([y, self._mask_for(y).expand_as(y)], dim=1)

    def tensors(self) -> dict[str, Tensor]:
        return {} if self.mask is None else {"mask": self.mask}

    def with_tensors(self, tensors: dict[str, Tensor]) -> "MaskingOperator":
        unknown = set(tensors) - {"mask"}
        if unknown:
            raise ValueError(f"{self.name} takes only a 'mask' tensor, got {sorted(unknown)}")
        clone = type(self)(sigma_y=self.sigma_y, **self.hyperparameters())
        clone.mask = self._validated_mask(tensors["mask"]) if "mask" in tensors else None
        return clone

    def hyperparameters(self) -> dict[str, Any]:
        return {}
