r"""Masks supplied by the user: drawn strokes in the app, a mask file on the command line, or the
masks that came with imported observations (:mod:`diffem.imports`).

``A x = m * x`` for a given binary ``m`` of shape ``(1 or B, 1 or C, H, W)``.

Drawing a fresh operator for a batch (DiffEM's fresh corruptions ``y' = A' x + eta'``, with
``A' ~ p(A)``) picks masks at random from the given ones: with no model of how the masks arose,
their empirical distribution stands for ``p(A)``. A single mask broadcasts over any batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..rng import rand
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
        if self.mask.shape[0] == 1:
            return self
        rows = resampled_rows(self.mask.shape[0], batch, generator, self.mask)
        return self.with_tensors({"mask": self.mask[rows].to(device)})


def resampled_rows(available: int, batch: int, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """``batch`` row indices drawn uniformly, with replacement, from ``range(available)``, on ``like``'s device."""
    return (rand((batch,), generator, like.float()) * available).long().clamp(max=available - 1)
