r"""A mask supplied by the user (drawn strokes in the app, a mask file on the command line).

``A x = m * x`` for a given binary ``m`` of shape ``(1 or B, 1 or C, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import register_operator
from .masking import MaskingOperator


@register_operator
class UserMask(MaskingOperator):
    name = "user-mask"
    summary = "a mask you give (1 = observed, 0 = missing)"
    title = "your own mask"

    def draw(self, batch: int, event_shape: Sequence[int], generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> "UserMask":
        if self.mask is None:
            raise ValueError("user-mask: give the mask (e.g. draw it in the app or pass a mask file)")
        return self
