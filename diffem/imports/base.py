r"""Importers: a user's own corrupted observations, read into diffem's observation-set folder.

An importer is one registered class in one file (:func:`register_importer`), with an ``Options``
dataclass (:mod:`diffem.options`) that generates its CLI flags
(``python -m diffem import-observations NAME ...``). It yields :class:`Observed` records, one
per image: the observed pixels ``y`` in ``[0, 1]`` and either a mask ``m`` (1 = observed) or a
blur kernel ``k``. The common steps, sizing, channels, the held-out split and the atomic write,
are :mod:`diffem.imports.shaping` and :mod:`diffem.imports.saving`, shared by every importer.

The model of the data is the one EM assumes: ``y = A x + eta`` with ``A x = m * x`` (masks) or
``A x = k * x`` (kernels) and ``eta ~ N(0, sigma_y^2)`` on the observed pixels. Nothing here
imports torch, so ``--help`` answers at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..options import option

IMPORTERS: dict[str, type["Importer"]] = {}
#: the square sizes an imported set may have (the UNet presets cover 16 to 64 pixels)
MIN_SIZE, MAX_SIZE = 16, 64


class ObservationImportError(ValueError):
    """Input that cannot be imported (a missing mask, a wrong size, a file that is not an image...)."""


@dataclass
class Observed:
    """One observation: ``pixels`` ``(H, W, C)`` in ``[0, 1]``, and its ``mask`` ``(H, W)`` of 0/1 or its
    blur ``kernel`` ``(k, k)``; ``name`` says where it came from in error messages."""

    name: str
    pixels: np.ndarray
    mask: np.ndarray | None = None
    kernel: np.ndarray | None = None


@dataclass(frozen=True)
class ImportSettings:
    """What every importer shares: the noise, the size and channels of the set, the held-out split."""

    sigma_y: float = option(0.01, "noise std of the observations in the model's units (pixels 0-1 map to -2..2, "
                                  "so 0.01 is 0.25 % of the pixel range)", low=1e-6, high=1.0)
    size: int | None = option(None, f"side of the square images to make ({MIN_SIZE}-{MAX_SIZE} px)",
                              low=MIN_SIZE, high=MAX_SIZE,
                              unset="the images' own size, which must be square and the same for all")
    fit: str = option("crop", "how an image that is not SIZE x SIZE is fitted: crop (centre square, then resize) "
                              "or resize (squash the whole image); resizing averages observed pixels only",
                      choices=("crop", "resize"))
    channels: str = option("auto", "grey (1) or colour (3) images (auto: colour if any image has colour)",
                           choices=("auto", "1", "3"))
    held_out: float = option(0.1, "fraction of the observations held out for evaluation (observations only)",
                             low=0.0, high=0.5)
    seed: int = option(0, "seed of the held-out split", low=0, high=2**31 - 1)
    limit: int | None = option(None, "import only the first N observations", low=1, high=10_000_000,
                               unset="all")


class Importer(ABC):
    """Reads observations from one kind of source; subclasses set ``name``, ``summary`` and ``Options``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Options: ClassVar[type]

    def __init__(self, options: Any) -> None:
        self.options = options

    @abstractmethod
    def observations(self, limit: int | None) -> Iterator[Observed]:
        """The observations, in a fixed order (at most ``limit``)."""

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What was imported, recorded in the set's ``observations.json``."""


def register_importer(cls: type[Importer]) -> type[Importer]:
    """Class decorator: make an importer available by its ``name`` (CLI, app)."""
    if cls.name in IMPORTERS:
        raise ValueError(f"importer name {cls.name!r} is registered twice")
    IMPORTERS[cls.name] = cls
    return cls
