r"""Pictures of tensors: image grids and 2-D scatter plots, as PIL images (saved as PNG).

Images are model-scale tensors mapped to pixels by a :class:`~diffem.scaling.DataScaling`;
small images are enlarged by an integer factor with nearest-neighbour resampling so each model
pixel stays a crisp square. Pixels an observation lacks are drawn in :data:`MISSING_COLOUR`, the
same blue in the app, the CLI's pictures and the lap pictures of a run.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor


#: how every picture shows the pixels an observation does not have (a blue that clothing scans rarely hold)
MISSING_COLOUR = (0.18, 0.36, 0.85)


def painted_missing(pixels: Tensor, missing: Tensor | None) -> Tensor:
    """``(B, 3, H, W)`` RGB of ``(B, 1 or 3, H, W)`` pixels in ``[0, 1]``, where ``missing`` (1 = missing,
    any channel) is :data:`MISSING_COLOUR`; grey pixels become three equal channels."""
    rgb = pixels.expand(-1, 3, -1, -1).clone() if pixels.shape[1] == 1 else pixels[:, :3].clone()
    if missing is None:
        return rgb
    hole = missing.to(rgb.device).amax(dim=1, keepdim=True).bool().expand_as(rgb)
    colour = torch.tensor(MISSING_COLOUR, dtype=rgb.dtype, device=rgb.device)[None, :, None, None].expand_as(rgb)
    return torch.where(hole, colour, rgb)


def to_uint8(pixels: Tensor) -> np.ndarray:
    """``(C, H, W)`` pixels in ``[0, 1]`` as an ``(H, W)`` or ``(H, W, 3)`` uint8 array."""
    array = (pixels.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def tensor_to_image(pixels: Tensor, scale: int = 1) -> Image.Image:
    """One ``(C, H, W)`` pixel tensor as a PIL image, enlarged ``scale`` times."""
    image = Image.fromarray(to_uint8(pixels))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return image


def image_grid(pixels: Tensor, columns: int | None = None, scale: int = 2, padding: int = 2) -> Image.Image:
    """A grid of ``(B, C, H, W)`` pixel tensors in ``[0, 1]`` (white padding between cells)."""
    count, channels, height, width = pixels.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_h, cell_w = height * scale + padding, width * scale + padding
    mode = "L" if channels == 1 else "RGB"
    grid = Image.new(mode, (columns * cell_w + padding, rows * cell_h + padding), color=255 if mode == "L" else (255,) * 3)
    for i in range(count):
        grid.paste(tensor_to_image(pixels[i], scale), (padding + (i % columns) * cell_w, padding + (i // columns) * cell_h))
    return grid


def scatter_plot(points: Tensor, reference: Tensor | None = None, size: int = 384,
                 limits: tuple[float, float] = (-2.5, 2.5)) -> Image.Image:
    """The first two coordinates of ``points`` (blue) over ``reference`` (grey)."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    low, high = limits

    def to_pixel(value: float) -> float:
        return (value - low) / (high - low) * (size - 1)

    for cloud, colour in ((reference, (190, 190, 190)), (points, (31, 90, 200))):
        if cloud is None:
            continue
        for x, y in cloud[:, :2].detach().cpu().tolist():
            u, v = to_pixel(x), size - 1 - to_pixel(y)
            draw.rectangle([u - 1, v - 1, u + 1, v + 1], fill=colour)
    return image
