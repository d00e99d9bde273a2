"""Settings of an EM run (what ``python -m diffem train`` takes), saved as ``run.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..discovery import registered_names
from ..guidance.krylov import SOLVERS
from ..samplers import MAX_STEPS, SAMPLERS, sampler_options
from .mstep import TrainSettings

#: the registered EM methods (``diffem/em/methods/``), read from their source: the methods import this module
METHODS = registered_names("em/methods", "register_method")
#: how diffem-prior's lap 1 starts: a fresh network, or the conditional model without its condition
PRIOR_INITS = ("scratch", "conditional")

#: settings that may change when a run is resumed (the others must match)
#: (each lap's metrics.json records the M-step length it used; the observation set may move to another
#: folder, another machine, as long as it is the same set: ``run.json`` keeps its digest)
RESUMABLE_CHANGES = ("laps", "steps_per_lap", "final_prior_steps", "estep_batch", "eval_samples", "eval_count",
                     "precision", "compile", "observations")


@dataclass
class EMConfig:
    method: str
    observations: str
    out: str
    laps: int = 8
    # the M-step's settings; their defaults are TrainSettings' (one source for both)
    steps_per_lap: int = TrainSettings.steps
    batch_size: int = TrainSettings.batch_size
    lr: float = TrainSettings.lr
    lr_final: float | None = TrainSettings.lr_final
    ema_decay: float = TrainSettings.ema_decay
    clip: float = TrainSettings.clip
    hflip: bool = TrainSettings.hflip
    precision: str = TrainSettings.precision
    compile: bool = TrainSettings.compile
    sampler: str = "ddpm"
    sampler_steps: int = 64
    #: the E-step sampler's own options (``--pc-corrections``...), every field filled in
    sampler_options: dict[str, Any] = field(default_factory=dict)
    solver: str = "gmres"
    solver_iterations: int = 1
    estep_batch: int = 1024
    gaussian_iterations: int = 16
    gaussian_rank: int | None = 64
    preset: str = "small"
    hidden_features: int = 256
    hidden_layers: int = 3
    sigma_max: float | None = None
    train_corruption: str | None = None
    final_prior_steps: int = 0
    conditional: str | None = None
    prior_init: str = "scratch"
    observations_limit: int | None = None
    eval_count: int = 64
    eval_samples: int = 256
    sinkhorn_reg: float = 0.05
    feature_net: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if (self.method == "diffem-prior") != (self.conditional is not None):
            raise ValueError("--conditional (a DiffEM conditional model) goes with --method diffem-prior, and only with it")
        if self.prior_init not in PRIOR_INITS:
            raise ValueError(f"unknown --prior-init {self.prior_init!r}; choose one of {', '.join(PRIOR_INITS)}")
        if self.observations_limit is not None and self.observations_limit < 1:
            raise ValueError(f"--observations-limit must be at least 1, got {self.observations_limit}")
        if self.laps < 1:
            raise ValueError(f"--laps must be at least 1, got {self.laps}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(sorted(SAMPLERS))}")
        if not 1 <= self.sampler_steps <= MAX_STEPS:
            raise ValueError(f"--sampler-steps must be between 1 and {MAX_STEPS}, got {self.sampler_steps}")
        # filled in, so that a run.json written before a sampler had options resumes with its defaults
        self.sampler_options = asdict(sampler_options(self.sampler, self.sampler_options))
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")
        for name in ("steps_per_lap", "batch_size", "estep_batch", "solver_iterations", "gaussian_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("eval_count", "eval_samples", "final_prior_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def train_settings(self, steps: int | None = None) -> TrainSettings:
        """The M-step settings of this run (``steps`` overrides the steps per lap)."""
        return TrainSettings(steps or self.steps_per_lap, self.batch_size, self.lr, self.lr_final, self.ema_decay,
                             self.clip, self.hflip, self.precision, self.compile)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "EMConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})

    def fixed_keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.to_dict() if k not in RESUMABLE_CHANGES and k != "out")
