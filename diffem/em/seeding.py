r"""Starting a run from a model that was trained before: a shipped bundle becomes lap ``K`` of a new run.

Run folders do not outlive the GPU sessions that trained them; the shipped bundles
(``checkpoints/<name>/``) do. ``train --start-from BUNDLE`` makes an empty run folder continue the
training that produced ``BUNDLE``: laps ``0 .. K-1`` become *pruned* laps (a ``metrics.json`` that
says where they came from, and a manifest marked ``pruned``, as ``--keep-weights`` leaves them),
lap ``K`` holds a copy of the bundle, and the run goes on with lap ``K + 1``. ``K`` is the bundle's
own ``info.lap``. Resuming needs only the last lap's weights (:mod:`diffem.em.laps`), so the run
continues exactly as if its folder had been kept, from the same seeds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json
from ..bundle import CONFIG_NAME, GAUSSIAN_FILE, read_bundle_config
from .laps import MANIFEST, METRICS, RunError, RunFolder

#: the bundle files a lap keeps (a shipped folder also holds a model card, pictures, tuned options)
BUNDLE_PARTS = (CONFIG_NAME, "backbone", GAUSSIAN_FILE)
#: a shipped folder's per-lap figures (``checkpoints/ship.py`` writes them): the laps it stands for keep them
HISTORY_FILE = "history.json"
#: the figures of a lap's ``metrics.json`` that a shipped history carries (not the loss curves)
HISTORY_KEYS = ("lap", "model", "final_loss", "frechet_features", "frechet_pixels", "black_share", "sinkhorn",
                "posterior_psnr", "posterior_ssim", "posterior_rmse", "fit_seconds", "estep_seconds", "mstep_seconds",
                "lap_seconds", "mstep_steps", "processes", "recovered_from")


def bundle_lap(bundle: Path) -> int:
    lap = read_bundle_config(bundle).get("info", {}).get("lap")
    if not isinstance(lap, int) or lap < 1:
        raise RunError(f"{bundle} does not record the EM lap it was trained to (info.lap); it cannot seed a run")
    return lap


def seed_run(folder: RunFolder, bundle: str | Path, part: str) -> int:
    """Fill the empty run ``folder`` with laps ``0..K`` from ``bundle`` (as its ``part``); returns ``K``."""
    source = Path(bundle)
    if not (source / CONFIG_NAME).is_file():
        raise RunError(f"--start-from {bundle}: no bundle folder there ({CONFIG_NAME} is missing)")
    config = read_bundle_config(source)
    wanted = "conditional" if part == "conditional" else "unconditional"
    if config.get("kind") != wanted:
        raise RunError(f"--start-from {bundle} is a {config.get('kind')} model; this method's laps hold a {wanted} one")
    last = bundle_lap(source)
    history = shipped_history(source)
    for lap in range(last):
        with folder.writing_lap(lap) as staging:
            (staging / METRICS).write_text(json.dumps(placeholder_metrics(lap, source, history), indent=2) + "\n")
        manifest = json.loads((folder.lap_path(lap) / MANIFEST).read_text())
        atomic_write_json(folder.lap_path(lap) / MANIFEST, {**manifest, "pruned": True})
    with folder.writing_lap(last) as staging:
        copy_bundle(source, staging / part)
        metrics = {**placeholder_metrics(last, source, history), "model": wanted}
        (staging / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    return last


def history_entry(metrics: dict[str, Any]) -> dict[str, Any]:
    """What a shipped history keeps of one lap's ``metrics.json``."""
    return {key: metrics[key] for key in HISTORY_KEYS if key in metrics}


def shipped_history(bundle: Path) -> dict[int, dict[str, Any]]:
    """The per-lap figures shipped with ``bundle``, by lap (none for a bundle shipped without them)."""
    path = bundle / HISTORY_FILE
    if not path.is_file():
        return {}
    return {int(entry["lap"]): history_entry(entry) for entry in json.loads(path.read_text())}


def placeholder_metrics(lap: int, bundle: Path, history: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A lap trained before the run folder existed: its shipped figures (if any) and where it came from."""
    where = f"its figures are from the bundle's {HISTORY_FILE}" if lap in history else "its figures are not kept"
    return {**history.get(lap, {}), "lap": lap, "seeded_from": str(bundle),
            "note": f"trained before this run folder existed; {where}"}


def copy_bundle(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for name in BUNDLE_PARTS:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name)
        elif path.is_file():
            shutil.copy2(path, target / name)
