"""Posterior denoisers (guidance); importing this package registers every built-in method.

A new posterior method is one class in one file here, decorated with ``@register_posterior``,
with an ``Options`` dataclass (:mod:`diffem.options`); it then appears by name in
:func:`diffem.posterior.make_posterior`, the generated CLI flags and the app's controls.
"""

from .base import POSTERIORS, Cost, ObservationGuidance, PosteriorDenoiser, register_posterior, run_cost, steps_for_budget
from .conditional import ConditionalPosteriorDenoiser
from .daps import DAPSDenoiser
from .ddnm import DDNMDenoiser
from .diffpir import DiffPIRDenoiser
from .dps import DPSDenoiser
from .krylov import SOLVERS, conjugate_gradient, gmres
from .mmps import MMPSDenoiser
from .pigdm import PiGDMDenoiser
from .prior import PriorSampler

__all__ = ["POSTERIORS", "Cost", "ObservationGuidance", "PosteriorDenoiser", "register_posterior", "run_cost",
           "steps_for_budget", "ConditionalPosteriorDenoiser", "DAPSDenoiser", "DDNMDenoiser", "DiffPIRDenoiser",
           "DPSDenoiser", "MMPSDenoiser", "PiGDMDenoiser", "PriorSampler", "SOLVERS", "conjugate_gradient", "gmres"]
