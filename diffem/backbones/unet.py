r"""Image backbones: a diffusers ``UNet2DModel`` sized for small images.

The UNet maps ``(B, C + C_cond, H, W)`` and a timestep (here ``100 log sigma``, see
:mod:`diffem.denoisers.edm`) to ``(B, C, H, W)``. Sizes are presets; 28x28 works with two
downsamplings (28 -> 14 -> 7). ``deep`` has four levels, so 64x64 images (grey or colour)
reach 8x8 at the bottom, where attention sits (6.3 M parameters, about as many as ``base``); it
needs a side divisible by 8 (16, 24, 32, 64...).
"""

from __future__ import annotations

from typing import Any

from diffusers import UNet2DModel

#: width presets: block channels, resnet layers per block, attention in the lowest block
UNET_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"block_out_channels": (16, 32), "layers_per_block": 1, "norm_num_groups": 8, "attention": False},
    "small": {"block_out_channels": (32, 64, 64), "layers_per_block": 1, "norm_num_groups": 16, "attention": True},
    "base": {"block_out_channels": (64, 128, 128), "layers_per_block": 2, "norm_num_groups": 32, "attention": True},
    "deep": {"block_out_channels": (32, 64, 128, 128), "layers_per_block": 2, "norm_num_groups": 16,
             "attention": True},
}


def make_unet(channels: int, size: int, condition_channels: int = 0, preset: str = "small") -> UNet2DModel:
    """A UNet for ``channels``-channel ``size x size`` images, with room for condition channels."""
    if preset not in UNET_PRESETS:
        raise ValueError(f"unknown UNet preset {preset!r}; choose one of {', '.join(UNET_PRESETS)}")
    spec = UNET_PRESETS[preset]
    levels = len(spec["block_out_channels"])
    if size % (2 ** (levels - 1)):
        raise ValueError(f"image size {size} must be divisible by {2 ** (levels - 1)} for the {preset!r} UNet")
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if spec["attention"]:
        down[-1] = "AttnDownBlock2D"
        up[0] = "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=size,
        in_channels=channels + condition_channels,
        out_channels=channels,
        block_out_channels=spec["block_out_channels"],
        layers_per_block=spec["layers_per_block"],
        norm_num_groups=spec["norm_num_groups"],
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        attention_head_dim=8,
    )
