"""Denoisers ``d(x_t, sigma) ~ E[x | x_t]``: EDM-preconditioned networks and the exact Gaussian one."""

from .autocast import AutocastDenoiser
from .base import Denoiser, batch_sigma
from .edm import EDMDenoiser
from .gaussian import GaussianDenoiser
from .clamped import ClampedDenoiser
from .loss import denoising_loss, draw_noise

__all__ = ["AutocastDenoiser", "Denoiser", "batch_sigma", "ClampedDenoiser", "EDMDenoiser", "GaussianDenoiser", "denoising_loss", "draw_noise"]
