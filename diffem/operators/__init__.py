"""Linear corruption operators; importing this package registers every built-in one."""

from .base import (OPERATORS, LinearOperator, SpecParameter, operator_from_config, parse_corruption,
                   register_operator)
from .blur import GaussianBlur
from .box_mask import BoxMask
from .downsample import Downsample
from .identity import Denoise
from .kernel_blur import KernelBlur
from .mask_family import MaskFamily, served_operators
from .masking import MaskingOperator
from .projection import RandomProjection
from .random_mask import RandomMask
from .user_mask import UserMask

__all__ = [
    "OPERATORS", "LinearOperator", "SpecParameter", "operator_from_config", "parse_corruption", "register_operator",
    "GaussianBlur", "BoxMask", "Downsample", "Denoise", "KernelBlur", "MaskFamily", "MaskingOperator", "RandomProjection",
    "RandomMask", "UserMask", "served_operators",
]
