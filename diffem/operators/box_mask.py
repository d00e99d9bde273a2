r"""Box inpainting: a square hole of side ``size * min(H, W)`` at a random position.

``A x = m * x`` with ``m = 0`` inside the box and 1 elsewhere (shared across channels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..rng import rand
from .base import register_operator
from .masking import MaskingOperator


@register_operator
class BoxMask(MaskingOperator):
    name = "box"
    spec_argument = "size"
    spec_range = (0.05, 0.95, 0.05)
    summary = "box inpainting: a square hole of side `size` (fraction of the image) at a random place"
    title = "a square hole"

    def __init__(self, sigma_y: float = 0.01, size: float = 0.5, mask: torch.Tensor | None = None) -> None:
        size = float(size)
        if not 0.0 < size < 1.0:
            raise ValueError(f"box size (fraction of the image side) must be in (0, 1), got {size}")
        self.size = size
        super().__init__(sigma_y, mask)

    def draw(self, batch: int, event_shape: Sequence[int], generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> "BoxMask":
        _, height, width = event_shape
        side = max(1, round(self.size * min(height, width)))
        corners = rand((batch, 2), generator, torch.empty(0, device=device))
        tops = (corners[:, 0] * (height - side + 1)).long()
        lefts = (corners[:, 1] * (width - side + 1)).long()
        rows = torch.arange(height, device=device)[None, :, None]
        cols = torch.arange(width, device=device)[None, None, :]
        inside = ((rows >= tops[:, None, None]) & (rows < (tops + side)[:, None, None])
                  & (cols >= lefts[:, None, None]) & (cols < (lefts + side)[:, None, None]))
        return self.with_tensors({"mask": (~inside).to(torch.float32)[:, None]})

    def hyperparameters(self) -> dict[str, Any]:
        return {"size": self.size}
