"""Settings of an EM run (what ``python -m diffem train`` takes), saved as ``run.json``.

The chosen EM method's own options (its ``Options`` dataclass, :mod:`diffem.em.methods.base`) sit in
``method_options``, every field filled in; ``run.json`` keeps them beside the other settings, as flat
keys (``"train_corruption": ...``), so a file written before a method had an ``Options`` reads the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..discovery import registered_names, registered_options
from ..guidance.krylov import SOLVERS
from ..options import check_values, flag_name
from ..samplers import MAX_STEPS, SAMPLERS, sampler_options
from .mstep import PRECISIONS, TrainSettings

#: the registered EM methods (``diffem/em/methods/``), read from their source: the methods import this module
METHODS = registered_names("em/methods", "register_method")

#: settings that may change when a run is resumed (the others must match)
#: (each lap's metrics.json records the M-step length it used; the observation set may move to another
#: folder, another machine, as long as it is the same set: ``run.json`` keeps its digest)
RESUMABLE_CHANGES = ("laps", "steps_per_lap", "final_prior_steps", "estep_batch", "eval_samples", "eval_count",
                     "precision", "estep_precision", "compile", "observations")


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
    #: the E-step network's precision: "bf16" runs it under autocast (a GPU's tensor cores), the solve stays fp32
    estep_precision: str = "fp32"
    gaussian_iterations: int = 16
    gaussian_rank: int | None = 64
    preset: str = "small"
    hidden_features: int = 256
    hidden_layers: int = 3
    sigma_max: float | None = None
    observations_limit: int | None = None
    eval_count: int = 64
    eval_samples: int = 256
    sinkhorn_reg: float = 0.05
    feature_net: str | None = None
    seed: int = 0
    #: the method's own options (``train_corruption`` for ``diffem``...), every field filled in
    method_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        self.method_options = filled_method_options(self.method, self.method_options)
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
        if self.estep_precision not in PRECISIONS:
            raise ValueError(f"unknown --estep-precision {self.estep_precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.solver not in SOLVERS:
            raise ValueError(f"unknown solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")
        for name in ("steps_per_lap", "batch_size", "estep_batch", "solver_iterations", "gaussian_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("eval_count", "eval_samples"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as ``run.json`` keeps them: the method's options as keys of their own."""
        settings = asdict(self)
        return {**{k: v for k, v in settings.items() if k != "method_options"}, **settings["method_options"]}

    def train_settings(self, steps: int | None = None) -> TrainSettings:
        """The M-step settings of this run (``steps`` overrides the steps per lap)."""
        return TrainSettings(steps or self.steps_per_lap, self.batch_size, self.lr, self.lr_final, self.ema_decay,
                             self.clip, self.hflip, self.precision, self.compile)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "EMConfig":
        """The settings of a ``run.json``; keys that are neither a setting nor an option of its method are ignored."""
        names = {f.name for f in fields(cls)} - {"method_options"}
        own = {option["name"] for option in registered_options("em/methods", "register_method").get(config["method"], ())}
        return cls(**{k: v for k, v in config.items() if k in names},
                   method_options={k: v for k, v in config.items() if k in own})

    def option(self, name: str, default: Any = None) -> Any:
        """The method's option ``name``, or ``default`` if the method has no such option."""
        return self.method_options.get(name, default)

    def fixed_keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.to_dict() if k not in RESUMABLE_CHANGES and k != "out")


def filled_method_options(method: str, given: dict[str, Any]) -> dict[str, Any]:
    """Every option of ``method`` (read from its source), ``given`` values over the defaults, checked;
    an option of another method, or a required one left out, is refused naming its ``train`` flag."""
    described = registered_options("em/methods", "register_method")[method]
    known = {option["name"] for option in described}
    foreign = sorted(set(given) - known)
    if foreign:
        owners = [m for m, options in registered_options("em/methods", "register_method").items()
                  if any(o["name"] == foreign[0] for o in options)]
        whose = f"an option of --method {', '.join(owners)}" if owners else "not an option of any method"
        raise ValueError(f"{flag_name('', foreign[0])} is {whose}, not of --method {method}")
    values = {option["name"]: option["default"] for option in described} | \
        {k: v for k, v in given.items() if v is not None}
    check_values(values, described, lambda name: f"{flag_name('', name)} (--method {method})")
    return values
