r"""Denoiser networks for EM: a diffusers UNet for images, an MLP for vectors.

:func:`without_condition` turns a conditional denoiser ``d(x_t, sigma, cond)`` into the
unconditional ``d(x_t, sigma) = d(x_t, sigma, 0)``: it drops the input weights that read the
condition channels. For masks and projections a zero condition is the empty observation
(``A^T y = 0`` and ``A^T A 1 = 0``: nothing observed), so the result starts out as the
conditional model's answer to "no observation", a warm start for DiffEM's unconditional prior.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..backbones import MLPBackbone, make_unet
from ..denoisers import EDMDenoiser
from ..denoisers.edm import is_diffusers_unet
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


def without_condition(denoiser: EDMDenoiser) -> EDMDenoiser:
    """The unconditional ``d(x_t, sigma) = d(x_t, sigma, cond = 0)`` of a conditional denoiser (a copy)."""
    if not denoiser.conditional:
        raise ValueError("the denoiser is already unconditional")
    backbone = copy.deepcopy(denoiser.backbone)
    dropped = denoiser.condition_channels
    if isinstance(backbone, MLPBackbone):
        first = backbone.net[0]
        inputs = backbone.config.in_features - dropped
        # the MLP reads [x, cond, embedding of log sigma]: drop the middle columns
        keep = torch.cat([first.weight[:, :inputs], first.weight[:, inputs + dropped:]], dim=1)
        backbone.net[0] = _linear_like(first, keep)
        backbone.register_to_config(in_features=inputs)
    elif is_diffusers_unet(backbone):
        conv = backbone.conv_in
        channels = conv.in_channels - dropped
        slim = nn.Conv2d(channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding)
        with torch.no_grad():
            slim.weight.copy_(conv.weight[:, :channels])
            slim.bias.copy_(conv.bias)
        backbone.conv_in = slim.to(conv.weight.device, conv.weight.dtype)
        backbone.register_to_config(in_channels=channels)
    else:
        raise ValueError(f"cannot drop the condition of a {type(backbone).__name__} backbone")
    return EDMDenoiser(backbone, condition_channels=0)


def _linear_like(layer: nn.Linear, weight: torch.Tensor) -> nn.Linear:
    linear = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(layer.bias)
    return linear.to(layer.weight.device, layer.weight.dtype)
