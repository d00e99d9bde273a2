"""The EM methods, one registered class a file; importing this package registers every built-in one."""

from .base import (CONDITIONAL_DIR, EM_METHODS, FINAL_SHARDS, PRIOR_DIR, RECONSTRUCTIONS, SHARDS_DIR, EMMethod,
                   lap_seed, register_method)
from .diffem_conditional import DiffEM
from .diffem_prior import DiffEMPrior
from .em_mmps import EMMPS
from .naive import NaiveFill
from .reference import CleanReference

__all__ = ["CONDITIONAL_DIR", "EM_METHODS", "FINAL_SHARDS", "PRIOR_DIR", "RECONSTRUCTIONS",
           "SHARDS_DIR", "EMMethod", "lap_seed", "register_method", "DiffEM", "DiffEMPrior", "EMMPS", "NaiveFill", "CleanReference"]
