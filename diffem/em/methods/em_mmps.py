r"""EM-MMPS (Rozet et al., 2024, "Learning Diffusion Priors from Observations by Expectation Maximization").

Lap 0 fits a Gaussian prior by closed-form EM. Lap ``k >= 1``:

- E-step: ``x_i ~ q_{k-1}(x | y_i)`` by MMPS around the prior of lap ``k - 1``: the Tweedie
  covariance ``Cov[x | x_t] = sigma_t^2 J_d`` makes the likelihood ``N(y; A d, Sigma_y + A Cov A^T)``,
  solved by a few CG/GMRES steps through VJPs (:mod:`diffem.guidance.mmps`);
- M-step: fine-tune lap ``k - 1``'s EMA weights (from scratch at lap 1) on ``{x_i}`` by
  denoising score matching, with a fresh optimiser and EMA.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...denoisers import EDMDenoiser
from ..networks import new_denoiser
from .base import PRIOR_DIR, EMMethod, lap_seed, register_method


@register_method
class EMMPS(EMMethod):
    name = "em-mmps"
    summary = "EM-MMPS, an unconditional prior with moment-matching posterior sampling in the E-step"
    title = "by EM-MMPS (expectation-maximisation with moment-matching posterior sampling)"

    def training_samples(self, prior: torch.nn.Module, lap: int, previous: Path) -> Tensor:
        return self.estep(self.mmps(self.estep_network(prior)), lap, previous)

    def lap(self, lap: int, previous: Path, folder: Path | None) -> dict[str, Any]:
        prior = self.load(previous, PRIOR_DIR)
        start = time.perf_counter()
        samples = self.training_samples(prior, lap, previous)
        estep_seconds = time.perf_counter() - start
        network = prior if isinstance(prior, EDMDenoiser) else self.first_network(lap)
        start = time.perf_counter()
        ema, losses = self.train(network, samples, lap)
        mstep_seconds = time.perf_counter() - start
        metrics = self.trained(lap, estep_seconds, mstep_seconds, self.config.steps_per_lap, losses, "unconditional")
        if folder is None:
            return metrics
        evaluation = self.evaluate(self.draw_prior(ema, lap), self.mmps(ema), lap)
        return self.finish_lap(folder, PRIOR_DIR, self.bundle(ema, lap), evaluation, metrics)

    def first_network(self, lap: int) -> EDMDenoiser:
        """The network lap 1 trains (the laps after it fine-tune their predecessor's)."""
        return new_denoiser(self.event_shape, 0, lap_seed(self.config.seed, lap, 5), self.config.preset,
                            self.config.hidden_features, self.config.hidden_layers)
