r"""A network denoiser evaluated under bf16 autocast, its estimate returned in fp32.

Mixed precision (Micikevicius et al., 2018, "Mixed Precision Training"): inside
``d(x_t, sigma) = c_skip x_t + c_out F(c_in x_t, c_noise)`` the network ``F``'s matrix products and
convolutions run in bfloat16 (``torch.autocast``), where a GPU's tensor cores are fastest; its
output, and every vector-Jacobian product through it, come back in the input's dtype. A posterior
method around it keeps its own linear algebra in fp32: MMPS's Krylov solve of
``(Sigma_y + sigma_t^2 A J A^T) u = y - A d`` (Rozet et al., 2024) only calls ``d`` and its VJPs,
so only those go through bf16. The E-step's ``--estep-precision bf16``
(:mod:`diffem.em.methods.base`); ``benchmarks/estep_precision.py`` measures what it changes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class AutocastDenoiser(nn.Module):
    """``denoiser`` under ``torch.autocast(dtype)``; the estimate cast back to ``x_t``'s dtype."""

    def __init__(self, denoiser: nn.Module, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.dtype = dtype

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.denoiser, "conditional", False))

    def forward(self, x_t: Tensor, sigma: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        with torch.autocast(x_t.device.type, dtype=self.dtype):
            estimate = self.denoiser(x_t, sigma, *args, **kwargs)
        return estimate.to(x_t.dtype)
