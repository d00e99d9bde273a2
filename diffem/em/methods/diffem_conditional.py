r"""DiffEM (Zhang et al., 2025): a conditional diffusion model ``q(x | y)`` learned by EM.

Lap 0 is the same Gaussian as EM-MMPS's. Lap ``k >= 1``:

- E-step: ``x_i ~ q_{k-1}(x | y_i)``; at lap 1 by MMPS under the Gaussian, later by sampling the
  conditional model of lap ``k - 1`` (one network call a step);
- M-step: draw a *fresh* corruption ``y_i' = A_i' x_i + eta_i'`` of every reconstruction (from
  the training corruption family, by default the observations' own) and train the conditional
  denoiser ``d(x_t, sigma, cond(y'))`` on the pairs, warm-started from lap ``k - 1``.

At the end DiffEM can train an unconditional prior on reconstructions by its last model, in one
go (``--final-prior-steps``) or, from a trained conditional model, in resumable laps of its own
(method ``diffem-prior``, :mod:`.diffem_prior`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from ...data.observations import make_observation_set
from ...denoisers import EDMDenoiser
from ...operators import LinearOperator, parse_corruption
from ...options import option
from ..estep import posterior_samples
from ..evaluation import PriorDraw
from ..mstep import ConditionFn
from ..networks import new_denoiser
from .base import CONDITIONAL_DIR, FINAL_SHARDS, PRIOR_DIR, EMMethod, lap_seed, register_method


@register_method
class DiffEM(EMMethod):
    name = "diffem"
    summary = "DiffEM, a conditional model q(x | y), sampled directly in the E-step"
    title = "by DiffEM (a conditional model of the clean image given its observation)"

    @dataclass(frozen=True)
    class Options:
        train_corruption: str | None = option(None, "family of the fresh corruptions of the M-step, e.g. mask-family",
                                              unset="the observations' own")
        final_prior_steps: int = option(0, "after the last lap, train an unconditional prior for N steps on the "
                                           "last model's reconstructions", low=0, high=10_000_000)

        def __post_init__(self) -> None:
            if self.train_corruption:  # a misspelt family fails here, before a run starts
                parse_corruption(self.train_corruption, 0.01)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        spec = self.options.train_corruption
        self.train_operator: LinearOperator = (
            parse_corruption(spec, self.observations.operator.sigma_y) if spec else self.observations.operator)
        self.condition_channels = self.observations.operator.condition_channels(self.event_shape)
        if self.train_operator.condition_channels(self.event_shape) != self.condition_channels:
            raise ValueError(f"training corruption {spec!r} gives other condition channels than the observations'")

    def supported_operators(self) -> list[str]:
        return sorted({self.observations.operator.name, self.train_operator.name})

    def fresh_condition(self, samples: Tensor, lap: int) -> ConditionFn:
        """Fresh corruptions ``y' = A' x + eta'`` of the reconstructions, drawn once per lap."""
        fresh = make_observation_set(samples, self.train_operator, lap_seed(self.config.seed, lap, 6))
        y_fresh, drawn = fresh.y.to(self.device), fresh.operator.to(self.device)

        def condition(index: Tensor, x: Tensor) -> Tensor:
            return drawn.select(index).condition(y_fresh[index])

        return condition

    def lap(self, lap: int, previous: Path, folder: Path | None) -> dict[str, Any]:
        if lap == 1:
            posterior = self.mmps(self.estep_network(self.load(previous, PRIOR_DIR)))
            network = new_denoiser(self.event_shape, self.condition_channels, lap_seed(self.config.seed, lap, 5),
                                   self.config.preset, self.config.hidden_features, self.config.hidden_layers)
        else:
            network = self.load(previous, CONDITIONAL_DIR)
            posterior = self.conditional(self.estep_network(network))
        start = time.perf_counter()
        samples = self.estep(posterior, lap, previous)
        estep_seconds = time.perf_counter() - start
        start = time.perf_counter()
        ema, losses = self.train(network, samples, lap, condition=self.fresh_condition(samples, lap))
        mstep_seconds = time.perf_counter() - start
        metrics = self.trained(lap, estep_seconds, mstep_seconds, self.config.steps_per_lap, losses, "conditional")
        if folder is None:
            return metrics
        evaluation = self.evaluate(self.aggregate_posterior(ema, lap), self.conditional(ema), lap)
        bundle = self.bundle(ema, lap, self.supported_operators(), train_corruption=self.train_operator.config())
        metrics["prior_from"] = "posterior samples of test observations"
        return self.finish_lap(folder, CONDITIONAL_DIR, bundle, evaluation, metrics)

    def aggregate_posterior(self, model: EDMDenoiser, lap: int) -> PriorDraw:
        """Draws of ``q(x) = E_y q(x | y)``: one conditional sample for each of ``n`` test observations."""
        def draw(n: int) -> Tensor:
            source = self.test if self.test is not None else self.observations
            subset = source.subset(n)
            return posterior_samples(self.conditional(model), subset, self.sampler, self.config.estep_batch,
                                     self.generator(lap, 3), self.device, progress=False)
        return draw

    def final_prior(self, last: Path, folder: Path | None, lap: int) -> dict[str, Any]:
        """An unconditional prior trained on reconstructions by the last conditional model."""
        model = self.load(last, CONDITIONAL_DIR)
        start = time.perf_counter()
        samples = self.estep(self.conditional(self.estep_network(model)), lap + 1, last, FINAL_SHARDS)
        estep_seconds = time.perf_counter() - start
        network = new_denoiser(self.event_shape, 0, lap_seed(self.config.seed, lap + 1, 5), self.config.preset,
                               self.config.hidden_features, self.config.hidden_layers)
        start = time.perf_counter()
        ema, losses = self.train(network, samples, lap + 1, steps=self.options.final_prior_steps)
        mstep_seconds = time.perf_counter() - start
        metrics = self.trained(lap, estep_seconds, mstep_seconds, self.options.final_prior_steps, losses,
                               "unconditional (from the last DiffEM reconstructions)")
        if folder is None:
            return metrics
        evaluation = self.evaluate(self.draw_prior(ema, lap + 1), self.mmps(ema), lap + 1)
        bundle = self.bundle(ema, lap, trained_on="reconstructions of the last conditional model")
        return self.finish_lap(folder, PRIOR_DIR, bundle, evaluation, metrics)
