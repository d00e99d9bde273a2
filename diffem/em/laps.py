r"""Run folders made of complete, verifiable laps.

``OUT/run.json`` holds the run's configuration. Every lap ``k`` is a folder ``OUT/laps/lap-KKKK``
written whole by :func:`diffem.atomic.atomic_directory` (a temporary sibling renamed into place),
so a killed run leaves either a complete lap or none. Its ``MANIFEST.json`` lists every file
with its size and SHA-256; a lap whose files are missing, truncated or altered fails
verification and is redone on ``--resume``, together with every later lap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from ..atomic import atomic_directory, atomic_write_json
from ..bundle import CONFIG_NAME

RUN_FILE = "run.json"
LAPS_DIR = "laps"
MANIFEST = "MANIFEST.json"
METRICS = "metrics.json"


def lap_name(lap: int) -> str:
    return f"lap-{lap:04d}"


class RunError(ValueError):
    """A run folder cannot be started or resumed as asked."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    entries = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": sha256(p)} for p in files}
    (folder / MANIFEST).write_text(json.dumps({"files": entries}, indent=2, sort_keys=True) + "\n")


WEIGHT_SUFFIXES = (".safetensors",)


def verify_folder(folder: Path) -> str | None:
    """``None`` if every file of the manifest is present and intact, else what is wrong."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return "no manifest"
    try:
        entries = json.loads(manifest.read_text())["files"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return "unreadable manifest"
    for name, entry in entries.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != entry["size"]:
            return f"{name} has {path.stat().st_size} bytes, expected {entry['size']}"
        if sha256(path) != entry["sha256"]:
            return f"{name} does not match its checksum"
    return None


@contextmanager
def writing_verified(target: Path) -> Iterator[Path]:
    """A staging folder that, on success, gets a manifest and replaces ``target`` whole."""
    with atomic_directory(target) as staging:
        yield staging
        write_manifest(staging)


class RunFolder:
    """The output folder of one training run."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def laps_dir(self) -> Path:
        return self.root / LAPS_DIR

    def lap_path(self, lap: int) -> Path:
        return self.laps_dir / lap_name(lap)

    def config(self) -> dict[str, Any] | None:
        path = self.root / RUN_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def start(self, config: dict[str, Any], resume: bool, compatible_keys: tuple[str, ...]) -> None:
        """Create the run, or check that ``--resume`` continues the same one."""
        existing = self.config()
        if existing is None:
            if self.laps_dir.exists() and any(self.laps_dir.iterdir()):
                raise RunError(f"{self.root} holds laps but no {RUN_FILE}; choose another --out")
            atomic_write_json(self.root / RUN_FILE, config)
            return
        if not resume:
            raise RunError(f"{self.root} already holds a run; pass --resume to continue it or choose another --out")
        changed = [k for k in compatible_keys if existing.get(k) != config.get(k)]
        if changed:
            details = ", ".join(f"{k}: {existing.get(k)!r} -> {config.get(k)!r}" for k in changed)
            raise RunError(f"--resume with different settings than the run in {self.root} ({details})")
        atomic_write_json(self.root / RUN_FILE, config)

    def lap_folders(self) -> list[tuple[int, Path]]:
        if not self.laps_dir.is_dir():
            return []
        found = []
        for path in self.laps_dir.iterdir():
            if path.is_dir() and path.name.startswith("lap-") and path.name[4:].isdigit():
                found.append((int(path.name[4:]), path))
        return sorted(found)

    def complete_laps(self, repair: bool = False) -> list[int]:
        """Laps 0, 1, ... that verify, in order; with ``repair``, remove the first bad one and all after it."""
        good: list[int] = []
        folders = self.lap_folders()
        if repair and self.laps_dir.is_dir():
            for leftover in self.laps_dir.glob(".lap-*.tmp-*"):
                shutil.rmtree(leftover, ignore_errors=True)  # staging folders of a killed run
        for position, (lap, path) in enumerate(folders):
            problem = None if lap == position else "a lap before it is missing"
            problem = problem or verify_folder(path)
            if problem is None:
                good.append(lap)
                continue
            if repair:
                for _, later in folders[position:]:
                    print(f"diffem: {later.name} is incomplete ({problem}); it will be redone")
                    shutil.rmtree(later, ignore_errors=True)
            break
        return good

    def writing_lap(self, lap: int) -> AbstractContextManager[Path]:
        """A staging folder for lap ``lap``; on success it gets a manifest and is renamed into place."""
        return writing_verified(self.lap_path(lap))

    def prune_weights(self, keep: int) -> None:
        """Delete the weights of all but the last ``keep`` complete laps (lap 0's Gaussian stays).

        A pruned lap's manifest is rewritten without its weight files and marked ``pruned``; it
        still counts as complete, since resuming needs only the last lap's weights.
        """
        laps = self.complete_laps()
        for lap in laps[1:-keep] if keep < len(laps) else []:
            path = self.lap_path(lap)
            manifest = json.loads((path / MANIFEST).read_text())
            if manifest.get("pruned"):
                continue
            for weights in list(path.rglob("*")):
                if weights.suffix in WEIGHT_SUFFIXES:
                    weights.unlink()
            entries = {k: v for k, v in manifest["files"].items() if not k.endswith(WEIGHT_SUFFIXES)}
            atomic_write_json(path / MANIFEST, {"files": entries, "pruned": True})

    def is_pruned(self, lap: int) -> bool:
        return bool(json.loads((self.lap_path(lap) / MANIFEST).read_text()).get("pruned"))

    def last_lap_with(self, part: str) -> int | None:
        """The last complete lap that holds the bundle folder ``part`` (``prior``, ``conditional``) with weights."""
        for lap in reversed(self.complete_laps()):
            if (self.lap_path(lap) / part / CONFIG_NAME).is_file() and not self.is_pruned(lap):
                return lap
        return None

    def lap_metrics(self, lap: int) -> dict[str, Any]:
        return json.loads((self.lap_path(lap) / METRICS).read_text())

    def history(self) -> list[dict[str, Any]]:
        return [self.lap_metrics(lap) for lap in self.complete_laps()]
