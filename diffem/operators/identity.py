r"""Denoising: ``A = I``, so ``y = x + sigma_y eta``."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import LinearOperator, register_operator


@register_operator
class Denoise(LinearOperator):
    name = "denoise"
    domain = "any"
    summary = "denoising: the identity with noise `sigma_y`"
    title = "noise"

    def forward(self, x: Tensor) -> Tensor:
        return x

    def adjoint(self, y: Tensor) -> Tensor:
        return y

    def condition(self, y: Tensor) -> Tensor:
        return torch.cat([y, torch.ones_like(y)], dim=1)
