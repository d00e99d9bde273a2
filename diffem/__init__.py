"""diffem: learning diffusion priors from corrupted observations (EM-MMPS and DiffEM).

The pieces compose as schedule -> denoiser -> posterior denoiser (guidance) -> sampler:

>>> from diffem import VESchedule, GaussianDenoiser, MMPSDenoiser, make_sampler, parse_corruption
"""

from .bundle import BundleError, PriorBundle
from .denoisers import Denoiser, EDMDenoiser, GaussianDenoiser, denoising_loss
from .guidance import ConditionalPosteriorDenoiser, DPSDenoiser, MMPSDenoiser
from .operators import OPERATORS, LinearOperator, operator_from_config, parse_corruption
from .rng import make_generator
from .samplers import SAMPLERS, Sampler, SamplerStep, make_sampler
from .scaling import DataScaling
from .schedule import VESchedule

__version__ = "0.1.0"

__all__ = [
    "BundleError", "PriorBundle", "Denoiser", "EDMDenoiser", "GaussianDenoiser", "denoising_loss",
    "ConditionalPosteriorDenoiser", "DPSDenoiser", "MMPSDenoiser", "OPERATORS", "LinearOperator",
    "operator_from_config", "parse_corruption", "make_generator", "SAMPLERS", "Sampler", "SamplerStep",
    "make_sampler", "DataScaling", "VESchedule",
]
