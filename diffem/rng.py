"""Seeded random draws that work whatever device the generator and the data live on."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    """A generator seeded with ``seed`` (``None`` means: use the global RNG)."""
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def _draw_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return generator.device if generator is not None else device


def randn(shape: Sequence[int], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Standard normal draws of ``shape`` with ``like``'s dtype and device."""
    device = _draw_device(generator, like.device)
    return torch.randn(tuple(shape), generator=generator, device=device, dtype=like.dtype).to(like.device)


def rand(shape: Sequence[int], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Uniform ``[0, 1)`` draws of ``shape`` with ``like``'s dtype and device."""
    device = _draw_device(generator, like.device)
    return torch.rand(tuple(shape), generator=generator, device=device, dtype=like.dtype).to(like.device)
