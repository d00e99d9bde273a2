"""The command line end to end on tiny data: observations, training, sampling, restoring, evaluating."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffem.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "diffem", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


@pytest.mark.parametrize("args, message", [
    (["train", "--method", "em-mmps", "--observations", "x", "--out", "y", "--laps", "0"], "--laps"),
    (["make-observations", "--data", "manifold", "--corruption", "smudge:3", "--out", "z"], "unknown corruption"),
    (["restore", "--prior", "no/such/prior/folder", "--image", "a.png", "--out", "o"], "no prior bundle"),
    (["frobnicate"], "invalid choice"),
    (["train", "--method", "diffem-prior", "--observations", "x", "--out", "y"], "--conditional"),
    (["train", "--method", "em-mmps", "--observations", "x", "--out", "y", "--conditional", "c"], "--conditional"),
])
def test_bad_arguments_give_one_line_and_exit_code_2(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diffem: error:") and message in lines[0]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(30):
        blob = np.zeros((40, 40), dtype=np.uint8)
        top, left = rng.integers(4, 20, size=2)
        blob[top:top + 14, left:left + 14] = 255
        image = Image.fromarray(blob)
        if i % 3 == 1:
            image = image.convert("RGBA")
        elif i % 3 == 2:
            image = Image.fromarray(blob.astype(np.uint16) * 257)
        image.save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def trained(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("cli")
    observations = work / "obs"
    assert main(["make-observations", "--data", f"folder:{image_folder}", "--corruption", "mask:0.5",
                 "--size", "16", "--out", str(observations)]) == 0
    assert main(["train", "--method", "em-mmps", "--observations", str(observations), "--out", str(work / "run"),
                 "--laps", "1", "--steps-per-lap", "3", "--batch-size", "8", "--preset", "tiny",
                 "--sampler-steps", "2", "--gaussian-iterations", "2", "--gaussian-rank", "4", "--eval-count", "3",
                 "--eval-samples", "4", "--device", "cpu", "--quiet"]) == 0
    return work


def test_make_observations_writes_train_and_test(trained: Path) -> None:
    meta = json.loads((trained / "obs" / "observations.json").read_text())
    assert meta["event_shape"] == [1, 16, 16] and meta["count"] == 27 and meta["test_count"] == 3
    assert meta["operator"]["name"] == "mask"


def test_sample_restore_and_eval(trained: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prior = trained / "run" / "laps" / "lap-0001" / "prior"
    grid = trained / "grid.png"
    assert main(["sample", "--prior", str(prior), "--count", "4", "--steps", "2", "--out", str(grid),
                 "--device", "cpu"]) == 0
    assert Image.open(grid).size[0] > 16
    out = trained / "restored"
    capsys.readouterr()
    assert main(["restore", "--prior", str(prior), "--image", str(image_folder / "img00.png"), "--corruption",
                 "mask:0.5", "--samples", "2", "--steps", "2", "--out", str(out), "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"psnr_mean", "psnr_observation", "seconds"} <= summary.keys()
    assert {p.name for p in out.iterdir()} >= {"observation.png", "mean.png", "std.png", "sample-0.png", "input.png"}
    assert main(["eval", "--prior", str(prior), "--observations", str(trained / "obs"), "--count", "3",
                 "--prior-samples", "4", "--steps", "2", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 < report["posterior"]["psnr_single"] < 100
    assert report["prior_quality"]["frechet_pixels"] > 0


def test_restore_refuses_an_unreadable_image(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    prior = trained / "run" / "laps" / "lap-0001" / "prior"
    assert main(["restore", "--prior", str(prior), "--image", str(bad), "--corruption", "mask:0.5",
                 "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    assert "cannot read image" in capsys.readouterr().err
