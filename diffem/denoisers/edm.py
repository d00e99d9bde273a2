r"""EDM-preconditioned denoisers, unconditional and conditional.

Karras et al. (2022) wrap a backbone network ``F`` so that its input and target have unit
variance at every noise level. With ``sigma_data = 1`` (data scaled to ``[-2, 2]``)::

    d(x_t, sigma) = c_skip x_t + c_out F(c_in x_t, c_noise)
    c_skip = 1 / (sigma^2 + 1),  c_out = sigma / sqrt(sigma^2 + 1),
    c_in = 1 / sqrt(sigma^2 + 1), c_noise = log sigma.

The conditional denoiser of DiffEM (Zhang et al., 2025) is the same map with the observation
and the operator's channels (e.g. ``[y, mask]``) concatenated to the backbone input::

    d(x_t, sigma, y) = c_skip x_t + c_out F([c_in x_t, cond(y)], c_noise).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import batch_sigma, expand_as_batch

#: Multiplier from ``log sigma`` to the ``timestep`` of a diffusers UNet, whose sinusoidal
#: embedding was designed for timesteps spread over about a thousand units.
UNET_TIMESTEP_SCALE = 100.0


class EDMDenoiser(nn.Module):
    """``d(x_t, sigma[, cond])`` around a backbone (a diffusers ``UNet2DModel`` or :class:`MLPBackbone`).

    ``condition_channels`` is 0 for an unconditional prior; otherwise the backbone's input has
    ``channels + condition_channels`` channels and ``cond`` must be given at every call.
    """

    def __init__(self, backbone: nn.Module, condition_channels: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.condition_channels = int(condition_channels)

    @property
    def conditional(self) -> bool:
        return self.condition_channels > 0

    def forward(self, x_t: Tensor, sigma: Tensor | float, cond: Tensor | None = None) -> Tensor:
        sigma = batch_sigma(sigma, x_t)
        s = expand_as_batch(sigma, x_t)
        c_skip = 1 / (s**2 + 1)
        c_out = s / torch.sqrt(s**2 + 1)
        c_in = 1 / torch.sqrt(s**2 + 1)
        inputs = self._backbone_input(c_in * x_t, cond)
        out = self._call_backbone(inputs, torch.log(sigma))
        return c_skip * x_t + c_out * out

    def _backbone_input(self, x_in: Tensor, cond: Tensor | None) -> Tensor:
        if not self.conditional:
            if cond is not None:
                raise ValueError("this denoiser is unconditional but a condition was given")
            return x_in
        if cond is None:
            raise ValueError("this denoiser is conditional: pass the observation's condition channels")
        if cond.shape[0] != x_in.shape[0] or cond.shape[2:] != x_in.shape[2:] or cond.shape[1] != self.condition_channels:
            raise ValueError(
                f"condition of shape {tuple(cond.shape)} does not fit input {tuple(x_in.shape)} "
                f"with {self.condition_channels} condition channels"
            )
        return torch.cat([x_in, cond.to(x_in.dtype)], dim=1)

    def _call_backbone(self, inputs: Tensor, log_sigma: Tensor) -> Tensor:
        if is_diffusers_unet(self.backbone):
            return self.backbone(inputs, UNET_TIMESTEP_SCALE * log_sigma).sample
        return self.backbone(inputs, log_sigma)


def is_diffusers_unet(module: nn.Module) -> bool:
    return type(module).__name__ == "UNet2DModel"
