r"""What every EM method shares, and the registry of methods (one registered class a file in this folder).

A method learns a model from an observation set lap by lap. Lap 0 is a Gaussian fitted by
closed-form EM (:mod:`diffem.em.gaussian_em`); lap ``k >= 1`` is an E-step, posterior samples
``x_i ~ q_{k-1}(x | y_i)`` of every observation, then an M-step, denoising score matching on
them. A subclass defines lap ``k >= 1`` (:meth:`EMMethod.lap`) and registers itself with
``@register_method`` under its ``name``; ``python -m diffem train --method NAME`` then offers it,
``diffem.discovery`` lists it in ``--help`` without importing torch, and nothing else needs an edit.

A method's own settings (DiffEM's training corruption, diffem-prior's conditional model) are its
``Options``, a frozen dataclass of :func:`diffem.options.option` fields with literal arguments:
``train``'s flags are generated from it (``--train-corruption``, read from the source by
:func:`diffem.discovery.registered_options`), ``run.json`` keeps the values beside the run's other
settings (:class:`~diffem.em.config.EMConfig`), and the method reads them as ``self.options``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from ...bundle import PriorBundle
from ...data.observations import ObservationSet
from ...denoisers import AutocastDenoiser, EDMDenoiser
from ...features import load_feature_net
from ...imaging import image_grid, painted_missing, scatter_plot
from ...options import NoOptions, check_options
from ...rng import make_generator
from ...samplers import make_sampler
from ..config import EMConfig
from ..estep import PosteriorFactory, conditional_posterior, mmps_posterior, sharded_posterior_samples
from ..evaluation import LapEvaluation, PriorDraw, evaluate_lap
from ..gaussian_em import gaussian_em
from ..laps import METRICS, lap_name
from ..mstep import ConditionFn, train_denoiser
from ..networks import domain_of, schedule_for
from ..processes import Processes
from ..shards import shard_folder

PRIOR_DIR = "prior"
CONDITIONAL_DIR = "conditional"
SHARDS_DIR = "estep"  # inside the run folder: E-step chunks of the lap in progress
FINAL_SHARDS = "final"
RECONSTRUCTIONS = "reconstructions"  # diffem-prior's E-step, drawn once


def method_options(method: type["EMMethod"], values: dict[str, Any]) -> Any:
    """``method``'s ``Options`` from a run's values, checked."""
    options = method.Options(**values)
    check_options(options)
    return options


def lap_seed(seed: int, lap: int, stage: int) -> int:
    """A distinct, reproducible seed for each (run, lap, stage)."""
    return (seed * 1_000_003 + lap * 101 + stage) % (2**63)


class EMMethod:
    """Shared machinery; subclasses define lap ``k >= 1``.

    Every process of a run computes a lap's E-step (its chunks) and M-step (its slice of each
    batch); only the main process gets a lap ``folder`` to evaluate and write into, the others
    get ``None``.
    """

    name: ClassVar[str] = ""
    #: one line for ``train --help``
    summary: ClassVar[str] = ""
    #: how a visitor reads a prior it trained: "learned from only masked images, <title>" (the app's prior list)
    title: ClassVar[str] = ""
    #: what its laps are called after their count in that list ("3 EM laps"); empty: EM laps
    lap_words: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, config: EMConfig, observations: ObservationSet, test: ObservationSet | None,
                 device: torch.device, progress: bool = True, processes: Processes | None = None) -> None:
        self.config = config
        self.options = method_options(type(self), config.method_options)
        self.observations = observations
        self.test = test
        self.processes = processes or Processes(device)
        self.device = self.processes.device
        self.progress = progress and self.processes.is_main
        self.event_shape = observations.event_shape
        self.schedule = schedule_for(self.event_shape, config.sigma_max)
        self.sampler = make_sampler(config.sampler, self.schedule, config.sampler_steps, config.sampler_options)
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

    def estep_network(self, network: torch.nn.Module) -> torch.nn.Module:
        """The network as the E-step runs it: under bf16 autocast with ``--estep-precision bf16`` (a learned
        network only; the Gaussian's exact linear algebra stays fp32)."""
        if self.config.estep_precision == "bf16" and isinstance(network, EDMDenoiser):
            return AutocastDenoiser(network)
        return network

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


EM_METHODS: dict[str, type[EMMethod]] = {}


def register_method(cls: type[EMMethod]) -> type[EMMethod]:
    """Class decorator: make an EM method available by its ``name``."""
    if not cls.name or cls.name in EM_METHODS:
        raise ValueError(f"EM method name {cls.name!r} is empty or registered twice")
    EM_METHODS[cls.name] = cls
    return cls
