r"""Random pixel masking (EM-MMPS / DiffEM's masked CIFAR-10 and Fashion-MNIST corruption).

Each pixel of each image is missing independently with probability ``ratio``; the mask is
shared across colour channels. ``A x = m * x`` with ``m ~ Bernoulli(1 - ratio)`` per pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..rng import rand
from .base import register_operator
from .masking import MaskingOperator


@register_operator
class RandomMask(MaskingOperator):
    name = "mask"
    spec_argument = "ratio"
    spec_range = (0.0, 0.99, 0.01)
    summary = "random pixel mask: each pixel missing with probability `ratio`"
    title = "random pixels missing"

    def __init__(self, sigma_y: float = 0.01, ratio: float = 0.75, mask: torch.Tensor | None = None) -> None:
        ratio = float(ratio)
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"mask ratio (fraction of missing pixels) must be in [0, 1), got {ratio}")
        self.ratio = ratio
        super().__init__(sigma_y, mask)

    def draw(self, batch: int, event_shape: Sequence[int], generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> "RandomMask":
        _, height, width = event_shape
        like = torch.empty(0, device=device)
        mask = (rand((batch, 1, height, width), generator, like) >= self.ratio).to(torch.float32)
        return self.with_tensors({"mask": mask})

    def hyperparameters(self) -> dict[str, Any]:
        return {"ratio": self.ratio}
