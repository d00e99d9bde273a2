"""Fresh denoiser networks for EM: a diffusers UNet for images, an MLP for vectors."""

from __future__ import annotations

import torch

from ..backbones import MLPBackbone, make_unet
from ..denoisers import EDMDenoiser
from ..schedule import VESchedule

#: official ``sigma_max``: 100 for images, 10 for the toy manifold (``sigma_min`` is 1e-3)
SIGMA_MAX = {"image": 1e2, "vector": 1e1}


def domain_of(event_shape: tuple[int, ...]) -> str:
    return "vector" if len(event_shape) == 1 else "image"


def schedule_for(event_shape: tuple[int, ...], sigma_max: float | None = None) -> VESchedule:
    return VESchedule(sigma_min=1e-3, sigma_max=sigma_max or SIGMA_MAX[domain_of(event_shape)])


def new_denoiser(event_shape: tuple[int, ...], condition_channels: int, seed: int, preset: str = "small",
                 hidden_features: int = 256, hidden_layers: int = 3) -> EDMDenoiser:
    """A freshly initialised (seeded) EDM denoiser for samples of ``event_shape``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if domain_of(event_shape) == "vector":
            (dim,) = event_shape
            backbone = MLPBackbone(dim + condition_channels, dim, hidden_features, hidden_layers)
        else:
            channels, height, width = event_shape
            if height != width:
                raise ValueError(f"the UNet needs square images, got {height}x{width}")
            backbone = make_unet(channels, height, condition_channels, preset)
    return EDMDenoiser(backbone, condition_channels=condition_channels)
