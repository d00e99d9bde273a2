r"""The two EM methods, lap by lap.

**EM-MMPS** (Rozet et al., 2024). Lap 0 fits a Gaussian prior by closed-form EM. Lap ``k >= 1``:

- E-step: ``x_i ~ q_{k-1}(x | y_i)`` by MMPS around the prior of lap ``k - 1``;
- M-step: fine-tune lap ``k - 1``'s EMA weights (from scratch at lap 1) on ``{x_i}`` by
  denoising score matching, with a fresh optimiser and EMA.

**DiffEM** (Zhang et al., 2025). Lap 0 is the same Gaussian. Lap ``k >= 1``:

- E-step: ``x_i ~ q_{k-1}(x | y_i)``; at lap 1 by MMPS under the Gaussian, later by sampling the
  conditional model of lap ``k - 1`` (one network call a step);
- M-step: draw a *fresh* corruption ``y_i' = A_i' x_i + eta_i'`` of every reconstruction (from
  the training corruption family, by default the observations' own) and train the conditional
  denoiser ``d(x_t, sigma, cond(y'))`` on the pairs, warm-started from lap ``k - 1``.

At the end DiffEM can train an unconditional prior on reconstructions by its last model, in one
go (``--final-prior-steps``) or, from a trained conditional model, in resumable laps of its own
(method ``diffem-prior``, :class:`DiffEMPrior`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..bundle import PriorBundle
from ..data.observations import ObservationSet, make_observation_set
from ..data.sources import load_clean_data
from ..denoisers import EDMDenoiser
from ..features import load_feature_net
from ..imaging import image_grid, painted_missing, scatter_plot
from ..operators import LinearOperator, parse_corruption
from ..rng import make_generator
from ..samplers import make_sampler
from .config import EMConfig
from .estep import PosteriorFactory, conditional_posterior, mmps_posterior, posterior_samples, sharded_posterior_samples
from .evaluation import LapEvaluation, PriorDraw, evaluate_lap
from .gaussian_em import fit_gaussian, gaussian_em
from .laps import METRICS, lap_name
from .mstep import ConditionFn, train_denoiser
from .networks import domain_of, new_denoiser, schedule_for, without_condition
from .processes import Processes
from .shards import shard_folder

PRIOR_DIR = "prior"
CONDITIONAL_DIR = "conditional"
SHARDS_DIR = "estep"  # inside the run folder: E-step chunks of the lap in progress
FINAL_SHARDS = "final"
RECONSTRUCTIONS = "reconstructions"  # diffem-prior's E-step, drawn once


def lap_seed(seed: int, lap: int, stage: int) -> int:
    """A distinct, reproducible seed for each (run, lap, stage)."""
    return (seed * 1_000_003 + lap * 101 + stage) % (2**63)


class EMMethod:
    """Shared machinery; subclasses define lap ``k >= 1``.

    Every process of a run computes a lap's E-step (its chunks) and M-step (its slice of each
    batch); only the main process gets a lap ``folder`` to evaluate and write into, the others
    get ``None``.
    """

    name = ""

    def __init__(self, config: EMConfig, observations: ObservationSet, test: ObservationSet | None,
                 device: torch.device, progress: bool = True, processes: Processes | None = None) -> None:
        self.config = config
        self.observations = observations
        self.test = test
        self.processes = processes or Processes(device)
        self.device = self.processes.device
        self.progress = progress and self.processes.is_main
        self.event_shape = observations.event_shape
        self.schedule = schedule_for(self.event_shape, config.sigma_max)
        self.sampler = make_sampler(config.sampler, self.schedule, config.sampler_steps)
        self.clamp = (observations.scaling.low, observations.scaling.high)
        self.settings = config.train_settings()
        self.features = load_feature_net(config.feature_net, device) if config.feature_net else None

    # --- helpers ------------------------------------------------------------------------------
    def generator(self, lap: int, stage: int) -> torch.Generator:
        generator = make_generator(lap_seed(self.config.seed, lap, stage), self.device)
        assert generator is not None
        return generator

    def info(self, lap: int, **extra: Any) -> dict[str, Any]:
        return {"method": self.name, "lap": lap, "observations": self.config.observations,
                "corruption": self.observations.operator.config(), "data": self.observations.info, **extra}

    def bundle(self, denoiser: torch.nn.Module, lap: int, operators: list[str] | None = None, **extra: Any) -> PriorBundle:
        return PriorBundle(denoiser.cpu(), self.schedule, self.event_shape, self.observations.scaling,
                           self.info(lap, **extra), operators or [])

    def estep(self, posterior: PosteriorFactory, lap: int, previous: Path, name: str | None = None) -> Tensor:
        """One posterior sample per observation, shared out over processes in chunks saved to disk."""
        folder = shard_folder(Path(self.config.out) / SHARDS_DIR, name or lap_name(lap), previous,
                              self.config.estep_batch, len(self.observations))
        return sharded_posterior_samples(posterior, self.observations, self.sampler, self.config.estep_batch,
                                         lap_seed(self.config.seed, lap, 1), folder, self.processes, self.progress,
                                         f"lap {lap} E-step")

    def draw_prior(self, denoiser: torch.nn.Module, lap: int) -> PriorDraw:
        def draw(n: int) -> Tensor:
            return self.sampler.sample(denoiser, (n, *self.event_shape), generator=self.generator(lap, 3),
                                       device=self.device)
        return draw

    def evaluate(self, prior_draw: PriorDraw, posterior: PosteriorFactory, lap: int) -> LapEvaluation:
        return evaluate_lap(prior_draw, posterior, self.test, self.sampler, self.config.eval_count,
                            self.config.eval_samples, self.generator(lap, 4), self.device, self.config.sinkhorn_reg,
                            self.features)

    def write_pictures(self, folder: Path, evaluation: LapEvaluation) -> None:
        samples = evaluation.prior_samples[:64]
        reference = None if self.test is None or self.test.x is None else self.test.x[:2048]
        if domain_of(self.event_shape) == "vector":
            scatter_plot(evaluation.prior_samples, reference).save(folder / "samples.png")
            return
        scaling = self.observations.scaling
        image_grid(scaling.to_pixels(samples), columns=8).save(folder / "samples.png")
        if evaluation.reconstructions is None or self.test is None:
            return
        count = min(8, evaluation.reconstructions.shape[0])
        restored = painted_missing(scaling.to_pixels(evaluation.reconstructions[:count]), None)
        if self.test.x is not None:
            y, operator = self.test.batch(slice(0, count))
            seen = painted_missing(scaling.to_pixels(operator.preview(y)), operator.missing(y))
            rows = torch.cat([painted_missing(scaling.to_pixels(self.test.x[:count]), None), seen, restored])
        elif evaluation.observed is not None:
            missing = None if evaluation.observed_missing is None else evaluation.observed_missing[:count]
            seen = painted_missing(scaling.to_pixels(evaluation.observed[:count]), missing)
            rows = torch.cat([seen, restored])
        else:
            return
        image_grid(rows, columns=count).save(folder / "reconstructions.png")

    def finish_lap(self, folder: Path, part: str, bundle: PriorBundle, evaluation: LapEvaluation,
                   metrics: dict[str, Any]) -> dict[str, Any]:
        """Write a lap's model, pictures and ``metrics.json`` (with the evaluation's figures) into ``folder``."""
        bundle.save_pretrained(folder / part)
        self.write_pictures(folder, evaluation)
        metrics = {**metrics, **evaluation.metrics}
        (folder / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        return metrics

    def trained(self, lap: int, estep_seconds: float, mstep_seconds: float, steps: int,
                losses: list[float], model: str) -> dict[str, Any]:
        """The metrics every trained lap records."""
        return {"lap": lap, "model": model, "estep_seconds": estep_seconds, "mstep_seconds": mstep_seconds,
                "mstep_steps": steps, "losses": losses, "final_loss": losses[-1], "processes": self.processes.count}

    # --- lap 0: the Gaussian ------------------------------------------------------------------
    def gaussian_rank(self) -> int | None:
        rank = self.config.gaussian_rank
        return None if rank is None or rank >= int(torch.tensor(self.event_shape).prod()) else rank

    def initial_gaussian(self) -> torch.nn.Module:
        """Closed-form EM on the observations."""
        return gaussian_em(self.observations, self.config.gaussian_iterations, self.gaussian_rank(),
                           seed=lap_seed(self.config.seed, 0, 0), batch_size=self.config.estep_batch,
                           device=self.device, progress=self.progress)

    def initial_lap(self, folder: Path) -> dict[str, Any]:
        start = time.perf_counter()
        gaussian = self.initial_gaussian()
        fit_seconds = time.perf_counter() - start
        gaussian = gaussian.to(self.device)
        evaluation = self.evaluate(self.draw_prior(gaussian, 0), self.mmps(gaussian), 0)
        return self.finish_lap(folder, PRIOR_DIR, self.bundle(gaussian, 0), evaluation,
                               {"lap": 0, "model": "gaussian", "fit_seconds": fit_seconds})

    def mmps(self, prior: torch.nn.Module) -> PosteriorFactory:
        return mmps_posterior(prior, self.config.solver, self.config.solver_iterations, self.clamp)

    def conditional(self, model: EDMDenoiser) -> PosteriorFactory:
        return conditional_posterior(model, self.clamp)

    def load(self, folder: Path, part: str) -> torch.nn.Module:
        return PriorBundle.from_pretrained(folder / part, device=self.device).denoiser

    def lap(self, lap: int, previous: Path, folder: Path) -> dict[str, Any]:
        raise NotImplementedError

    def train(self, denoiser: EDMDenoiser, data: Tensor, lap: int, condition: ConditionFn | None = None,
              steps: int | None = None) -> tuple[EDMDenoiser, list[float]]:
        settings = self.settings if steps is None else self.config.train_settings(steps)
        return train_denoiser(denoiser.to(self.device), data, self.schedule, settings, self.generator(lap, 2),
                              condition, self.progress, f"lap {lap} M-step", self.processes)


class EMMPS(EMMethod):
    name = "em-mmps"

    def training_samples(self, prior: torch.nn.Module, lap: int, previous: Path) -> Tensor:
        return self.estep(self.mmps(prior), lap, previous)

    def lap(self, lap: int, previous: Path, folder: Path | None) -> dict[str, Any]:
        prior = self.load(previous, PRIOR_DIR)
        start = time.perf_counter()
        samples = self.training_samples(prior, lap, previous)
        estep_seconds = time.perf_counter() - start
        network = prior if isinstance(prior, EDMDenoiser) else self.first_network(lap)
        start = time.perf_counter()
        ema, losses = self.train(network, samples, lap)
        mstep_seconds = time.perf_counter() - start
        metrics = self.trained(lap, estep_seconds, mstep_seconds, self.config.steps_per_lap, losses, "unconditional")
        if folder is None:
            return metrics
        evaluation = self.evaluate(self.draw_prior(ema, lap), self.mmps(ema), lap)
        return self.finish_lap(folder, PRIOR_DIR, self.bundle(ema, lap), evaluation, metrics)

    def first_network(self, lap: int) -> EDMDenoiser:
        """The network lap 1 trains (the laps after it fine-tune their predecessor's)."""
        return new_denoiser(self.event_shape, 0, lap_seed(self.config.seed, lap, 5), self.config.preset,
                            self.config.hidden_features, self.config.hidden_layers)


class DiffEM(EMMethod):
    name = "diffem"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        spec = self.config.train_corruption
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
            posterior = self.mmps(self.load(previous, PRIOR_DIR))
            network = new_denoiser(self.event_shape, self.condition_channels, lap_seed(self.config.seed, lap, 5),
                                   self.config.preset, self.config.hidden_features, self.config.hidden_layers)
        else:
            network = self.load(previous, CONDITIONAL_DIR)
            posterior = self.conditional(network)
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
        samples = self.estep(self.conditional(model), lap + 1, last, FINAL_SHARDS)
        estep_seconds = time.perf_counter() - start
        network = new_denoiser(self.event_shape, 0, lap_seed(self.config.seed, lap + 1, 5), self.config.preset,
                               self.config.hidden_features, self.config.hidden_layers)
        start = time.perf_counter()
        ema, losses = self.train(network, samples, lap + 1, steps=self.config.final_prior_steps)
        mstep_seconds = time.perf_counter() - start
        metrics = self.trained(lap, estep_seconds, mstep_seconds, self.config.final_prior_steps, losses,
                               "unconditional (from the last DiffEM reconstructions)")
        if folder is None:
            return metrics
        evaluation = self.evaluate(self.draw_prior(ema, lap + 1), self.mmps(ema), lap + 1)
        bundle = self.bundle(ema, lap, trained_on="reconstructions of the last conditional model")
        return self.finish_lap(folder, PRIOR_DIR, bundle, evaluation, metrics)


class CleanReference(EMMPS):
    """The upper bound: the same network and budget trained on the clean images behind the observations.

    Lap 0 fits the Gaussian to the clean data; every lap then trains on the clean data (no E-step).
    """

    name = "reference"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        source = self.observations.info.get("data")
        if not source:
            raise ValueError("the observation set does not record its clean data source")
        channels, size = self.event_shape[0], self.event_shape[-1]  # an image folder is read at the set's own shape
        clean = load_clean_data(source, size=size, channels=channels) if len(self.event_shape) == 3 else load_clean_data(source)
        self.clean = clean.train[: len(self.observations)]

    def training_samples(self, prior: torch.nn.Module, lap: int, previous: Path) -> Tensor:
        return self.clean

    def info(self, lap: int, **extra: Any) -> dict[str, Any]:
        return super().info(lap, upper_bound="trained on clean images, not an EM result", **extra)

    def initial_gaussian(self) -> torch.nn.Module:
        """The Gaussian fitted to the clean data directly."""
        return fit_gaussian(self.clean, self.gaussian_rank())


class DiffEMPrior(EMMPS):
    """DiffEM's unconditional prior, in laps, from a trained conditional model (``--conditional``).

    The E-step is drawn once: ``x_i ~ q(x | y_i)`` by the conditional model, one sample per
    observation (its chunks are kept, so every lap and every resume trains on the same
    reconstructions). Every lap fine-tunes the previous lap's prior on them, as
    :class:`DiffEM`'s ``--final-prior-steps`` does in one go at the end of a run. Lap 1 starts
    from scratch or, with ``--prior-init conditional``, from the conditional model with its
    condition channels dropped (:func:`~diffem.em.networks.without_condition`).
    """

    name = "diffem-prior"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bundle = PriorBundle.from_pretrained(str(self.config.conditional), device=self.device)
        if not isinstance(bundle.denoiser, EDMDenoiser) or not bundle.denoiser.conditional:
            raise ValueError(f"{self.config.conditional} is not a conditional model")
        if tuple(bundle.event_shape) != tuple(self.event_shape):
            raise ValueError(f"{self.config.conditional} models {tuple(bundle.event_shape)}, "
                             f"the observations are {tuple(self.event_shape)}")
        self.conditional_model = bundle.denoiser

    def training_samples(self, prior: torch.nn.Module, lap: int, previous: Path) -> Tensor:
        first = previous.parent / lap_name(0)  # keys the chunks: the same reconstructions for every lap
        return self.estep(self.conditional(self.conditional_model), 1, first, RECONSTRUCTIONS)

    def first_network(self, lap: int) -> EDMDenoiser:
        if self.config.prior_init == "conditional":
            return without_condition(self.conditional_model)
        return super().first_network(lap)

    def info(self, lap: int, **extra: Any) -> dict[str, Any]:
        return super().info(lap, conditional=self.config.conditional, prior_init=self.config.prior_init,
                            trained_on="reconstructions of the conditional model", **extra)


METHOD_CLASSES: dict[str, type[EMMethod]] = {"em-mmps": EMMPS, "diffem": DiffEM, "reference": CleanReference,
                                             "diffem-prior": DiffEMPrior}
