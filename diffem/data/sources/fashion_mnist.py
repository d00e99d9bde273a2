"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 60,000 training and 10,000 test 28x28 grey images of clothing,
from Debian's ``dataset-fashion-mnist`` IDX files (``DIFFEM_FASHION_MNIST`` can point elsewhere)."""

from __future__ import annotations

from typing import ClassVar

from ...scaling import DataScaling
from ..fashion_mnist import load_fashion_mnist
from .base import CleanData, DataSource, register_source


@register_source
class FashionMNIST(DataSource):
    name = "fashion-mnist"
    summary = "Fashion-MNIST, from Debian's dataset-fashion-mnist or DIFFEM_FASHION_MNIST"
    title = "Fashion-MNIST clothing images"
    offered = True
    #: where the files come from: ``local`` (the IDX files) or ``hub`` (the Hugging Face dataset)
    origin: ClassVar[str] = "local"

    def load(self, argument: str | None, scaling: DataScaling) -> CleanData:
        train, _ = load_fashion_mnist("train", self.origin)
        test, _ = load_fashion_mnist("test", self.origin)
        return CleanData(scaling.to_model(train), scaling.to_model(test), "image")
