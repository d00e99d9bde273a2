"""diffem: learning diffusion priors from corrupted observations (EM-MMPS and DiffEM).

The pieces compose as schedule -> denoiser -> posterior denoiser (guidance) -> sampler; posterior
methods are registered by name (``POSTERIORS``; :mod:`diffem.posterior` builds one for a bundle):

>>> from diffem import VESchedule, GaussianDenoiser, MMPSDenoiser, make_sampler, parse_corruption

The names below are imported on first use (PEP 562), so ``import diffem`` and the command line's
``--help`` do not load torch or diffusers; ``from diffem import X`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the submodule that defines it
_EXPORTS = {
    "BundleError": "bundle", "PriorBundle": "bundle",
    "Denoiser": "denoisers", "EDMDenoiser": "denoisers", "GaussianDenoiser": "denoisers",
    "denoising_loss": "denoisers",
    "ConditionalPosteriorDenoiser": "guidance", "DPSDenoiser": "guidance", "MMPSDenoiser": "guidance",
    "PiGDMDenoiser": "guidance", "DiffPIRDenoiser": "guidance", "DDNMDenoiser": "guidance", "DAPSDenoiser": "guidance",
    "PriorSampler": "guidance", "PosteriorDenoiser": "guidance", "POSTERIORS": "guidance", "Cost": "guidance",
    "make_posterior": "posterior",
    "OPERATORS": "operators", "LinearOperator": "operators", "operator_from_config": "operators",
    "parse_corruption": "operators",
    "make_generator": "rng",
    "SAMPLERS": "samplers", "Sampler": "samplers", "SamplerStep": "samplers", "make_sampler": "samplers",
    "DataScaling": "scaling",
    "VESchedule": "schedule",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'diffem' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
