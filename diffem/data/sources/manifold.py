"""The toy manifold: points on a seeded random closed curve in ``R^5`` (:mod:`diffem.data.manifold`), the vector
data of the papers' first experiment; train and test points are drawn with different seeds."""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option
from ...scaling import DataScaling
from ..manifold import make_manifold
from .base import CleanData, DataSource, register_source


@register_source
class ToyManifold(DataSource):
    name = "manifold"
    summary = "points of a toy curve in R^5, vectors: corrupt them with projection:K"
    title = "points of a toy manifold"
    domain = "vector"
    offered = True
    corruption = "projection:2"

    @dataclass(frozen=True)
    class Options:
        manifold_points: int = option(16384, "training points of the toy manifold", low=1, high=10_000_000)
        manifold_test_points: int = option(4096, "test points of the toy manifold", low=1, high=10_000_000)

    def load(self, argument: str | None, scaling: DataScaling) -> CleanData:
        return CleanData(make_manifold(self.options.manifold_points, seed=1),
                         make_manifold(self.options.manifold_test_points, seed=2), "vector")
