"""Steppable samplers; importing this package registers every built-in one."""

from .base import MAX_STEPS, SAMPLERS, NoOptions, Sampler, SamplerStep, describe_samplers, make_sampler, \
    register_sampler, sampler_options
from .analytic_ddpm import AnalyticDDPMSampler
from .ddim import DDIMSampler
from .ddpm import DDPMSampler
from .heun import HeunSampler
from .pc import PCSampler

__all__ = ["MAX_STEPS", "SAMPLERS", "NoOptions", "Sampler", "SamplerStep", "describe_samplers", "make_sampler",
           "register_sampler", "sampler_options",
           "AnalyticDDPMSampler", "DDIMSampler", "DDPMSampler", "HeunSampler", "PCSampler"]
