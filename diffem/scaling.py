r"""Affine map between pixel values in ``[0, 1]`` and the model's data range (``[-2, 2]``).

``x = low + (high - low) * p`` and back ``p = clip((x - low) / (high - low), 0, 1)``. Both
papers scale data to ``[-2, 2]`` so that ``sigma_data ~ 1`` suits the EDM preconditioning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor


@dataclass(frozen=True)
class DataScaling:
    low: float = -2.0
    high: float = 2.0

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"data range needs low < high, got [{self.low}, {self.high}]")

    def to_model(self, pixels: Tensor) -> Tensor:
        return self.low + (self.high - self.low) * pixels

    def to_pixels(self, x: Tensor) -> Tensor:
        return ((x - self.low) / (self.high - self.low)).clamp(0, 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "DataScaling":
        return cls(low=float(config["low"]), high=float(config["high"]))
