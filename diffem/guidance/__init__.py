"""Posterior denoisers (guidance): MMPS, DPS and conditional (DiffEM) sampling."""

from .conditional import ConditionalPosteriorDenoiser
from .dps import DPSDenoiser
from .krylov import SOLVERS, conjugate_gradient, gmres
from .mmps import MMPSDenoiser

__all__ = ["ConditionalPosteriorDenoiser", "DPSDenoiser", "MMPSDenoiser", "SOLVERS", "conjugate_gradient", "gmres"]
