r"""Run EM to a number of laps, resumably.

Each lap is computed from the previous complete lap folder only (its saved EMA weights) and a
seed derived from the run's seed and the lap number, so a run killed at any point and resumed
with ``--resume`` redoes at most the lap it was in, and redoes it identically. Asking for laps
that are already complete does nothing. Training reads only the observation set's training
file (observations and operator parameters); the held-out test file serves evaluation only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..data.observations import TEST_FILE, load_observation_set
from .config import EMConfig
from .laps import RunError, RunFolder, verify_folder, writing_verified
from .methods import METHOD_CLASSES, DiffEM, EMMethod

FINAL_DIR = "final"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(name)


def build_method(config: EMConfig, device: torch.device, progress: bool) -> EMMethod:
    observations = load_observation_set(config.observations, "train")
    test_file = Path(config.observations) / TEST_FILE
    test = load_observation_set(config.observations, "test") if test_file.is_file() else None
    return METHOD_CLASSES[config.method](config, observations, test, device, progress)


def run_em(config: EMConfig, device: str = "auto", resume: bool = False, progress: bool = True,
           time_limit: float | None = None, log: Any = print, keep_weights: int | None = None) -> RunFolder:
    """Train to ``config.laps`` laps (plus DiffEM's final prior), continuing a run if ``resume``."""
    started = time.perf_counter()
    folder = RunFolder(config.out)
    folder.start(config.to_dict(), resume, config.fixed_keys())
    done = folder.complete_laps(repair=True)
    final_ready = config.method == "diffem" and config.final_prior_steps > 0
    final_path = folder.root / FINAL_DIR
    if done and done[-1] >= config.laps and (not final_ready or verify_folder(final_path) is None):
        log(f"diffem: {config.out} already has {done[-1]} laps; nothing to do")
        return folder
    if done and folder.is_pruned(done[-1]):
        raise RunError(f"{folder.lap_path(done[-1])} is the last complete lap but its weights were pruned; "
                       "the run cannot continue from it")
    method = build_method(config, resolve_device(device), progress)
    if not done:
        with folder.writing_lap(0) as staging:
            metrics = method.initial_lap(staging)
        log(_summary(metrics))
        done = [0]
    lap_seconds = 0.0
    for lap in range(done[-1] + 1, config.laps + 1):
        elapsed = time.perf_counter() - started
        if time_limit is not None and elapsed + lap_seconds > time_limit:
            log(f"diffem: stopping before lap {lap}: the time limit of {time_limit:.0f} s would be exceeded")
            return folder
        lap_start = time.perf_counter()
        with folder.writing_lap(lap) as staging:
            metrics = method.lap(lap, folder.lap_path(lap - 1), staging)
        lap_seconds = time.perf_counter() - lap_start
        log(_summary(metrics))
        if keep_weights is not None:
            folder.prune_weights(keep_weights)
    if final_ready and isinstance(method, DiffEM) and verify_folder(final_path) is not None:
        with writing_verified(final_path) as staging:
            metrics = method.final_prior(folder.lap_path(config.laps), staging, config.laps)
        log("final prior: " + _summary(metrics))
    return folder


def _summary(metrics: dict[str, Any]) -> str:
    keys = ("final_loss", "sinkhorn", "frechet_pixels", "frechet_features", "posterior_psnr", "posterior_ssim", "posterior_rmse",
            "estep_seconds", "mstep_seconds")
    parts = [f"{k}={metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), (int, float))]
    return f"lap {metrics.get('lap')}: " + " ".join(parts)
