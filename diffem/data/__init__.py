"""Datasets: clean data sources and the corrupted-observation sets that EM trains on."""

from .fashion_mnist import load_fashion_mnist
from .image_folder import load_image_folder
from .manifold import make_manifold
from .observations import ObservationSet, make_observation_set
from .sources import load_clean_data

__all__ = ["load_fashion_mnist", "load_image_folder", "make_manifold", "ObservationSet",
           "make_observation_set", "load_clean_data"]
