r"""Judging a model on held-out observations alone, when no clean image exists (imported data).

Two figures need nothing but observations ``y = A x + eta``:

- **held-out observed pixels.** Hide a random fraction ``h`` of each observation's observed
  pixels (mask ``m' = m (1 - b)``, ``b ~ Bernoulli(h)`` on observed pixels), restore from the rest,
  and compare the restoration with the hidden observed values: ``PSNR = 10 log10(1 / MSE)`` over
  the hidden pixels, in pixel units. The target is itself noisy, so the MSE cannot fall below
  the noise's ``(sigma_y / (high - low))^2``. Only operators that keep a subset of pixels
  (masks) can hide some.
- **residual.** ``||y' - A' x|| / (sigma_y sqrt(m'))`` of the restorations against what they
  were restored from (:func:`diffem.metrics.normalised_residual`): near 1 when a restoration
  explains its observation to the noise level, far above 1 when it does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .data.observations import ObservationSet
from .metrics import normalised_residual
from .operators import MaskingOperator, UserMask
from .rng import rand

#: fraction of the observed pixels hidden for the held-out PSNR
HIDDEN_FRACTION = 0.1


@dataclass
class HeldOutPixels:
    """``reduced``: the observations with some observed pixels hidden; ``hidden`` ``(N, 1, H, W)``: which."""

    reduced: ObservationSet
    hidden: Tensor


def hide_observed_pixels(observations: ObservationSet, generator: torch.Generator | None,
                         fraction: float = HIDDEN_FRACTION) -> HeldOutPixels | None:
    """Hide ``fraction`` of the observed pixels of every observation, or ``None`` if its operator cannot."""
    operator = observations.operator
    if not isinstance(operator, MaskingOperator) or operator.mask is None:
        return None
    mask = operator.mask.expand(len(observations), *operator.mask.shape[1:])
    hidden = (rand(mask.shape, generator, mask) < fraction).float() * mask
    kept = mask - hidden
    reduced = ObservationSet(observations.y * kept, UserMask(operator.sigma_y, kept), observations.event_shape,
                             observations.scaling, dict(observations.info))
    return HeldOutPixels(reduced, hidden)


def held_out_pixel_psnr(restored: Tensor, observations: ObservationSet, held_out: HeldOutPixels) -> float:
    """Mean PSNR (dB, pixel units) at the hidden pixels, over the observations that had some hidden."""
    scaling = observations.scaling
    error = (scaling.to_pixels(restored) - scaling.to_pixels(observations.y)) ** 2
    weight = held_out.hidden.expand_as(error)
    count = weight.flatten(1).sum(dim=1)
    has_hidden = count > 0
    mse = (error * weight).flatten(1).sum(dim=1)[has_hidden] / count[has_hidden]
    return float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean()) if bool(has_hidden.any()) else float("nan")


def held_out_report(restored: Tensor, observations: ObservationSet, held_out: HeldOutPixels | None) -> dict[str, float]:
    """``heldout_pixel_psnr`` (masks only) and ``heldout_residual`` of restorations of held-out observations."""
    source = observations if held_out is None else held_out.reduced
    report = {"heldout_residual": float(normalised_residual(restored, source.y, source.operator).mean())}
    if held_out is not None:
        report["heldout_pixel_psnr"] = held_out_pixel_psnr(restored, observations, held_out)
    return report
