"""Tensors as pictures for a page: a 28x28 image is a postage stamp, so it is enlarged (nearest
neighbour, every model pixel a crisp square) to about :data:`DISPLAY` pixels."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..imaging import image_grid, tensor_to_image

DISPLAY = 224


def enlarge(pixels: Tensor, size: int = DISPLAY) -> np.ndarray:
    """``(C, H, W)`` pixels in ``[0, 1]`` as an RGB array about ``size`` pixels wide."""
    scale = max(1, size // pixels.shape[-1])
    return np.asarray(tensor_to_image(pixels.detach().cpu(), scale).convert("RGB"))


def strip(pixels: Tensor, size: int = DISPLAY // 2) -> np.ndarray:
    """A row of ``(B, C, H, W)`` pictures, each about ``size`` pixels wide."""
    scale = max(1, size // pixels.shape[-1])
    return np.asarray(image_grid(pixels.detach().cpu(), columns=pixels.shape[0], scale=scale).convert("RGB"))


def grey_to_rgb(pixels: Tensor) -> Tensor:
    return pixels.expand(3, -1, -1) if pixels.shape[0] == 1 else pixels


def samples_mean_spread(samples: Tensor, mean: Tensor, spread: Tensor | None, size: int = DISPLAY // 2) -> np.ndarray:
    """One picture for a race lane: the samples, then their mean, then the std map (if 2+ samples)."""
    parts = [grey_to_rgb(s) for s in samples] + [grey_to_rgb(mean)]
    if spread is not None:
        parts.append(grey_to_rgb(spread))
    return strip(torch.stack(parts), size)
