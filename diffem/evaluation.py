r"""Evaluating a saved prior or conditional model on a held-out test set.

- Posterior quality: for each of ``count`` test observations, ``samples`` posterior draws;
  PSNR/SSIM of a single draw and of their mean against the clean image, and the wall time per
  image (``samples`` draws of one image cost one batched sampler run).
- Prior quality (unconditional priors): Fréchet distance between ``prior_samples`` draws and the
  clean test images, on pixels or on a feature network's features.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from .bundle import PriorBundle
from .data.observations import ObservationSet
from .metrics import frechet_distance, psnr, ssim
from .posterior import PosteriorOptions, make_posterior
from .rng import make_generator
from .samplers import make_sampler


def evaluate_posterior(bundle: PriorBundle, test: ObservationSet, method: str, count: int = 64, samples: int = 1,
                       steps: int = 64, sampler: str = "ddpm", seed: int = 0, batch_size: int = 256,
                       options: PosteriorOptions = PosteriorOptions()) -> dict[str, Any]:
    """PSNR/SSIM of single samples and of the mean of ``samples`` draws, and seconds per image."""
    if test.x is None:
        raise ValueError("evaluation needs the clean test images (the observation set's test split)")
    subset = test.subset(count)
    device = bundle.device
    chooser = make_sampler(sampler, bundle.schedule, steps)
    generator = make_generator(seed, device)
    draws = []
    seconds = 0.0
    for _ in range(samples):
        for start in range(0, len(subset), batch_size):
            y, operator = subset.batch(slice(start, start + batch_size), device)
            denoiser = make_posterior(bundle, method, operator, y, options)
            begin = time.perf_counter()
            draws.append(chooser.sample(denoiser, (y.shape[0], *bundle.event_shape), generator=generator,
                                        device=device).cpu())
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds += time.perf_counter() - begin
    stacked = torch.cat(draws).reshape(samples, len(subset), *bundle.event_shape)
    truth = test.scaling.to_pixels(subset.x)
    single = test.scaling.to_pixels(stacked[0])
    mean = test.scaling.to_pixels(stacked.mean(dim=0))
    return {
        "method": method, "count": len(subset), "samples": samples, "steps": steps, "sampler": sampler,
        "psnr_single": float(psnr(single, truth).mean()), "ssim_single": float(ssim(single, truth).mean()),
        "psnr_mean": float(psnr(mean, truth).mean()), "ssim_mean": float(ssim(mean, truth).mean()),
        "seconds_per_image": seconds / len(subset), "batch_size": batch_size, "device": str(device),
    }


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
