r"""The E-step: one posterior sample ``x_i ~ q(x | y_i)`` for every observation.

EM-MMPS samples with MMPS around the current unconditional prior; DiffEM with its conditional
model (one network call a step). Either way the posterior denoiser is plugged into the same
sampler (ancestral DDPM by default), over batches of observations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.observations import ObservationSet
from ..denoisers import Denoiser, EDMDenoiser
from ..guidance import ConditionalPosteriorDenoiser, MMPSDenoiser
from ..operators import LinearOperator
from ..samplers import Sampler

#: builds the posterior denoiser for a batch of observations and its operator
PosteriorFactory = Callable[[LinearOperator, Tensor], Denoiser]


def mmps_posterior(prior: Denoiser, solver: str = "gmres", iterations: int = 1) -> PosteriorFactory:
    def build(operator: LinearOperator, y: Tensor) -> Denoiser:
        return MMPSDenoiser(prior, operator, y, solver=solver, iterations=iterations)

    return build


def conditional_posterior(model: EDMDenoiser) -> PosteriorFactory:
    def build(operator: LinearOperator, y: Tensor) -> Denoiser:
        return ConditionalPosteriorDenoiser(model, operator, y)

    return build


def posterior_samples(posterior: PosteriorFactory, observations: ObservationSet, sampler: Sampler,
                      batch_size: int, generator: torch.Generator, device: torch.device | str,
                      progress: bool = True, description: str = "E-step") -> Tensor:
    """A posterior sample for each observation, in order, on the CPU."""
    samples = []
    starts = range(0, len(observations), batch_size)
    for start in tqdm(starts, desc=description, disable=not progress, leave=False):
        y, operator = observations.batch(slice(start, start + batch_size), device)
        denoiser = posterior(operator, y)
        shape = (y.shape[0], *observations.event_shape)
        samples.append(sampler.sample(denoiser, shape, generator=generator, device=device).cpu())
    return torch.cat(samples)
