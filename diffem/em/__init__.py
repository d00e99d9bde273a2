"""Expectation-maximisation loops that learn diffusion priors from corrupted observations."""

from .config import METHODS, EMConfig
from .gaussian_em import fit_gaussian, gaussian_em, gaussian_posterior_sample
from .laps import RunError, RunFolder
from .mstep import TrainSettings, train_denoiser
from .runner import run_em

__all__ = ["METHODS", "EMConfig", "fit_gaussian", "gaussian_em", "gaussian_posterior_sample", "RunError",
           "RunFolder", "TrainSettings", "train_denoiser", "run_em"]
