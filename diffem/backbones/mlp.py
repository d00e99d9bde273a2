r"""MLP backbone for vector data (the toy manifold of EM-MMPS and DiffEM).

``F([x, cond], log sigma)``: the input concatenated with a Fourier embedding of ``log sigma``,
then ``hidden_layers`` blocks ``Linear -> LayerNorm -> SiLU`` (official: 3 layers of 256), then a
linear output. A diffusers ``ModelMixin`` so it saves with ``save_pretrained`` (safetensors).
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import Tensor, nn


class MLPBackbone(ModelMixin, ConfigMixin):
    """``(B, in_features) x (B,) -> (B, out_features)``."""

    @register_to_config
    def __init__(self, in_features: int, out_features: int, hidden_features: int = 256,
                 hidden_layers: int = 3, embedding_features: int = 64) -> None:
        super().__init__()
        if embedding_features % 2:
            raise ValueError("embedding_features must be even")
        frequencies = torch.exp(torch.linspace(math.log(0.1), math.log(32.0), embedding_features // 2))
        self.register_buffer("frequencies", frequencies, persistent=False)
        layers: list[nn.Module] = []
        width = in_features + embedding_features
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, hidden_features), nn.LayerNorm(hidden_features), nn.SiLU()]
            width = hidden_features
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, log_sigma: Tensor) -> Tensor:
        phase = log_sigma[:, None].to(x.dtype) * self.frequencies.to(x.dtype)
        embedding = torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)
        return self.net(torch.cat([x, embedding], dim=1))
