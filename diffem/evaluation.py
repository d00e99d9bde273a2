r"""Evaluating a saved prior or conditional model on a held-out test set.

- Posterior quality: for each of ``count`` test observations, ``samples`` posterior draws (the
  draws of an observation share its sampler batches, :func:`draw_posterior_samples`);
  PSNR/SSIM of a single draw and of their mean against the clean image, the normalised residual
  ``||y - A x|| / (sigma_y sqrt(m))`` of the draws, their black share beside the truth's
  (:func:`diffem.metrics.black_share`), and with two draws or more their calibration
  (coverage of the central 50 % and 90 % intervals, CRPS, spread-skill ratio;
  :mod:`diffem.metrics`); the wall time per image, and the network evaluations and VJPs of one
  sampler run (a batch of draws counts as one). The posterior is built by
  :func:`diffem.posterior.make_posterior` with the same clamping to the data range as ``restore``,
  the app and the E-step.
- Without clean test images (an imported set): the held-out observed-pixel PSNR and the
  residual of the draws (:mod:`diffem.heldout`), with the same time and cost figures.
- Prior quality (unconditional priors): Fréchet distance between ``prior_samples`` draws and the
  clean test images, on pixels or on a feature network's features, and the black share of the draws
  beside the test images' (:func:`diffem.metrics.black_share`: a speckled background lowers it).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .bundle import PriorBundle
from .data.observations import ObservationSet
from .guidance import Cost
from .heldout import held_out_report, hide_observed_pixels
from .metrics import black_share, calibration, frechet_distance, normalised_residual, psnr, ssim
from .posterior import make_posterior
from .rng import make_generator
from .samplers import make_sampler
from .samplers import sampler_options as sampler_options_of


@dataclass
class PosteriorDraws:
    """``samples`` ``(S, N, ...)`` (model scale, CPU) for ``N`` observations, their normalised residuals
    ``(S, N)``, the sampling wall time and the cost (network calls, VJPs) of one sampler run."""

    samples: Tensor
    residuals: Tensor
    seconds: float
    cost: Cost


def draw_posterior_samples(bundle: PriorBundle, observations: ObservationSet, method: str, samples: int = 1,
                           steps: int = 64, sampler: str = "ddpm", seed: int = 0, batch_size: int = 256,
                           options: Any = None, tuned: Mapping[str, Any] | None = None,
                           clamp: bool = True, sampler_options: Any = None) -> PosteriorDraws:
    """``samples`` draws for every observation; the draws of each observation sit in the same batches
    (rows repeated ``samples`` times), up to ``batch_size`` rows a sampler run."""
    device = bundle.device
    chooser = make_sampler(sampler, bundle.schedule, steps, sampler_options)
    generator = make_generator(seed, device)
    rows = torch.arange(len(observations)).repeat_interleave(samples)
    draws, residuals = [], []
    seconds = 0.0
    cost = Cost()
    for start in range(0, rows.numel(), batch_size):
        index = rows[start:start + batch_size]
        y, operator = observations.y[index].to(device), observations.operator.select(index).to(device)
        denoiser = make_posterior(bundle, method, operator, y, options, clamp=clamp, tuned=tuned)
        begin = time.perf_counter()
        draw = chooser.sample(denoiser, (y.shape[0], *observations.event_shape), generator=generator, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - begin
        cost = Cost(denoiser.cost.network, denoiser.cost.vjps)  # every run spends the same
        residuals.append(normalised_residual(draw, y, operator).cpu())
        draws.append(draw.cpu())
    shape = (len(observations), samples)
    stacked = torch.cat(draws).reshape(*shape, *observations.event_shape).transpose(0, 1)
    return PosteriorDraws(stacked, torch.cat(residuals).reshape(shape).T, seconds, cost)


def posterior_report(draws: PosteriorDraws, truth_pixels: Tensor, scaling: Any) -> dict[str, Any]:
    """PSNR/SSIM of the first draw and of the mean, normalised residual, black share of the draws and of the truth,
    calibration (2+ draws), time and cost."""
    pixels = scaling.to_pixels(draws.samples)
    single, mean = pixels[0], pixels.mean(dim=0)
    count = truth_pixels.shape[0]
    report = {
        "psnr_single": float(psnr(single, truth_pixels).mean()), "ssim_single": float(ssim(single, truth_pixels).mean()),
        "psnr_mean": float(psnr(mean, truth_pixels).mean()), "ssim_mean": float(ssim(mean, truth_pixels).mean()),
        "normalised_residual": float(draws.residuals.mean()),
        "black_share": black_share(pixels), "truth_black_share": black_share(truth_pixels),
        "seconds_per_image": draws.seconds / count,
        "network_calls_per_sample": draws.cost.network, "vjps_per_sample": draws.cost.vjps,
    }
    if pixels.shape[0] >= 2:
        report.update(calibration(pixels, truth_pixels))
    return report


def evaluate_posterior(bundle: PriorBundle, test: ObservationSet, method: str, count: int = 64, samples: int = 1,
                       steps: int = 64, sampler: str = "ddpm", seed: int = 0, batch_size: int = 256,
                       options: Any = None, tuned: Mapping[str, Any] | None = None,
                       clamp: bool = True, sampler_options: Any = None) -> dict[str, Any]:
    """PSNR/SSIM of single samples and of the mean of ``samples`` draws, calibration, cost per sample.

    Without clean test images: the held-out observed-pixel PSNR and residual of the first draw instead."""
    subset = test.subset(count)
    held_out = None if subset.x is not None else hide_observed_pixels(subset, make_generator(seed + 1))
    source = subset if held_out is None else held_out.reduced
    draws = draw_posterior_samples(bundle, source, method, samples, steps, sampler, seed, batch_size, options,
                                   tuned, clamp, sampler_options)
    if subset.x is not None:
        report = posterior_report(draws, test.scaling.to_pixels(subset.x), test.scaling)
    else:
        report = {**held_out_report(draws.samples[0], subset, held_out), "seconds_per_image": draws.seconds / len(subset),
                  "network_calls_per_sample": draws.cost.network, "vjps_per_sample": draws.cost.vjps,
                  "clean_images": "none: judged on held-out observed pixels"}
    return {
        "method": method, "count": len(subset), "samples": samples, "steps": steps, "sampler": sampler,
        "sampler_options": dataclasses.asdict(sampler_options_of(sampler, sampler_options)),
        **report, "clamped": clamp, "batch_size": batch_size, "device": str(bundle.device),
    }


def evaluate_prior(bundle: PriorBundle, test: ObservationSet, prior_samples: int = 1000, steps: int = 64,
                   sampler: str = "ddpm", seed: int = 0, batch_size: int = 500,
                   features: nn.Module | None = None, sampler_options: Any = None) -> dict[str, Any]:
    """Fréchet distance between prior samples and the clean test images."""
    if bundle.kind == "conditional":
        raise ValueError("prior quality needs an unconditional prior; this is a conditional model")
    if test.x is None:
        raise ValueError("the Fréchet distance needs clean test images, and this observation set has none "
                         "(imported observations): use --prior-samples 0")
    device = bundle.device
    chooser = make_sampler(sampler, bundle.schedule, steps, sampler_options)
    generator = make_generator(seed, device)
    draws = [chooser.sample(bundle.denoiser, (min(batch_size, prior_samples - s), *bundle.event_shape),
                            generator=generator, device=device).cpu() for s in range(0, prior_samples, batch_size)]
    pixels, clean = test.scaling.to_pixels(torch.cat(draws)), test.scaling.to_pixels(test.x)
    name = "frechet_features" if features is not None else "frechet_pixels"
    distance = frechet_distance(pixels.to(device), clean.to(device), features)
    return {name: distance, "black_share": black_share(pixels), "test_black_share": black_share(clean),
            "prior_samples": prior_samples, "reference_images": int(test.x.shape[0]), "steps": steps}
