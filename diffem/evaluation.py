r"""Evaluating a saved prior or conditional model on a held-out test set.

- Posterior quality: for each of ``count`` test observations, ``samples`` posterior draws;
  PSNR/SSIM of a single draw and of their mean against the clean image, the normalised residual
  ``||y - A x|| / (sigma_y sqrt(m))`` of the draws, and with two draws or more their calibration
  (coverage of the central 50 % and 90 % intervals, CRPS, spread-skill ratio;
  :mod:`diffem.metrics`); the wall time per image, and the network evaluations and VJPs of one
  sampler run (a batch of draws counts as one). The posterior is built by
  :func:`diffem.posterior.make_posterior` with the same clamping to the data range as ``restore``,
  the app and the E-step.
- Prior quality (unconditional priors): Fréchet distance between ``prior_samples`` draws and the
  clean test images, on pixels or on a feature network's features.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .bundle import PriorBundle
from .data.observations import ObservationSet
from .metrics import calibration, frechet_distance, normalised_residual, psnr, ssim
from .posterior import make_posterior
from .rng import make_generator
from .samplers import make_sampler


def evaluate_posterior(bundle: PriorBundle, test: ObservationSet, method: str, count: int = 64, samples: int = 1,
                       steps: int = 64, sampler: str = "ddpm", seed: int = 0, batch_size: int = 256,
                       options: Any = None, tuned: Mapping[str, Any] | None = None,
                       clamp: bool = True) -> dict[str, Any]:
    """PSNR/SSIM of single samples and of the mean of ``samples`` draws, calibration, cost per sample."""
    if test.x is None:
        raise ValueError("evaluation needs the clean test images (the observation set's test split)")
    subset = test.subset(count)
    device = bundle.device
    chooser = make_sampler(sampler, bundle.schedule, steps)
    generator = make_generator(seed, device)
    draws, residuals = [], []
    seconds = 0.0
    cost = None
    for _ in range(samples):
        for start in range(0, len(subset), batch_size):
            y, operator = subset.batch(slice(start, start + batch_size), device)
            denoiser = make_posterior(bundle, method, operator, y, options, clamp=clamp, tuned=tuned)
            begin = time.perf_counter()
            draw = chooser.sample(denoiser, (y.shape[0], *bundle.event_shape), generator=generator, device=device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds += time.perf_counter() - begin
            cost = denoiser.cost  # every run spends the same: that of one sampler run
            residuals.append(normalised_residual(draw, y, operator).cpu())
            draws.append(draw.cpu())
    stacked = torch.cat(draws).reshape(samples, len(subset), *bundle.event_shape)
    truth = test.scaling.to_pixels(subset.x)
    pixels = test.scaling.to_pixels(stacked)
    single, mean = pixels[0], pixels.mean(dim=0)
    result = {
        "method": method, "count": len(subset), "samples": samples, "steps": steps, "sampler": sampler,
        "psnr_single": float(psnr(single, truth).mean()), "ssim_single": float(ssim(single, truth).mean()),
        "psnr_mean": float(psnr(mean, truth).mean()), "ssim_mean": float(ssim(mean, truth).mean()),
        "normalised_residual": float(torch.cat(residuals).mean()),
        "seconds_per_image": seconds / len(subset), "network_calls_per_sample": cost.network,
        "vjps_per_sample": cost.vjps, "clamped": clamp,
        "batch_size": batch_size, "device": str(device),
    }
    if samples >= 2:
        result.update(calibration(pixels, truth))
    return result


def evaluate_prior(bundle: PriorBundle, test: ObservationSet, prior_samples: int = 1000, steps: int = 64,
                   sampler: str = "ddpm", seed: int = 0, batch_size: int = 500,
                   features: nn.Module | None = None) -> dict[str, Any]:
    """Fréchet distance between prior samples and the clean test images."""
    if bundle.kind == "conditional":
        raise ValueError("prior quality needs an unconditional prior; this is a conditional model")
    if test.x is None:
        raise ValueError("evaluation needs the clean test images (the observation set's test split)")
    device = bundle.device
    chooser = make_sampler(sampler, bundle.schedule, steps)
    generator = make_generator(seed, device)
    draws = [chooser.sample(bundle.denoiser, (min(batch_size, prior_samples - s), *bundle.event_shape),
                            generator=generator, device=device).cpu() for s in range(0, prior_samples, batch_size)]
    pixels = test.scaling.to_pixels(torch.cat(draws))
    name = "frechet_features" if features is not None else "frechet_pixels"
    distance = frechet_distance(pixels.to(device), test.scaling.to_pixels(test.x).to(device), features)
    return {name: distance, "prior_samples": prior_samples, "reference_images": int(test.x.shape[0]), "steps": steps}
