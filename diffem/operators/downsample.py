r"""Downsampling by an integer factor (super-resolution).

``A x`` averages each ``f x f`` block: ``(A x)_{ij} = mean_{a,b < f} x_{fi+a, fj+b}``, so
``A: R^{C x H x W} -> R^{C x H/f x W/f}`` and ``A^T y`` repeats each value over its block
divided by ``f^2``. The conditional channels are ``[upsample(y), 1]`` at full resolution.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import LinearOperator, register_operator, require_image


@register_operator
class Downsample(LinearOperator):
    name = "downsample"
    spec_argument = "factor"
    spec_range = (2, 4, 2)
    summary = "average-pool downsampling by an integer `factor` (super-resolution)"
    title = "low resolution"

    def __init__(self, sigma_y: float = 0.01, factor: int | float = 2) -> None:
        super().__init__(sigma_y)
        if float(factor) != int(factor) or int(factor) < 2:
            raise ValueError(f"downsampling factor must be an integer >= 2, got {factor}")
        self.factor = int(factor)

    def forward(self, x: Tensor) -> Tensor:
        require_image(x, self.name)
        if x.shape[-1] % self.factor or x.shape[-2] % self.factor:
            raise ValueError(f"downsample: image size {tuple(x.shape[-2:])} is not divisible by factor {self.factor}")
        return F.avg_pool2d(x, self.factor)

    def input_shape(self, y_shape: torch.Size) -> torch.Size:
        return torch.Size([*y_shape[:-2], y_shape[-2] * self.factor, y_shape[-1] * self.factor])

    def adjoint(self, y: Tensor) -> Tensor:
        require_image(y, self.name)
        return F.interpolate(y, scale_factor=self.factor, mode="nearest") / self.factor**2

    def preview(self, y: Tensor) -> Tensor:
        """The low-resolution image, enlarged by pixel repetition (``A^T y`` would be ``factor^2`` times darker)."""
        return F.interpolate(y, scale_factor=self.factor, mode="nearest")

    def condition(self, y: Tensor) -> Tensor:
        upsampled = F.interpolate(y, scale_factor=self.factor, mode="nearest")
        return torch.cat([upsampled, torch.ones_like(upsampled)], dim=1)

    def hyperparameters(self) -> dict[str, Any]:
        return {"factor": self.factor}
