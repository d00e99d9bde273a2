r"""One ``.npz`` or ``.safetensors`` file of observations with their masks or blur kernels.

Arrays (no pickles are read):

- ``y``: the observations, ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` with ``C`` 1 or 3;
  floats in ``[0, 1]`` or 8-bit integers 0-255;
- ``mask``: ``(N, H, W)``, ``(N, 1, H, W)`` or one ``(H, W)`` for all, 0/1 (or 0/255, or bool);
- or ``kernel``: blur kernels ``(N, k, k)``, ``(N, 1, k, k)`` or one ``(k, k)`` for all, ``k`` odd,
  non-negative and summing to 1 (``A x = k * x``, circular convolution).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..options import option
from .base import Importer, ObservationImportError, Observed, register_importer
from .shaping import binary_mask, check_pixels

KEYS = ("y", "mask", "kernel")


@dataclass(frozen=True)
class ArraysOptions:
    file: str = option(None, "a .npz or .safetensors file with arrays y and mask (or kernel)")


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ObservationImportError(f"no file at {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            return dict(load_file(str(path)))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
    except Exception as error:  # noqa: BLE001 (zip, pickle and header errors all mean: not a readable file)
        raise ObservationImportError(f"cannot read {path} as {path.suffix[1:]} arrays ({type(error).__name__}: "
                                     f"{str(error).splitlines()[0] if str(error) else 'no detail'})") from None
    raise ObservationImportError(f"{path} is neither .npz nor .safetensors")


def channel_axis(shape: tuple[int, ...]) -> int | None:
    """Where ``y``'s channels are: ``None`` for ``(N, H, W)``, 3 for ``(N, H, W, C)``, 1 for ``(N, C, H, W)``
    (``C`` is 1 or 3; channels-last wins when both would fit); ``-1`` when ``shape`` is none of these."""
    if len(shape) == 3:
        return None
    if len(shape) == 4 and shape[-1] in (1, 3):
        return 3
    if len(shape) == 4 and shape[1] in (1, 3):
        return 1
    return -1


def channels_last(y: np.ndarray, path: Path) -> np.ndarray:
    """``y`` as ``(N, H, W, C)``."""
    axis = channel_axis(y.shape)
    if axis is None:
        return y[..., None]
    if axis == 1:
        return y.transpose(0, 2, 3, 1)
    if axis == 3:
        return y
    raise ObservationImportError(f"{path}: y has shape {y.shape}; expected (N, H, W), (N, C, H, W) or (N, H, W, C) "
                                 "with C = 1 or 3")


def as_pixels(y: np.ndarray, path: Path) -> np.ndarray:
    if y.dtype == np.uint8:
        return y.astype(np.float32) / 255.0
    if not np.issubdtype(y.dtype, np.floating):
        raise ObservationImportError(f"{path}: y is {y.dtype}; use floats in [0, 1] or uint8")
    pixels = y.astype(np.float32)
    check_pixels(pixels, f"{path} (y)")
    return pixels


def per_sample(array: np.ndarray, count: int, what: str, path: Path) -> np.ndarray:
    """``(N, a, b)`` from ``(a, b)`` (one for all), ``(N, a, b)`` or ``(N, 1, a, b)``."""
    if array.ndim == 2:
        return np.broadcast_to(array, (count, *array.shape))
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[0] != count:
        raise ObservationImportError(f"{path}: {what} has shape {array.shape}; expected one per observation "
                                     f"({count}, ...) or a single 2-D {what}")
    return array


@register_importer
class ArraysImporter(Importer):
    name = "arrays"
    summary = "one .npz or .safetensors file holding y and per-sample masks or blur kernels"
    Options = ArraysOptions

    def arrays(self) -> dict[str, np.ndarray]:
        path = Path(self.options.file)
        arrays = read_arrays(path)
        unknown = sorted(set(arrays) - set(KEYS))
        if unknown or "y" not in arrays or ("mask" in arrays) == ("kernel" in arrays):
            raise ObservationImportError(f"{path} holds {', '.join(sorted(arrays)) or 'no arrays'}; expected y and "
                                         "either mask or kernel")
        return arrays

    def observations(self, limit: int | None) -> Iterator[Observed]:
        path = Path(self.options.file)
        arrays = self.arrays()
        y = channels_last(arrays["y"], path)
        if y.shape[0] == 0:
            raise ObservationImportError(f"{path}: y holds no observations")
        key = "mask" if "mask" in arrays else "kernel"
        extra = per_sample(arrays[key], y.shape[0], key, path)[:limit]
        pixels = as_pixels(y[:limit], path)
        if pixels.shape[-1] == 1:
            pixels = np.repeat(pixels, 3, axis=-1)
        for index in range(len(pixels)):
            name = f"{path}[{index}]"
            if key == "mask":
                yield Observed(name, pixels[index], mask=binary_mask(np.asarray(extra[index]), name))
            else:
                yield Observed(name, pixels[index], kernel=checked_kernel(np.asarray(extra[index], np.float32), name))

    def provenance(self) -> dict[str, Any]:
        return {"file": str(self.options.file)}


def checked_kernel(kernel: np.ndarray, name: str) -> np.ndarray:
    """A blur kernel: square, odd side, finite, non-negative, summing to 1."""
    side = kernel.shape[0]
    if kernel.shape != (side, side) or side % 2 == 0:
        raise ObservationImportError(f"the kernel of {name} is {kernel.shape}; a kernel is square with an odd side")
    if not np.isfinite(kernel).all() or (kernel < 0).any():
        raise ObservationImportError(f"the kernel of {name} holds negative, NaN or infinite values")
    if abs(float(kernel.sum()) - 1) > 1e-3:
        raise ObservationImportError(f"the kernel of {name} sums to {float(kernel.sum()):.4g}; it must sum to 1")
    return kernel
