r"""Run EM to a number of laps, resumably.

Each lap is computed from the previous complete lap folder only (its saved EMA weights) and a
seed derived from the run's seed and the lap number, so a run killed at any point and resumed
with ``--resume`` redoes at most the lap it was in, and redoes it identically (keeping the E-step
chunks it had finished, :mod:`diffem.em.shards`). Asking for laps
that are already complete does nothing. Training reads only the observation set's training
file (observations and operator parameters); the held-out test file serves evaluation only.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch

from ..data.observations import TEST_FILE, TRAIN_FILE, load_observation_set
from .config import EMConfig
from .laps import RunError, RunFolder, lap_name, sha256, verify_folder, writing_verified
from .methods import CONDITIONAL_DIR, EM_METHODS, FINAL_SHARDS, PRIOR_DIR, SHARDS_DIR, DiffEM, EMMethod
from .methods.base import method_options
from .seeding import seed_run
from .processes import Processes
from .shards import remove_shards

FINAL_DIR = "final"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(name)


def build_method(config: EMConfig, processes: Processes, progress: bool) -> EMMethod:
    observations = load_observation_set(config.observations, "train")
    if config.observations_limit is not None:
        observations = observations.subset(config.observations_limit)
    test_file = Path(config.observations) / TEST_FILE
    test = load_observation_set(config.observations, "test") if test_file.is_file() else None
    return EM_METHODS[config.method](config, observations, test, processes.device, progress, processes)


def open_run(folder: RunFolder, config: EMConfig, resume: bool, start_from: str | None = None) -> list[int]:
    """Start or check the run folder (seeding an empty one from ``start_from``); the complete laps, after
    removing a broken one (main process)."""
    record = {**config.to_dict(), DIGEST_KEY: observations_digest(config.observations)}
    existing = folder.config()
    same_set = "observations" if existing is not None and DIGEST_KEY not in existing else DIGEST_KEY
    folder.start(record, resume, (*config.fixed_keys(), same_set))
    done = folder.complete_laps(repair=True)
    if start_from is not None and done and seeding_was_cut(folder, done):
        for lap in done:  # placeholders only, from a run killed while it was being seeded: seed it again
            shutil.rmtree(folder.lap_path(lap))
        done = []
    if start_from is not None and not done:
        seed_run(folder, start_from, CONDITIONAL_DIR if config.method == "diffem" else PRIOR_DIR)
        done = folder.complete_laps()
    return done


def seeding_was_cut(folder: RunFolder, done: list[int]) -> bool:
    """Whether the complete laps are seeded placeholders without the shipped model (seeding was killed)."""
    last = done[-1]
    return folder.is_pruned(last) and "seeded_from" in folder.lap_metrics(last)


def run_em(config: EMConfig, device: str = "auto", resume: bool = False, progress: bool = True,
           time_limit: float | None = None, log: Any = print, keep_weights: int | None = None,
           start_from: str | None = None) -> RunFolder:
    """Train to ``config.laps`` laps (plus DiffEM's final prior), continuing a run if ``resume``.

    ``start_from``: a bundle that an empty run folder starts from, as its lap ``K`` (:mod:`diffem.em.seeding`).
    ``time_limit``: no lap is started that would end after it, judged by the last lap's duration
    (on a resumed run, the last complete lap's recorded E-step, M-step and evaluation time).
    Under ``accelerate launch`` every process calls this; see :mod:`diffem.em.processes`.
    """
    started = time.perf_counter()
    method_options(EM_METHODS[config.method], config.method_options)  # a bad option fails before run.json is written
    processes = Processes.from_environment(resolve_device(device))
    processes.local_batch(config.batch_size)  # a global batch the processes cannot share fails here
    main = processes.is_main
    log = log if main else _silent
    folder = RunFolder(config.out)
    done = processes.broadcast(open_run(folder, config, resume, start_from) if main else None)
    final_ready = config.option("final_prior_steps", 0) > 0  # DiffEM's option: no other method has it
    final_path = folder.root / FINAL_DIR
    if done and done[-1] >= config.laps and (not final_ready or verify_folder(final_path) is None):
        log(f"diffem: {config.out} already has {done[-1]} laps; nothing to do")
        return folder
    if done and folder.is_pruned(done[-1]):
        raise RunError(f"{folder.lap_path(done[-1])} is the last complete lap but its weights were pruned; "
                       "the run cannot continue from it")
    method = build_method(config, processes, progress)
    if not done:
        if main:
            with folder.writing_lap(0) as staging:
                log(_summary(method.initial_lap(staging)))
        processes.barrier()
        done = [0]
    lap_seconds = recorded_lap_seconds(folder.lap_metrics(done[-1])) if main else 0.0
    for lap in range(done[-1] + 1, config.laps + 1):
        elapsed = time.perf_counter() - started
        if processes.broadcast(time_limit is not None and elapsed + lap_seconds > time_limit):
            log(f"diffem: stopping before lap {lap}: the time limit of {time_limit:.0f} s would be exceeded")
            return folder
        lap_start = time.perf_counter()
        previous = folder.lap_path(lap - 1)
        metrics = on_main(processes, folder.writing_lap(lap),
                          lambda staging: method.lap(lap, previous, staging))  # noqa: B023 (called at once)
        lap_seconds = time.perf_counter() - lap_start
        log(_summary(metrics) + f" lap_seconds={lap_seconds:.4g}")
        if main:
            remove_shards(folder.root / SHARDS_DIR, lap_name(lap))
            if keep_weights is not None:
                folder.prune_weights(keep_weights)
    if final_ready and isinstance(method, DiffEM) and verify_folder(final_path) is not None:
        metrics = on_main(processes, writing_verified(final_path),
                          lambda staging: method.final_prior(folder.lap_path(config.laps), staging, config.laps))
        log("final prior: " + _summary(metrics))
        if main:
            remove_shards(folder.root / SHARDS_DIR, FINAL_SHARDS)
    return folder


#: ``run.json``'s record of which observation set the run trains on, wherever that set lies
DIGEST_KEY = "observations_digest"


def observations_digest(folder: str) -> str:
    """SHA-256 of the set's training file: the same set, made again from the same data and seed, has the same."""
    return sha256(Path(folder) / TRAIN_FILE)


def recorded_lap_seconds(metrics: dict[str, Any]) -> float:
    """How long a finished lap took, from its ``metrics.json``: 0 when it does not say, or when the lap was
    trained before this run folder existed (``train --start-from``: elsewhere, so its time says nothing here)."""
    if "seeded_from" in metrics:
        return 0.0
    if isinstance(metrics.get("lap_seconds"), (int, float)):
        return float(metrics["lap_seconds"])
    return float(sum(metrics.get(key, 0.0) for key in ("estep_seconds", "mstep_seconds", "fit_seconds")))


def on_main(processes: Processes, writing: AbstractContextManager[Path],
            work: Callable[[Path | None], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` on every process; the main one gets the staging folder of ``writing`` to fill.

    Returns once the folder is in place, for every process.
    """
    if processes.is_main:
        with writing as staging:
            metrics = work(staging)
    else:
        metrics = work(None)
    processes.barrier()
    return metrics


def _silent(message: str) -> None:
    del message


def _summary(metrics: dict[str, Any]) -> str:
    keys = ("final_loss", "sinkhorn", "frechet_pixels", "frechet_features", "black_share", "posterior_psnr",
            "posterior_ssim", "posterior_rmse", "heldout_pixel_psnr", "heldout_residual", "estep_seconds", "mstep_seconds")
    parts = [f"{k}={metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), (int, float))]
    return f"lap {metrics.get('lap')}: " + " ".join(parts)
