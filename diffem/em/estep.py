r"""The E-step: one posterior sample ``x_i ~ q(x | y_i)`` for every observation.

EM-MMPS samples with MMPS around the current unconditional prior; DiffEM with its conditional
model (one network call a step). Either way the posterior denoiser is plugged into the same
sampler (ancestral DDPM by default), over batches of observations. Estimates are clamped to the
data range (the library's one clamping policy, :mod:`diffem.denoisers.clamped`), so that the rare diverging
trajectory of an imperfect model does not become a training sample of the next lap.

The EM loops use :func:`sharded_posterior_samples`: chunks of observations with a generator each,
saved to disk as they finish and shared out over processes (:mod:`diffem.em.shards`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data.observations import ObservationSet
from ..denoisers import Denoiser, EDMDenoiser
from ..denoisers.clamped import Clamp
from ..guidance import ConditionalPosteriorDenoiser, MMPSDenoiser
from ..operators import LinearOperator
from ..rng import make_generator
from ..samplers import Sampler
from .processes import Processes
from .shards import chunk_count, chunk_path, chunk_rows, gather_chunks, write_chunk

#: builds the posterior denoiser for a batch of observations and its operator
PosteriorFactory = Callable[[LinearOperator, Tensor], Denoiser]



def mmps_posterior(prior: Denoiser, solver: str = "gmres", iterations: int = 1, clamp: Clamp = None) -> PosteriorFactory:
    def build(operator: LinearOperator, y: Tensor) -> Denoiser:
        return MMPSDenoiser(prior, operator, y, solver=solver, iterations=iterations, clamp=clamp)

    return build


def conditional_posterior(model: EDMDenoiser, clamp: Clamp = None) -> PosteriorFactory:
    def build(operator: LinearOperator, y: Tensor) -> Denoiser:
        return ConditionalPosteriorDenoiser(model, operator, y, clamp=clamp)

    return build


def posterior_samples(posterior: PosteriorFactory, observations: ObservationSet, sampler: Sampler,
                      batch_size: int, generator: torch.Generator, device: torch.device | str,
                      progress: bool = True, description: str = "E-step") -> Tensor:
    """A posterior sample for each observation, in order, on the CPU."""
    samples = []
    starts = range(0, len(observations), batch_size)
    for start in tqdm(starts, desc=description, disable=not progress, leave=False):
        samples.append(sample_rows(posterior, observations, slice(start, start + batch_size), sampler, generator, device))
    return torch.cat(samples)


def sample_rows(posterior: PosteriorFactory, observations: ObservationSet, rows: slice, sampler: Sampler,
                generator: torch.Generator, device: torch.device | str) -> Tensor:
    """One posterior sample for each of the observations ``rows``, on the CPU."""
    y, operator = observations.batch(rows, device)
    shape = (y.shape[0], *observations.event_shape)
    return sampler.sample(posterior(operator, y), shape, generator=generator, device=device).cpu()


def chunk_seed(seed: int, chunk: int) -> int:
    return (seed * 1_000_033 + chunk) % (2**63)


def sharded_posterior_samples(posterior: PosteriorFactory, observations: ObservationSet, sampler: Sampler,
                              chunk_size: int, seed: int, folder: Path, processes: Processes,
                              progress: bool = True, description: str = "E-step") -> Tensor:
    """A posterior sample for each observation, in order, on the CPU, drawn chunk by chunk.

    This process draws the chunks it owns that are not on disk yet (each with the generator of
    ``chunk_seed(seed, c)``), writes them to ``folder``, waits for the other processes and returns
    all chunks read back from disk.
    """
    total = len(observations)
    mine = [c for c in range(chunk_count(total, chunk_size)) if processes.owns_chunk(c)]
    for chunk in tqdm(mine, desc=description, disable=not progress, leave=False):
        if chunk_path(folder, chunk).is_file():
            continue  # drawn before this E-step was interrupted
        generator = make_generator(chunk_seed(seed, chunk), processes.device)
        assert generator is not None
        write_chunk(folder, chunk, sample_rows(posterior, observations, chunk_rows(chunk, total, chunk_size), sampler,
                                               generator, processes.device))
    processes.barrier()
    return gather_chunks(folder, total, chunk_size)
