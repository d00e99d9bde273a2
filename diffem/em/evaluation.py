r"""Per-lap evaluation of an EM run, against held-out clean test data.

- Vectors (toy manifold): Sinkhorn divergence between samples of the model's prior and the
  held-out truth (:func:`diffem.metrics.sinkhorn_divergence`), and the RMSE of posterior samples.
- Images: PSNR and SSIM of single posterior samples of held-out test observations, the
  Fréchet distance between the prior's samples and clean test images (on raw pixels until a
  feature network is given), and the black share of the prior's samples
  (:func:`diffem.metrics.black_share`; the test images' own is ``test_black_share``).

For DiffEM, whose model is the posterior ``q(x | y)`` rather than a prior, "prior samples" are
posterior samples of fresh test observations: draws from ``q(x) = E_y[q(x | y)]``.

Imported observation sets have no clean test images. Their held-out observations are judged by
what observations alone can tell (:mod:`diffem.heldout`): the PSNR at observed pixels hidden
from the model, and the residual of the restorations. No prior quality can be measured then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..data.observations import ObservationSet
from ..heldout import held_out_report, hide_observed_pixels
from ..metrics import black_share, frechet_distance, psnr, sinkhorn_divergence, ssim
from ..samplers import Sampler
from .estep import PosteriorFactory, posterior_samples

#: draws ``n`` samples of the model's prior (model scale)
PriorDraw = Callable[[int], Tensor]


@dataclass
class LapEvaluation:
    """A lap's figures, its prior samples, and restorations of test observations with what they were
    restored from (``observed``, in ``x``'s coordinates, and where it has no pixels) for the lap's pictures."""

    metrics: dict[str, Any]
    prior_samples: Tensor
    reconstructions: Tensor | None
    observed: Tensor | None = None
    observed_missing: Tensor | None = None


def evaluate_lap(prior_draw: PriorDraw, posterior: PosteriorFactory, test: ObservationSet | None,
                 sampler: Sampler, eval_count: int, eval_samples: int, generator: torch.Generator,
                 device: torch.device | str, sinkhorn_reg: float = 0.05,
                 features: nn.Module | None = None) -> LapEvaluation:
    """Metrics of a lap's model; samples are returned for the lap's pictures."""
    metrics: dict[str, Any] = {}
    prior_samples = prior_draw(max(eval_samples, 1)).cpu()
    reconstructions = None
    if test is None:
        return LapEvaluation(metrics, prior_samples, reconstructions)
    if test.x is None:
        return evaluate_without_clean(prior_samples, posterior, test, sampler, eval_count, generator, device)
    vector = len(test.event_shape) == 1
    if eval_samples > 0:
        reference = test.x[: max(eval_samples, 2)]
        if vector:
            metrics["sinkhorn"] = sinkhorn_divergence(prior_samples, reference, reg=sinkhorn_reg)
        elif eval_samples >= 2:
            pixels, clean = test.scaling.to_pixels(prior_samples), test.scaling.to_pixels(test.x)
            metrics["frechet_features" if features is not None else "frechet_pixels"] = frechet_distance(
                pixels.to(device), clean.to(device), features)
            metrics |= {"black_share": black_share(pixels), "test_black_share": black_share(clean)}
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


def evaluate_without_clean(prior_samples: Tensor, posterior: PosteriorFactory, test: ObservationSet,
                           sampler: Sampler, eval_count: int, generator: torch.Generator,
                           device: torch.device | str) -> LapEvaluation:
    """Held-out observations only: restore them with some observed pixels hidden, judge at those pixels."""
    if eval_count == 0:
        return LapEvaluation({}, prior_samples, None)
    subset = test.subset(eval_count)
    held_out = hide_observed_pixels(subset, generator)
    source = subset if held_out is None else held_out.reduced
    reconstructions = posterior_samples(posterior, source, sampler, batch_size=len(source), generator=generator,
                                        device=device, progress=False)
    metrics: dict[str, Any] = {**held_out_report(reconstructions, subset, held_out), "posterior_count": len(subset)}
    return LapEvaluation(metrics, prior_samples, reconstructions, source.operator.preview(source.y),
                         source.operator.missing(source.y))
