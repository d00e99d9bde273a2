r"""A family of masks for training conditional (DiffEM) models that serve many mask shapes.

Each sample's mask ``m`` is drawn from one of three kinds, with equal probability:

- random pixels, each missing with a probability ``r ~ U(ratio_low, ratio_high)`` of its own;
- a box hole whose side is ``U(0.25, 0.6)`` of the image side, at a random place;
- brush strokes: 1 to 4 segments of width 1.5 to 3.5 px between random points (what users draw).

``A x = m * x`` as for every masking operator, so a model trained on this family conditions on
``[y, m]`` and restores any of these masks (and user-drawn ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..rng import rand
from .base import OPERATORS, register_operator
from .masking import MaskingOperator


def pixel_masks(batch: int, height: int, width: int, low: float, high: float, generator: torch.Generator | None,
                like: Tensor) -> Tensor:
    ratio = low + (high - low) * rand((batch, 1, 1), generator, like)
    return (rand((batch, height, width), generator, like) >= ratio).float()


def box_masks(batch: int, height: int, width: int, generator: torch.Generator | None, like: Tensor) -> Tensor:
    side = (0.25 + 0.35 * rand((batch,), generator, like)) * min(height, width)
    top = rand((batch,), generator, like) * (height - side)
    left = rand((batch,), generator, like) * (width - side)
    rows = torch.arange(height, device=like.device)[None, :, None]
    cols = torch.arange(width, device=like.device)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + side)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + side)[:, None, None]))
    return (~inside).float()


def stroke_masks(batch: int, height: int, width: int, generator: torch.Generator | None, like: Tensor,
                 max_segments: int = 4) -> Tensor:
    ends = rand((batch, max_segments, 2, 2), generator, like) * torch.tensor([height - 1, width - 1], device=like.device)
    used = torch.arange(max_segments, device=like.device)[None] < (1 + rand((batch, 1), generator, like) * max_segments).floor()
    radius = 0.75 + rand((batch, max_segments), generator, like)
    grid = torch.stack(torch.meshgrid(torch.arange(height, device=like.device), torch.arange(width, device=like.device),
                                      indexing="ij"), dim=-1).float()[None, None]
    start, end = ends[:, :, 0][:, :, None, None], ends[:, :, 1][:, :, None, None]
    direction = end - start
    length2 = (direction**2).sum(-1).clamp_min(1e-6)
    t = (((grid - start) * direction).sum(-1) / length2).clamp(0, 1)
    distance = (grid - (start + t[..., None] * direction)).norm(dim=-1)
    painted = (distance <= radius[:, :, None, None]) & used[:, :, None, None]
    return (~painted.any(dim=1)).float()


@register_operator
class MaskFamily(MaskingOperator):
    name = "mask-family"
    summary = "random pixel masks, boxes and brush strokes (for training conditional models)"
    title = "random masks of many ratios"

    def __init__(self, sigma_y: float = 0.01, ratio_low: float = 0.3, ratio_high: float = 0.95,
                 mask: torch.Tensor | None = None) -> None:
        if not 0.0 <= float(ratio_low) <= float(ratio_high) < 1.0:
            raise ValueError(f"need 0 <= ratio_low <= ratio_high < 1, got {ratio_low}, {ratio_high}")
        self.ratio_low, self.ratio_high = float(ratio_low), float(ratio_high)
        super().__init__(sigma_y, mask)

    def draw(self, batch: int, event_shape: Sequence[int], generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> "MaskFamily":
        _, height, width = event_shape
        like = torch.empty(0, device=device)
        kind = (rand((batch,), generator, like) * 3).floor()
        masks = torch.where(kind[:, None, None] == 0,
                            pixel_masks(batch, height, width, self.ratio_low, self.ratio_high, generator, like),
                            torch.where(kind[:, None, None] == 1, box_masks(batch, height, width, generator, like),
                                        stroke_masks(batch, height, width, generator, like)))
        return self.with_tensors({"mask": masks[:, None]})

    def hyperparameters(self) -> dict[str, Any]:
        return {"ratio_low": self.ratio_low, "ratio_high": self.ratio_high}


def served_operators(trained: Iterable[str]) -> list[str]:
    """The operators a conditional model trained on ``trained`` restores.

    Those it was trained on, and every masking operator when the mask family is among them.
    """
    served = set(trained)
    if MaskFamily.name in served:
        served |= {name for name, cls in OPERATORS.items() if issubclass(cls, MaskingOperator)}
    return sorted(served)
