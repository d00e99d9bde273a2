r"""DiffEM's unconditional prior (Zhang et al., 2025), trained from a DiffEM conditional model.

With ``q(x | y)`` learned, the prior is fitted to its aggregate posterior: ``x_i ~ q(x | y_i)`` once
for every observation, then denoising score matching on ``{x_i}`` in resumable laps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...bundle import PriorBundle
from ...denoisers import EDMDenoiser
from ...options import option
from ..laps import lap_name
from ..networks import without_condition
from .base import RECONSTRUCTIONS, register_method
from .em_mmps import EMMPS


@register_method
class DiffEMPrior(EMMPS):
    """DiffEM's unconditional prior, in laps, from a trained conditional model (``--conditional``).

    The E-step is drawn once: ``x_i ~ q(x | y_i)`` by the conditional model, one sample per
    observation (its chunks are kept, so every lap and every resume trains on the same
    reconstructions). Every lap fine-tunes the previous lap's prior on them, as
    :class:`DiffEM`'s ``--final-prior-steps`` does in one go at the end of a run. Lap 1 starts
    from scratch or, with ``--prior-init conditional``, from the conditional model with its
    condition channels dropped (:func:`~diffem.em.networks.without_condition`).
    """

    name = "diffem-prior"
    summary = "DiffEM's unconditional prior, trained on the reconstructions of a trained conditional model (--conditional)"
    title = "by DiffEM: an unconditional prior trained on its conditional model's reconstructions"
    lap_words = "laps of training"

    @dataclass(frozen=True)
    class Options:
        conditional: str = option(None, "the trained DiffEM conditional model (a folder)")
        prior_init: str = option("scratch", "lap 1 starts from a fresh network, or from the conditional model "
                                            "without its condition channels", choices=("scratch", "conditional"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bundle = PriorBundle.from_pretrained(str(self.options.conditional), device=self.device)
        if not isinstance(bundle.denoiser, EDMDenoiser) or not bundle.denoiser.conditional:
            raise ValueError(f"{self.options.conditional} is not a conditional model")
        if tuple(bundle.event_shape) != tuple(self.event_shape):
            raise ValueError(f"{self.options.conditional} models {tuple(bundle.event_shape)}, "
                             f"the observations are {tuple(self.event_shape)}")
        self.conditional_model = bundle.denoiser

    def training_samples(self, prior: torch.nn.Module, lap: int, previous: Path) -> Tensor:
        first = previous.parent / lap_name(0)  # keys the chunks: the same reconstructions for every lap
        return self.estep(self.conditional(self.estep_network(self.conditional_model)), 1, first, RECONSTRUCTIONS)

    def first_network(self, lap: int) -> EDMDenoiser:
        if self.options.prior_init == "conditional":
            return without_condition(self.conditional_model)
        return super().first_network(lap)

    def info(self, lap: int, **extra: Any) -> dict[str, Any]:
        return super().info(lap, conditional=self.options.conditional, prior_init=self.options.prior_init,
                            trained_on="reconstructions of the conditional model", **extra)
