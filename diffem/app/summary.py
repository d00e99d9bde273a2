r"""The summary of a restoration, shared by the app and the CLI.

From posterior samples ``x^(1..S)`` of one observation: the mean (the restoration), the per-pixel
standard deviation (where the posterior is unsure; it needs ``S >= 2``), PSNR/SSIM against the
clean image when it is known, with the calibration of the samples (coverage of their central
50 % / 90 % intervals by the randomised PIT, over the pixels where a sample is off the 8-bit truth; CRPS;
spread-skill ratio: :func:`diffem.metrics.calibration`), and always
the normalised residual
``||y - A x|| / (sigma_y sqrt(m))`` averaged over samples (``m`` observed values): near 1 when a
sample explains the observation as well as its noise allows, far above 1 when it ignores ``y``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ..bundle import PriorBundle
from ..metrics import calibration, normalised_residual, psnr, ssim
from .observation import Observation


@dataclass
class RestorationSummary:
    """Pixels in ``[0, 1]``: ``samples`` ``(S, C, H, W)``; ``spread`` is the std map ``(1, H, W)`` scaled to its
    maximum, a colour image's channels pooled (root mean square) so that it reads as one grey map (None for a
    single sample); ``figures`` are the numbers (JSON-ready)."""

    samples: Tensor
    mean: Tensor
    spread: Tensor | None
    figures: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        figures = self.figures
        head = (f"**{figures['samples']} sample(s), {figures['steps']} steps, {figures['seconds']:.2f} s** "
                f"({figures['seconds'] / max(1, figures['steps']) * 1000:.0f} ms a step)")
        lines = [head]
        if "psnr_mean" in figures:
            lines.append(f"PSNR of the mean: **{number(figures['psnr_mean'])} dB**, SSIM {number(figures['ssim_mean'], 3)} "
                         f"(the observation as it is: {number(figures['psnr_observation'])} dB)")
            lines.append(f"PSNR of single samples: {number(figures['psnr_single'])} dB on average")
            if "coverage_90" in figures:
                lines.append(f"Calibration: the clean pixel's rank among the samples falls in their central 50 % / 90 % "
                             f"range {percent(figures['coverage_50'])} / {percent(figures['coverage_90'])} of the time (calibrated: "
                             f"50 % / 90 %; over the {percent(figures['coverage_pixels'])} of pixels where a sample is off by "
                             f"more than half a grey level); CRPS {figures['crps']:.3f}, spread/error "
                             f"{figures['spread_skill']:.2f} (ideal 1)")
        elif figures.get("observed"):
            lines.append("The clean image is unknown (an observation was uploaded): no PSNR/SSIM.")
        if "residual" in figures:
            lines.append(f"Residual ||y - Ax|| / (sigma_y sqrt m): {number(figures['residual'])} (about 1 fits the noise)")
        if self.spread is None and figures.get("observed"):
            lines.append("Uncertainty map: draw 2 or more samples to see it.")
        return "  \n".join(lines)


def percent(share: float) -> str:
    """A share as the page writes percentages: ``0.45`` -> ``"45 %"``."""
    return f"{share * 100:.0f} %"


def number(value: float | None, digits: int = 2) -> str:
    """A figure for the page; None stands for a value that is not finite (a PSNR of an exact match)."""
    return "∞" if value is None else f"{value:.{digits}f}"


def summarise(bundle: PriorBundle, observation: Observation | None, samples: Tensor, seconds: float,
              steps: int) -> RestorationSummary:
    """Summarise model-scale samples ``(S, ...)``; ``observation`` None for plain generation from the prior."""
    pixels = bundle.scaling.to_pixels(samples.detach()).cpu()
    mean = pixels.mean(dim=0)
    spread = None
    if pixels.shape[0] > 1:
        std = pixels.std(dim=0, unbiased=False)
        if std.dim() == 3 and std.shape[0] > 1:
            std = std.pow(2).mean(dim=0, keepdim=True).sqrt()
        spread = std / std.max().clamp_min(1e-6)
    figures: dict[str, Any] = {"samples": int(pixels.shape[0]), "steps": int(steps), "seconds": float(seconds),
                               "observed": observation is not None}
    if observation is not None:
        operator = observation.operator.to(samples.device)
        residual = normalised_residual(samples.detach(), observation.y.to(samples.device), operator)
        figures["residual"] = float(residual.mean())
        if observation.clean is not None and len(bundle.event_shape) == 3:
            clean = observation.clean[None]
            figures["psnr_mean"] = float(psnr(mean[None], clean))
            figures["ssim_mean"] = float(ssim(mean[None], clean))
            figures["psnr_single"] = float(psnr(pixels, clean.expand_as(pixels)).mean())
            seen = bundle.scaling.to_pixels(observation.operator.preview(observation.y.cpu()))
            figures["psnr_observation"] = float(psnr(seen[:1], clean))
            if pixels.shape[0] > 1:
                figures |= calibration(pixels[:, None], clean)
    for key, value in figures.items():
        if isinstance(value, float) and not math.isfinite(value):
            figures[key] = None
    return RestorationSummary(pixels, mean, spread, figures)
