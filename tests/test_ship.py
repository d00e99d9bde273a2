"""`checkpoints/ship.py` on real (tiny) run folders: the bundle, its model card and its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diffem import PriorBundle
from diffem.data import make_manifold
from diffem.data.observations import make_observation_set, save_observation_set
from diffem.em import EMConfig, run_em
from diffem.operators import parse_corruption

ROOT = Path(__file__).resolve().parents[1]
NAME = "diffem-fashion-mask75-prior"
TINY = dict(laps=1, steps_per_lap=20, batch_size=64, sampler_steps=8, estep_batch=256, gaussian_iterations=2,
            hidden_features=32, hidden_layers=2, eval_count=16, eval_samples=32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DiffEM run and the diffem-prior run trained from its conditional model, as train.sh lays them out."""
    root = tmp_path_factory.mktemp("runs")
    operator = parse_corruption("projection:2", 0.01)
    save_observation_set(root / "obs-mask", make_observation_set(make_manifold(256, seed=1), operator, seed=3),
                         make_observation_set(make_manifold(64, seed=2), operator, seed=4, keep_clean=True))
    observations = str(root / "obs-mask")
    run_em(EMConfig("diffem", observations, str(root / "diffem-mask"), **TINY), device="cpu", progress=False)
    conditional = str(root / "diffem-mask" / "laps" / "lap-0001" / "conditional")
    run_em(EMConfig("diffem-prior", observations, str(root / "diffem-mask-prior"), observations_limit=128,
                    method_options={"conditional": conditional, "prior_init": "conditional"}, **TINY),
           device="cpu", progress=False)
    return root


def evaluation(models: dict[str, object]) -> dict[str, object]:
    return {"device": "CPU: test machine", "date": "2026-11-22", "command": "python benchmarks/fashion_cpu.py",
            "note": "timed beside a training run",
            "settings": {"prior_samples": 2000, "fd_steps": 32, "count": 32, "samples": 8, "steps": 64},
            "models": models}


def ship(runs: Path, out: Path, *evals: Path) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(ROOT / "checkpoints" / "ship.py"), "--runs", str(runs), "--out", str(out),
            "--only", NAME]
    for file in evals:
        args += ["--eval", str(file)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})


def test_ships_the_cpu_trained_diffem_prior_with_its_card(runs: Path, tmp_path: Path) -> None:
    posterior = {"psnr_single": 18.5, "ssim_single": 0.61, "psnr_mean": 20.25, "ssim_mean": 0.7,
                 "seconds_per_image": 0.25}
    cpu = tmp_path / "cpu.json"
    cpu.write_text(json.dumps(evaluation({
        "em-mmps-mask": {"prior": {"frechet_features": 150.5}},
        "reference": {"prior": {"frechet_features": 61.7}},
        "diffem-mask-prior": {"prior": {"frechet_features": 123.4, "black_share": 0.3, "test_black_share": 0.514},
                              "mmps_k1": posterior}})))
    gpu = tmp_path / "gpu.json"  # a later file does not override the first one that has the model
    gpu.write_text(json.dumps({**evaluation({"diffem-mask-prior": {"prior": {"frechet_features": 1.0}}}),
                               "device": "GPU"}))
    result = ship(runs, tmp_path / "out", cpu, gpu)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / NAME
    bundle = PriorBundle.from_pretrained(folder, device="cpu")
    assert bundle.kind == "unconditional" and bundle.info["method"] == "diffem-prior"
    assert bundle.info["quality"] == {"frechet": 123.4, "reference_frechet": 61.7,
                                      "measured": "2,000 samples, CPU: test machine, 2026-11-22"}  # for the app
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: diffem\n")
    assert "**123.4**" in card and "`em-mmps-mask` 150.5" in card and "measured on CPU: test machine" in card
    assert "| mask 75 % | MMPS (GMRES, k = 1) | 18.50 | 0.610 | 20.25 | 0.700 | 250.0 |" in card
    assert "no GPU" in card and "the first 128 Fashion-MNIST" in card and "lap 1 starts from the conditional" in card
    assert "speckle lowers it): **30.0 %**, against 51.4 % for the clean test images" in card
    assert "- Note: timed beside a training run" in card and "FD on 32 samples, 8-step sampler" in card
    assert "| 0 | gaussian |" in card and "| 1 | unconditional |" in card
    assert (folder / "samples.png").is_file()
    history = json.loads((folder / "history.json").read_text())  # what a run started from this bundle keeps
    assert [entry["lap"] for entry in history] == [0, 1] and "losses" not in history[1]
    assert history[1]["mstep_seconds"] > 0 and "final_loss" in history[1]


def test_refuses_to_ship_without_an_evaluation(runs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps(evaluation({"reference": {"prior": {"frechet_features": 50.0}}})))
    result = ship(runs, tmp_path / "out", other)
    assert result.returncode != 0 and "no evaluation of diffem-mask-prior" in result.stderr
    assert not (tmp_path / "out" / NAME).exists()


def test_the_ladder_table_puts_fd_against_the_mask_ratio() -> None:
    sys.path.insert(0, str(ROOT / "checkpoints"))
    import ship as shipping

    models = {"em-mmps-mask": {"path": "runs/em-mmps-mask/laps/lap-0016/prior", "prior": {"frechet_features": 90.0}},
              "em-mmps-mask50": {"path": "runs/em-mmps-mask50/laps/lap-0004/prior", "prior": {"frechet_features": 60.0}}}
    table = shipping.ladder_table(models, 30.0).splitlines()
    assert table[2:] == ["| 50 % | 4 | 60.0 | 2.00x | 6.76 |", "| 75 % | 16 | 90.0 | 3.00x | 13.18 |"]
    assert shipping.ladder_table({}, 30.0) == ""


def test_issue_19s_targets_are_checked_where_the_evaluation_has_their_figures() -> None:
    sys.path.insert(0, str(ROOT / "checkpoints"))
    import ship as shipping

    models = {"reference": {"prior": {"frechet_features": 60.0, "black_share": 0.5}},
              "em-mmps-mask": {"prior": {"frechet_features": 90.0, "black_share": 0.3}},
              "diffem-mask-prior": {"prior": {"frechet_features": 72.0, "black_share": 0.46}}}
    assert shipping.prior_targets(models).splitlines() == [
        "| DiffEM prior FD within 1.3x of the reference (issue 19) | 1.20x | met |",
        "| EM-MMPS samples' black share >= 90 % of the reference's (50.0 %) | 30.0 % | missed |",
        "| DiffEM prior samples' black share >= 90 % of the reference's (50.0 %) | 46.0 % | met |"]
    older = {"reference": {"prior": {"frechet_features": 60.0}}, "em-mmps-mask": {"prior": {"frechet_features": 90.0}}}
    assert shipping.prior_targets(older) == ""  # an evaluation from before the black share: no rows
