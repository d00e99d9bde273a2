r"""One background training job at a time, as a separate process running the CLI.

A job trains on a built-in clean source corrupted on the fly (``data`` + ``corruption``) or on an
imported observation set (``observations``: a folder under the job root, ``<root>/imported/<run>``
as the app's upload writes it, so that no request can point training at another folder of the
server's disk).

The app's admin tab starts ``python -m diffem train ... --resume`` in its own process session
(so a page reload or a restart of the web server does not kill it), records it in
``<root>/job.json``, and reads its progress from the run folder (complete laps and their
metrics) and its log. Stopping sends SIGTERM to the process group; since laps are atomic,
starting the same job again resumes from the last complete lap.

The job gets half of the machine's cores for its torch threads (``OMP_NUM_THREADS``, unless the
server's environment sets it): on a 2-core Space a job and the page's restorations, each with
torch's default of all cores, oversubscribed them and ran 10x slower (3 min 40 s against 17 s
for the same tiny run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json
from .backbones.unet import UNET_PRESETS
from .data.sources import SOURCES, offered_sources
from .em.config import filled_method_options
from .em.laps import RunFolder
from .em.methods import EM_METHODS
from .em.methods.base import method_options
from .imports import ImportSettings, import_observations
from .imports.upload import opened_upload
from .operators import parse_corruption
from .options import flag_name

JOB_FILE = "job.json"
LOG_FILE = "train.log"
#: environment variables a training process does not need and must not see
SECRETS = ("DIFFEM_ADMIN_PASSWORD", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: the clean data sources a job may train on (those that read no file the visitor names)
DATA_SOURCES = offered_sources()
#: what a job trains from corrupted data alone (diffem-prior needs a trained conditional model, reference and naive
#: are baselines for benchmarks, not for visitors)
JOB_METHODS = ("em-mmps", "diffem")
#: the folder under the job root that holds imported observation sets, one per run name (not a run name itself)
IMPORTED = "imported"
PROGRESS_SECONDS = 3
LOG_TAIL_BYTES = 64_000


#: inclusive bounds of a request's numbers
LIMITS = {"laps": (1, 200), "steps_per_lap": (1, 200_000), "batch_size": (1, 4096), "sampler_steps": (1, 1000),
          "observations_limit": (16, 60_000), "gaussian_iterations": (1, 64), "eval_count": (0, 1024),
          "eval_samples": (0, 4096)}


@dataclass
class JobRequest:
    """What to train: ``data`` + ``corruption`` (a built-in source) or ``observations`` (an imported set)."""

    name: str
    method: str
    data: str | None = "fashion-mnist"
    corruption: str | None = "mask:0.75"
    sigma_y: float = 0.01
    laps: int = 4
    steps_per_lap: int = 500
    batch_size: int = 256
    sampler_steps: int = 32
    observations_limit: int = 4096
    observations: str | None = None
    preset: str = "small"
    #: 32, not the papers' 16, for the default 75 % masks (BENCHMARKS.md gaussian-em: 16 leave lap 0's draws 0.6 dB
    #: short at 75 %; they settle 50 %). On 4,096 observations and 2 CPU cores the fit takes 84 s against 18 s:
    #: the later iterations are slower (4.1 s against 1.1 s each; their CG solves stop at a tolerance)
    gaussian_iterations: int = 32
    eval_count: int = 64
    eval_samples: int = 256
    #: the method's own options given (DiffEM's ``train_corruption``...), as ``train``'s flags take them
    method_options: dict[str, Any] = field(default_factory=dict)
    #: the data source's own options (the toy manifold's points...), as ``make-observations``'s flags take them
    data_options: dict[str, Any] = field(default_factory=dict)

    def validate(self, root: Path | None = None) -> None:
        """Raise ``ValueError`` naming the first bad field; ``observations`` must lie under ``root``."""
        if not NAME_PATTERN.match(self.name):
            raise ValueError("a run name uses letters, digits, '-' and '_' only (at most 64)")
        if self.name == IMPORTED:
            raise ValueError(f"the run name {IMPORTED!r} is reserved for imported data; choose another")
        if self.method not in JOB_METHODS:
            raise ValueError(f"method must be em-mmps or diffem, got {self.method!r}")
        if self.observations is None:
            self.validate_source()
        else:
            self.validate_observations(root)
        if self.preset not in UNET_PRESETS:
            raise ValueError(f"the UNet preset must be one of {', '.join(UNET_PRESETS)}, got {self.preset!r}")
        for key, (low, high) in LIMITS.items():
            value = getattr(self, key)
            if not low <= value <= high:
                raise ValueError(f"{key.replace('_', ' ')} must be between {low} and {high}, got {value}")
        method_options(EM_METHODS[self.method], filled_method_options(self.method, self.method_options))

    def validate_source(self) -> None:
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data must be one of {', '.join(DATA_SOURCES)}, got {self.data!r}")
        SOURCES[self.data](self.data_options)  # refuses an option the source does not have, or out of bounds
        if not self.corruption:
            raise ValueError("a corruption (e.g. mask:0.75) is needed to train on " + str(self.data))
        parse_corruption(self.corruption, self.sigma_y)

    def validate_observations(self, root: Path | None) -> None:
        if self.data is not None or self.corruption is not None or self.data_options:
            raise ValueError("train on data + corruption or on an imported observation set, not both")
        if root is None:
            raise ValueError("an imported observation set needs the job root it must lie under")
        folder = Path(str(self.observations)).resolve()
        if not folder.is_relative_to(Path(root).resolve()):
            raise ValueError("the observation set must be one imported into this server's runs folder")
        if not (folder / "observations.json").is_file():
            raise ValueError(f"no imported observation set named {folder.name!r}; import it first")

    def source_arguments(self) -> list[str]:
        if self.observations is not None:
            return ["--observations", str(Path(self.observations).resolve())]
        return ["--data", str(self.data), "--corruption", str(self.corruption), "--sigma-y", str(self.sigma_y),
                *flags(self.data_options)]

    def command(self, root: Path) -> list[str]:
        run = root / self.name
        return [sys.executable, "-m", "diffem", "train", "--method", self.method, *self.source_arguments(),
                "--out", str(run), "--laps", str(self.laps), "--steps-per-lap", str(self.steps_per_lap),
                "--batch-size", str(self.batch_size), "--sampler-steps", str(self.sampler_steps),
                "--observations-limit", str(self.observations_limit), "--preset", self.preset,
                "--gaussian-iterations", str(self.gaussian_iterations), "--eval-count", str(self.eval_count),
                "--eval-samples", str(self.eval_samples), *self.option_arguments(), "--resume"]

    def option_arguments(self) -> list[str]:
        return flags(self.method_options)


def flags(options: dict[str, Any]) -> list[str]:
    """Options as the command line's unprefixed flags (``--train-corruption mask-family``); unset ones left out."""
    return [text for name, value in options.items() if value is not None for text in (flag_name("", name), str(value))]


