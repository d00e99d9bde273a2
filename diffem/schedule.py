r"""Variance-exploding (VE) noise schedule.

The forward process perturbs clean data with Gaussian noise, ``x_t = x + sigma_t z`` with
``z ~ N(0, I)``, where the noise level is geometric in the time ``t in [0, 1]``::

    sigma_t = exp((1 - t) log sigma_min + t log sigma_max)

(Song et al., 2021; the parametrisation used by EM-MMPS, Rozet et al., 2024). The official
values are ``sigma_min = 1e-3`` and ``sigma_max = 1e2`` for images, ``1e1`` for the toy manifold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass(frozen=True)
class VESchedule:
    """Geometric VE schedule ``sigma_t = sigma_min^(1-t) sigma_max^t``."""

    sigma_min: float = 1e-3
    sigma_max: float = 1e2

    def __post_init__(self) -> None:
        if not (0 < self.sigma_min < self.sigma_max) or not math.isfinite(self.sigma_max):
            raise ValueError(
                f"schedule needs 0 < sigma_min < sigma_max < inf, got {self.sigma_min}, {self.sigma_max}"
            )

    def sigma(self, t: Tensor | float) -> Tensor:
        """Noise level ``sigma_t`` at time ``t`` (broadcasts over tensors)."""
        t = torch.as_tensor(t, dtype=torch.get_default_dtype()) if not isinstance(t, Tensor) else t
        log_min, log_max = math.log(self.sigma_min), math.log(self.sigma_max)
        return torch.exp((1 - t) * log_min + t * log_max)

    def time(self, sigma: Tensor) -> Tensor:
        """Inverse of :meth:`sigma`: the time at which the noise level is ``sigma``."""
        log_min, log_max = math.log(self.sigma_min), math.log(self.sigma_max)
        return (torch.log(sigma) - log_min) / (log_max - log_min)

    def time_grid(self, steps: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
        """``steps + 1`` times uniform from 1 down to 0 (so noise levels are geometric)."""
        if steps < 1:
            raise ValueError(f"the number of steps must be at least 1, got {steps}")
        return torch.linspace(1.0, 0.0, steps + 1, dtype=dtype or torch.get_default_dtype(), device=device)

    def sigma_grid(self, steps: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
        """Noise levels ``sigma_max = s_0 > s_1 > ... > s_steps = sigma_min``."""
        return self.sigma(self.time_grid(steps, dtype=dtype, device=device))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ve", **asdict(self)}

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "VESchedule":
        kind = config.get("type", "ve")
        if kind != "ve":
            raise ValueError(f"unknown schedule type {kind!r} (known: 've')")
        return cls(sigma_min=float(config["sigma_min"]), sigma_max=float(config["sigma_max"]))

