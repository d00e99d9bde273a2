r"""Per-lap evaluation of an EM run, against held-out clean test data.

- Vectors (toy manifold): Sinkhorn divergence between samples of the model's prior and the
  held-out truth (:func:`diffem.metrics.sinkhorn_divergence`), and the RMSE of posterior samples.
- Images: PSNR and SSIM of single posterior samples of held-out test observations, and the
  Fréchet distance between the prior's samples and clean test images (on raw pixels until a
  feature network is given).

For DiffEM, whose model is the posterior ``q(x | y)`` rather than a prior, "prior samples" are
posterior samples of fresh test observations: draws from ``q(x) = E_y[q(x | y)]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..data.observations import ObservationSet
from ..metrics import frechet_distance, psnr, sinkhorn_divergence, ssim
from ..samplers import Sampler
from .estep import PosteriorFactory, posterior_samples

#: draws ``n`` samples of the model's prior (model scale)
PriorDraw = Callable[[int], Tensor]


@dataclass
class LapEvaluation:
    metrics: dict[str, Any]
    prior_samples: Tensor
    reconstructions: Tensor | None


def evaluate_lap(prior_draw: PriorDraw, posterior: PosteriorFactory, test: ObservationSet | None,
                 sampler: Sampler, eval_count: int, eval_samples: int, generator: torch.Generator,
                 device: torch.device | str, sinkhorn_reg: float = 0.05,
                 features: nn.Module | None = None) -> LapEvaluation:
    """Metrics of a lap's model; samples are returned for the lap's pictures."""
    metrics: dict[str, Any] = {}
    prior_samples = prior_draw(max(eval_samples, 1)).cpu()
    reconstructions = None
    if test is None or test.x is None:
        return LapEvaluation(metrics, prior_samples, reconstructions)
    vector = len(test.event_shape) == 1
    if eval_samples > 0:
        reference = test.x[: max(eval_samples, 2)]
        if vector:
            metrics["sinkhorn"] = sinkhorn_divergence(prior_samples, reference, reg=sinkhorn_reg)
        elif eval_samples >= 2:
            metrics["frechet_features" if features is not None else "frechet_pixels"] = frechet_distance(
                test.scaling.to_pixels(prior_samples).to(device), test.scaling.to_pixels(test.x).to(device), features)
        metrics["prior_samples"] = int(prior_samples.shape[0])
    if eval_count > 0:
        subset = test.subset(eval_count)
        reconstructions = posterior_samples(posterior, subset, sampler, batch_size=len(subset), generator=generator,
                                            device=device, progress=False)
        assert subset.x is not None
        if vector:
            metrics["posterior_rmse"] = float(((reconstructions - subset.x) ** 2).sum(dim=1).mean().sqrt())
        else:
            estimate, truth = test.scaling.to_pixels(reconstructions), test.scaling.to_pixels(subset.x)
            metrics["posterior_psnr"] = float(psnr(estimate, truth).mean())
            metrics["posterior_ssim"] = float(ssim(estimate, truth).mean())
        metrics["posterior_count"] = len(subset)
    return LapEvaluation(metrics, prior_samples, reconstructions)