def job_threads() -> int:
    """The torch threads a training job may use: half the cores, so the page keeps the other half."""
    return max(1, (os.cpu_count() or 2) // 2)


def log_tail(path: Path, lines: int = 8) -> list[str]:
    """The last ``lines`` lines of a log as a terminal shows them: a progress bar's carriage-return
    updates overwrite their line, so only its latest state is kept."""
    text = path.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace")
    shown = []
    for line in text.split("\n"):
        states = [state.rstrip() for state in line.split("\r") if state.strip()]
        if states:
            shown.append(states[-1])
    return shown[-lines:]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a finished child that nobody waited for is a zombie: not running
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return status != "Z"
    except OSError:
        return True


class JobManager:
    """Start, stop and watch the single training job under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def imported_folder(self, name: str) -> Path:
        """Where the observation set imported for run ``name`` goes (a checked run name: no path)."""
        if not NAME_PATTERN.match(name) or name == IMPORTED:
            raise ValueError("a run name uses letters, digits, '-' and '_' only (at most 64), and is not 'imported'")
        return self.root / IMPORTED / name

    def record(self) -> dict[str, Any] | None:
        path = self.root / JOB_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def running(self) -> bool:
        record = self.record()
        return bool(record and record.get("state") == "running" and process_alive(int(record["pid"])))

    def start(self, request: JobRequest) -> dict[str, Any]:
        request.validate(self.root)
        if self.running():
            raise ValueError("a training job is already running; stop it first")
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / f"{request.name}.log", "ab")
        # progress bars (E-step, M-step) every few seconds, so the log tells how far a lap has got
        env = {"OMP_NUM_THREADS": str(job_threads())} | {k: v for k, v in os.environ.items() if k not in SECRETS} | {
            "PYTHONUNBUFFERED": "1", "TQDM_MININTERVAL": str(PROGRESS_SECONDS)}
        process = subprocess.Popen(request.command(self.root), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=env, cwd=Path(__file__).resolve().parents[1])
        log.close()
        record = {"pid": process.pid, "state": "running", "started": time.time(), "request": asdict(request)}
        atomic_write_json(self.root / JOB_FILE, record)
        return record

    def import_and_start(self, upload: str | os.PathLike[str], settings: ImportSettings,
                         request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Import an uploaded ``.zip``/``.npz`` into ``imported/<name>`` (as ``import-observations`` does) and start
        the job ``request`` describes on it: the import's summary and the job's record. If the job cannot start,
        the imported set is removed again, so the run name stays free."""
        name = str(request["name"])
        if self.running():
            raise ValueError("A training job is already running; stop it first")
        folder = self.imported_folder(name)
        if folder.exists() or (self.root / name).exists():
            raise ValueError(f"A run named {name!r} exists already: choose a new run name (to continue it, choose "
                             f"Data '{IMPORTED}' and press Start / resume)")
        with opened_upload(upload) as importer:
            summary = import_observations(importer, settings, folder)
        try:
            record = self.start(JobRequest(**request, data=None, corruption=None, observations=str(folder)))
        except ValueError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return summary, record

    def stop(self) -> bool:
        record = self.record()
        if not record or not self.running():
            return False
        try:
            os.killpg(int(record["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            pass
        record["state"] = "stopped"
        atomic_write_json(self.root / JOB_FILE, record)
        return True

    def status(self) -> dict[str, Any]:
        record = self.record()
        if record is None:
            return {"state": "none"}
        name = record["request"]["name"]
        run = RunFolder(self.root / name)
        state = record["state"]
        if state == "running" and not self.running():
            state = "finished"
        log = self.root / f"{name}.log"
        tail = log_tail(log) if log.is_file() else []
        laps = run.complete_laps() if run.laps_dir.is_dir() else []
        return {"state": state, "name": name, "request": record["request"], "laps": laps,
                "history": [run.lap_metrics(lap) for lap in laps], "log": tail, "run": str(run.root)}

    def lap_priors(self) -> dict[str, Path]:
        """``{"run/lap-K": folder}`` for every complete lap with an unconditional or conditional model."""
        found: dict[str, Path] = {}
        if not self.root.is_dir():
            return found
        for run_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            run = RunFolder(run_dir)
            for lap in run.complete_laps():
                for part in ("prior", "conditional"):
                    folder = run.lap_path(lap) / part
                    if (folder / "diffem.json").is_file() and any(folder.rglob("*.safetensors")):
                        found[f"{run_dir.name}/lap-{lap}"] = folder
        return found
