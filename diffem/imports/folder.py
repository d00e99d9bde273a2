r"""A folder of observed images and a folder of masks with the same names (white = observed).

``images/cat-3.jpg`` pairs with ``masks/cat-3.png``: names are matched without their suffix,
folders are searched recursively, and hidden files (``.DS_Store``) are skipped. Every other file
must be an image; an image without its mask, a mask without its image, a mask of another size
or with values other than black and white is refused, naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..image_files import open_image
from ..options import option
from .base import Importer, ObservationImportError, Observed, register_importer
from .shaping import image_pixels, mask_pixels


@dataclass(frozen=True)
class FolderOptions:
    images: str = option(None, "folder of the observed images (any image format; missing pixels may hold anything)")
    masks: str = option(None, "folder of the masks, one per image with the same name (white = observed, black = "
                              "missing; lossless PNG)")


def visible_files(root: Path) -> dict[str, Path]:
    """``{relative path without suffix: file}`` for every non-hidden file under ``root``."""
    if not root.is_dir():
        raise ObservationImportError(f"no folder at {root}")
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        key = str(relative.with_suffix(""))
        if key in found:
            raise ObservationImportError(f"{found[key]} and {path} have the same name; keep one of them")
        found[key] = path
    return found


def decoded(path: Path) -> Any:
    try:
        return open_image(path)
    except ValueError as error:  # ImageSizeError included: both name the file
        raise ObservationImportError(f"{path} is not an image diffem can read ({str(error).split(': ')[-1]})"
                                     if "cannot read image" in str(error) else f"{path}: {error}") from None


@register_importer
class FolderImporter(Importer):
    name = "folder"
    summary = "a folder of images and a folder of masks with the same names"
    Options = FolderOptions

    def pairs(self) -> list[tuple[Path, Path]]:
        images = visible_files(Path(self.options.images))
        masks = visible_files(Path(self.options.masks))
        if not images:
            raise ObservationImportError(f"the folder {self.options.images} holds no images")
        for key, path in images.items():
            if key not in masks:
                raise ObservationImportError(f"{path} has no mask: expected {Path(self.options.masks) / key}.png")
        for key, path in masks.items():
            if key not in images:
                raise ObservationImportError(f"{path} is a mask without an image in {self.options.images}")
        return [(images[key], masks[key]) for key in images]

    def observations(self, limit: int | None) -> Iterator[Observed]:
        for image_path, mask_path in self.pairs()[:limit]:
            pixels = image_pixels(decoded(image_path), str(image_path))
            mask = mask_pixels(decoded(mask_path), str(mask_path))
            yield Observed(str(image_path), pixels, mask=mask)

    def provenance(self) -> dict[str, Any]:
        return {"images": str(self.options.images), "masks": str(self.options.masks)}
