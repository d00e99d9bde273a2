"""The app module builds its page and lists the bundles it finds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import app
from diffem import GaussianDenoiser, PriorBundle, VESchedule


def test_app_lists_bundles_in_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "CHECKPOINTS", tmp_path)
    assert app.priors_table() == []
    PriorBundle(GaussianDenoiser(torch.zeros(4), cov=torch.eye(4)), VESchedule(), (4,),
                info={"method": "em-mmps"}).save_pretrained(tmp_path / "gauss")
    assert app.priors_table() == [["gauss", "gaussian", "4", "em-mmps", ""]]
    assert app.build_demo() is not None
