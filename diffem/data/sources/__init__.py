"""Clean data sources by name; importing this package registers every built-in one.

A new source is one class in one file here, decorated with ``@register_source`` (:mod:`.base`), with an
``Options`` dataclass if it has settings; it then appears as ``make-observations --data NAME`` and ``train
--data NAME`` with flags generated from its options, and, if ``offered``, in the app's Train tab.
"""

from .base import (SOURCES, CleanData, DataSource, load_clean_data, offered_sources, parse_source,
                   register_source, source_specs)
from .fashion_mnist import FashionMNIST
from .fashion_mnist_hub import FashionMNISTHub
from .folder import ImageFolder
from .manifold import ToyManifold

__all__ = ["SOURCES", "CleanData", "DataSource", "load_clean_data", "offered_sources", "parse_source",
           "register_source", "source_specs", "FashionMNIST", "FashionMNISTHub", "ImageFolder", "ToyManifold"]
