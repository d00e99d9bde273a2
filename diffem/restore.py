r"""Restoring one image: corrupt (or take a given observation), draw posterior samples, summarise.

With samples ``x^(1..S) ~ q(x | y)`` the restoration is their mean, and the per-pixel standard
deviation over the samples shows where the posterior is uncertain. Estimates are clamped to the
data range at every step (the posterior denoiser's own clamp, :func:`diffem.posterior.make_posterior`),
and options left unset (DPS's ``zeta``) take the values tuned for the prior (``tuned``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .bundle import PriorBundle
from .operators import LinearOperator
from .posterior import make_posterior
from .rng import make_generator
from .samplers import SamplerStep, make_sampler


@dataclass
class Restoration:
    """All in model scale; ``samples`` is ``(S, C, H, W)``."""

    observation: Tensor
    samples: Tensor
    seconds: float

    @property
    def mean(self) -> Tensor:
        return self.samples.mean(dim=0)

    @property
    def std(self) -> Tensor:
        return self.samples.std(dim=0, unbiased=False)


def observe(clean: Tensor, operator: LinearOperator, seed: int) -> tuple[Tensor, LinearOperator]:
    """Draw the operator's random parameters and a noisy observation of one clean image."""
    generator = make_generator(seed)
    drawn = operator.draw(1, tuple(clean.shape), generator)
    return drawn.observe(clean[None], generator), drawn


def iterate_restoration(bundle: PriorBundle, y: Tensor | None, operator: LinearOperator | None, method: str,
                        samples: int = 1, steps: int = 64, sampler: str = "ddpm", seed: int = 0,
                        options: Any = None, tuned: Mapping[str, Any] | None = None,
                        sampler_options: Any = None) -> Iterator[SamplerStep]:
    """Stream the sampler's steps for ``samples`` posterior draws at once (a batch); ``options`` are the
    method's (its ``Options``, a mapping, None or :class:`PosteriorOptions`), ``sampler_options`` the
    sampler's (its ``Options``, a mapping or None)."""
    device = bundle.device
    if samples < 1:
        raise ValueError(f"the number of samples must be at least 1, got {samples}")
    if y is not None and operator is not None:
        y = y.to(device).expand(samples, *y.shape[1:])
        operator = operator.to(device)
    # the posterior denoiser itself goes to the sampler: a method that acts on the state (DPS, DAPS)
    # does so through its own ``transition``, which a wrapper would hide
    denoiser = make_posterior(bundle, method, operator, y, options, tuned=tuned)
    generator = make_generator(seed, device)
    chosen = make_sampler(sampler, bundle.schedule, steps, sampler_options)
    yield from chosen.iterate(denoiser, (samples, *bundle.event_shape), generator=generator, device=device)


def restore(bundle: PriorBundle, y: Tensor | None, operator: LinearOperator | None, method: str,
            samples: int = 1, steps: int = 64, sampler: str = "ddpm", seed: int = 0,
            options: Any = None, tuned: Mapping[str, Any] | None = None, sampler_options: Any = None) -> Restoration:
    start = time.perf_counter()
    step = None
    for step in iterate_restoration(bundle, y, operator, method, samples, steps, sampler, seed, options, tuned,
                                    sampler_options):
        pass
    assert step is not None
    observation = y if y is not None else torch.zeros(0)
    return Restoration(observation.cpu(), step.denoised.cpu(), time.perf_counter() - start)
