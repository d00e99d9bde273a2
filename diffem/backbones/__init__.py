"""Backbone networks wrapped by :class:`diffem.denoisers.EDMDenoiser`."""

from .mlp import MLPBackbone
from .unet import UNET_PRESETS, make_unet

__all__ = ["MLPBackbone", "UNET_PRESETS", "make_unet"]
