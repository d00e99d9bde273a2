r"""Opening image files safely: the size is checked before the pixels are decoded.

A file that claims more than :data:`MAX_PIXELS` pixels (a decompression bomb) or fewer than
:data:`MIN_SIDE` on a side is refused from its header; EXIF orientation is applied and an
animation gives its first frame. No heavy import: the importers use this before torch loads.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

#: larger images are refused before they are decoded (a decompression bomb stops here)
MAX_PIXELS = 4096 * 4096
MIN_SIDE = 8


class ImageSizeError(ValueError):
    """An image too large or too small to be read."""


def check_image_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageSizeError(f"The image is {width}x{height}: at most {MAX_PIXELS // 1_000_000} megapixels please.")
    if min(width, height) < MIN_SIDE:
        raise ImageSizeError(f"The image is {width}x{height}: at least {MIN_SIDE}x{MIN_SIDE} pixels please.")


def open_image(path: str | Path) -> Image.Image:
    """The decoded image in ``path`` (first frame, EXIF orientation applied).

    Raises ``FileNotFoundError`` if there is no file, :class:`ImageSizeError` for a size out of
    bounds, ``ValueError`` naming the file if it cannot be decoded.
    """
    try:
        with Image.open(path) as image:
            check_image_size(*image.size)
            image.seek(0)
            image.load()
            return ImageOps.exif_transpose(image)
    except (FileNotFoundError, ImageSizeError):
        raise
    except (OSError, ValueError, Image.DecompressionBombError, EOFError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from None
