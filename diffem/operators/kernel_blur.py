r"""Blur by given kernels, one per image (blurred captures imported with their point-spread functions).

``A_i x = k_i * x``: a per-channel *circular* convolution of image ``i`` with its kernel ``k_i``
(odd side, non-negative, summing to 1, so that ``A 1 = 1`` and the affine map to the model's
range commutes with ``A``). In the Fourier domain ``A x = F^{-1}(K . F(x))`` with ``K = F(k)``,
the kernel zero-padded to the image and centred at index 0; the adjoint is
``A^T y = F^{-1}(conj(K) . F(y))``, the correlation with ``k``.

Drawing a fresh operator (DiffEM's fresh corruptions) picks kernels at random from the given ones,
as :class:`~diffem.operators.user_mask.UserMask` does with masks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import LinearOperator, register_operator, require_batch, require_image
from .user_mask import resampled_rows

#: how far a kernel's sum may be from 1
KERNEL_SUM_TOLERANCE = 1e-3


@register_operator
class KernelBlur(LinearOperator):
    name = "kernel-blur"
    summary = "blur by given kernels, one per image (imported with the observations)"
    title = "your own blur kernels"
    offered = False  # needs kernels that come with imported observations; not a corruption to apply in the app

    def __init__(self, sigma_y: float = 0.01, kernel: Tensor | None = None) -> None:
        super().__init__(sigma_y)
        self.kernel = None if kernel is None else validated_kernels(kernel)

    def _spectrum(self, x: Tensor) -> Tensor:
        require_image(x, self.name)
        if self.kernel is None:
            raise ValueError("kernel-blur: no kernels; import observations with their kernels")
        require_batch(x, self.kernel, self.name)
        height, width = x.shape[-2:]
        side = self.kernel.shape[-1]
        if side > min(height, width):
            raise ValueError(f"kernel-blur: a {side}x{side} kernel does not fit {height}x{width} images")
        padded = torch.zeros(self.kernel.shape[0], 1, height, width, dtype=x.dtype, device=x.device)
        padded[..., :side, :side] = self.kernel.to(dtype=x.dtype, device=x.device)
        centred = torch.roll(padded, shifts=(-(side // 2), -(side // 2)), dims=(-2, -1))
        return torch.fft.rfft2(centred)

    def forward(self, x: Tensor) -> Tensor:
        return torch.fft.irfft2(torch.fft.rfft2(x) * self._spectrum(x), s=x.shape[-2:])

    def adjoint(self, y: Tensor) -> Tensor:
        return torch.fft.irfft2(torch.fft.rfft2(y) * self._spectrum(y).conj(), s=y.shape[-2:])

    def draw(self, batch: int, event_shape: Sequence[int], generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> "KernelBlur":
        if self.kernel is None:
            raise ValueError("kernel-blur: no kernels; import observations with their kernels")
        if self.kernel.shape[0] == 1:
            return self
        rows = resampled_rows(self.kernel.shape[0], batch, generator, self.kernel)
        return self.with_tensors({"kernel": self.kernel[rows].to(device)})

    def tensors(self) -> dict[str, Tensor]:
        return {} if self.kernel is None else {"kernel": self.kernel}

    def with_tensors(self, tensors: dict[str, Tensor]) -> "KernelBlur":
        unknown = set(tensors) - {"kernel"}
        if unknown:
            raise ValueError(f"kernel-blur takes only a 'kernel' tensor, got {sorted(unknown)}")
        return KernelBlur(self.sigma_y, tensors.get("kernel"))


def validated_kernels(kernel: Tensor) -> Tensor:
    """Kernels of shape ``(B, 1, k, k)``, ``k`` odd, non-negative, each summing to 1; else ``ValueError``."""
    if kernel.ndim != 4 or kernel.shape[1] != 1 or kernel.shape[-1] != kernel.shape[-2] or kernel.shape[-1] % 2 == 0:
        raise ValueError(f"kernel-blur: kernels have shape (B, 1, k, k) with k odd, got {tuple(kernel.shape)}")
    if not bool(torch.isfinite(kernel).all()) or bool((kernel < 0).any()):
        raise ValueError("kernel-blur: kernels must be finite and non-negative")
    sums = kernel.sum(dim=(1, 2, 3))
    worst = int((sums - 1).abs().argmax())
    if float((sums[worst] - 1).abs()) > KERNEL_SUM_TOLERANCE:
        raise ValueError(f"kernel-blur: each kernel must sum to 1; kernel {worst} sums to {float(sums[worst]):.4g}")
    return kernel
