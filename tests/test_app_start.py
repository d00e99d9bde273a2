"""The app module builds its page from whatever bundles are installed, and says when none is."""

from __future__ import annotations

from pathlib import Path

import torch

import app
from diffem import GaussianDenoiser, PriorBundle, VESchedule


def test_app_lists_bundles_in_checkpoints(tmp_path: Path) -> None:
    app.use_folders(tmp_path / "checkpoints", tmp_path / "runs")
    assert "No prior is installed yet" in app.priors_markdown()
    assert app.build_demo() is not None
    PriorBundle(GaussianDenoiser(torch.zeros(1, 8, 8), cov=torch.eye(64)), VESchedule(), (1, 8, 8),
                info={"method": "em-mmps", "lap": 0}).save_pretrained(tmp_path / "checkpoints" / "gauss")
    app.use_folders(tmp_path / "checkpoints", tmp_path / "runs")
    assert app.REGISTRY.names() == ["gauss"]
    assert "**gauss**: learned from corrupted images, as a Gaussian fit (EM's starting point)" in app.priors_markdown()
    assert "mask" in app.REGISTRY.entry("gauss").operators and "projection" not in app.REGISTRY.entry("gauss").operators
    assert app.build_demo() is not None
