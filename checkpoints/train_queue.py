"""The training queue of the shipped priors (issue 19): one run at a time, to a deadline, never from lap 0.

Runs share nothing, so each runs alone on the GPU (five at once made each 4x slower). They run in
the order of :data:`QUEUE`, each to its target lap, until ``--deadline`` seconds have passed: no
run starts a lap that the last lap's duration says would end after it, and a lap cut short is
redone on the next resume (laps are atomic, ``diffem.em.laps``); a lap still running at the deadline is
stopped there, so that ``pack`` always runs in a session's time. A run whose folder is empty
starts from its shipped checkpoint (``train --start-from``), so a session that had no run folders
continues from the last shipped lap. The observation sets are made again from Fashion-MNIST with
their fixed seeds (identical on every machine); ``DIFFEM_FASHION_MNIST`` points at the IDX files.

    python checkpoints/train_queue.py run --runs runs/fashion --deadline 720 [--only em-mmps-mask]
    python checkpoints/train_queue.py pack --runs runs/fashion --out "$OUT"     # one .tar per run (< 16 MiB)
    python checkpoints/train_queue.py unpack --runs runs/fashion FILE.tar ...   # here, to --resume or ship

A pack holds ``run.json``, the last complete lap whole, and every earlier lap's ``metrics.json``
and pictures (their weights pruned, as ``--keep-weights 1`` leaves them): what resuming needs.
Each lap's line in the log gives its wall time (``lap_seconds``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffem.em.laps import RunFolder  # noqa: E402
from diffem.em.runner import recorded_lap_seconds  # noqa: E402

#: the E-step and M-step of every GPU run (EM-MMPS's own E-step: EM_MMPS_ESTEP below). E-step: analytic-ddpm at 64
#: steps, not DDPM at 32 (with MMPS k = 1 on an exact Gaussian posterior, 0.97 of the variance kept against DDPM's 0.91
#: at 64 steps and 0.78 at 32, for the same calls; on Fashion under the clean-data prior, wider 50 / 90 % intervals at
#: the same PSNR and FD; Heun over-disperses: the estep-variance and estep-fashion sections of BENCHMARKS.md)
COMMON = ("--steps-per-lap", "2000", "--batch-size", "256", "--lr", "5e-4", "--lr-final", "5e-5",
          "--sampler", "analytic-ddpm", "--sampler-steps", "64", "--estep-batch", "8192", "--preset", "small",
          "--eval-count", "256", "--eval-samples", "1000", "--feature-net", "checkpoints/fashion-features", "--quiet",
          "--resume", "--keep-weights", "1")
#: EM-MMPS's E-step at the same cost (130 network calls + VJPs a draw): MMPS k = 2 at 42 steps, not k = 1 at 64. On an
#: exact Gaussian posterior the draws' marginal W2 falls from 0.060 to 0.020 (k = 1 leaves the mean far off; variance
#: kept 0.88 against 0.97); under the clean-data and the shipped EM-MMPS priors CRPS falls by 7 % and 4.5 % at
#: calibrated 50 % coverage (BENCHMARKS.md, the reading after estep-fashion-em-mmps). Their laps' own evaluation runs
#: with these settings too, so compare priors with benchmarks/fashion_eval.py, not with the per-lap figures.
EM_MMPS_ESTEP = ("--iterations", "2", "--sampler-steps", "42")
#: a lap is not started unless this many times the last lap's recorded E-step + M-step time is left
MARGIN = 1.3


@dataclass(frozen=True)
class Entry:
    name: str
    laps: int
    observations: str  # the observation set's name under RUNS (obs-NAME)
    start_from: str | None  # the shipped checkpoint this run continues
    arguments: tuple[str, ...]

    @property
    def method(self) -> str:
        return self.arguments[self.arguments.index("--method") + 1]


OBSERVATION_SETS = {"mask": "mask:0.75", "blur": "blur:2", "mask25": "mask:0.25", "mask50": "mask:0.5",
                    "mask90": "mask:0.9"}
QUEUE = (
    Entry("em-mmps-mask", 16, "mask", "checkpoints/em-mmps-fashion-mask75",
          ("--method", "em-mmps", "--hflip", *EM_MMPS_ESTEP)),
    Entry("diffem-mask", 8, "mask", "checkpoints/diffem-fashion-mask75",
          ("--method", "diffem", "--train-corruption", "mask-family")),
    Entry("diffem-mask-prior", 8, "mask", "checkpoints/diffem-fashion-mask75-prior",
          ("--method", "diffem-prior", "--conditional", "checkpoints/diffem-fashion-mask75", "--hflip")),
    Entry("diffem-blur", 8, "blur", "checkpoints/diffem-fashion-blur2", ("--method", "diffem")),
    Entry("reference", 16, "mask", "checkpoints/reference-fashion-clean", ("--method", "reference", "--hflip")),
    # the two ends every figure is read against: the observations as they are (no E-step, cheap laps)
    Entry("naive-mask", 4, "mask", None, ("--method", "naive", "--hflip")),
    # the papers' corruption ladder (EM-MMPS's Table 1: FID 5.88 / 6.76 / 13.18 at 25 / 50 / 75 % on CIFAR-10)
    Entry("em-mmps-mask50", 16, "mask50", None, ("--method", "em-mmps", "--hflip", *EM_MMPS_ESTEP)),
    Entry("em-mmps-mask25", 16, "mask25", None, ("--method", "em-mmps", "--hflip", *EM_MMPS_ESTEP)),
    # lap 0's Gaussian EM converges at the masked fraction's rate: 16 iterations settle 25 % and 50 % masks (the
    # two runs above), not 90 % (the gaussian-em section of BENCHMARKS.md)
    Entry("em-mmps-mask90", 16, "mask90", None,
          ("--method", "em-mmps", "--hflip", *EM_MMPS_ESTEP, "--gaussian-iterations", "96")),
)


#: the EM methods whose runs end in an unconditional prior (judged by its FD); the others learn conditional models
PRIOR_METHODS = ("em-mmps", "diffem-prior", "reference", "naive")


def prior_runs() -> tuple[tuple[str, str], ...]:
    """``(run, observation set)`` of every run that learns a prior, in queue order (what fashion_eval judges)."""
    return tuple((entry.name, entry.observations) for entry in QUEUE if entry.method in PRIOR_METHODS)


def mask_ratio(observations: str) -> float | None:
    """The missing fraction of a random-mask observation set (``mask:0.25`` -> 0.25), else None."""
    kind, _, value = OBSERVATION_SETS[observations].partition(":")
    return float(value) if kind == "mask" and value else None


def ladder_runs() -> tuple[tuple[float, str], ...]:
    """``(mask ratio, run)`` of the EM-MMPS runs on random masks, by ratio: the papers' corruption ladder."""
    return tuple(sorted((mask_ratio(e.observations), e.name) for e in QUEUE
                        if e.method == "em-mmps" and mask_ratio(e.observations) is not None))


def python() -> str:
    return os.environ.get("PYTHON", str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else
                          sys.executable)


def make_observations(runs: Path, name: str, limit: int) -> Path:
    folder = runs / f"obs-{name}"
    if not (folder / "observations.json").is_file():
        subprocess.run([python(), "-m", "diffem", "make-observations", "--data", "fashion-mnist", "--corruption",
                        OBSERVATION_SETS[name], "--sigma-y", "0.01", "--seed", "0", "--limit", str(limit),
                        "--out", str(folder)], check=True, cwd=ROOT)
    return folder


def done_laps(run: Path) -> list[int]:
    return RunFolder(run).complete_laps() if (run / "laps").is_dir() else []


def lap_estimate(run: Path) -> float:
    laps = done_laps(run)
    return MARGIN * recorded_lap_seconds(RunFolder(run).lap_metrics(laps[-1])) if laps else 0.0


def run_queue(runs: Path, deadline: float, only: list[str] | None, limit: int, extra: list[str],
              until_lap: int | None = None) -> None:
    started = time.monotonic()
    for entry in QUEUE:
        if only and entry.name not in only:
            continue
        run = runs / entry.name
        laps = done_laps(run)
        target = entry.laps if until_lap is None else min(entry.laps, until_lap)
        if laps and laps[-1] >= target:
            print(f"{entry.name}: done ({laps[-1]} laps of {target})", flush=True)
            continue
        left, estimate = deadline - (time.monotonic() - started), lap_estimate(run)
        if left < estimate or left <= 0:
            needs = f"a lap takes about {estimate:.0f} s" if estimate else "no time is left"
            print(f"{entry.name}: not started, {left:.0f} s left and {needs}", flush=True)
            break
        observations = make_observations(runs, entry.observations, limit)
        command = [python(), "-m", "diffem", "train", "--out", str(run), "--observations", str(observations),
                   "--laps", str(target), "--time-limit", f"{left:.0f}", *COMMON, *entry.arguments, *extra]
        if entry.start_from is not None:
            command += ["--start-from", str(ROOT / entry.start_from)]
        print(f"{entry.name}: {' '.join(command[1:])}", flush=True)
        try:  # a first lap has no recorded time to judge it by: the deadline stops it, so that packing still runs
            result = subprocess.run(command, cwd=ROOT, timeout=max(left, 1.0))
        except subprocess.TimeoutExpired:
            print(f"{entry.name}: stopped at the deadline, complete laps {done_laps(run)[-1:]}", flush=True)
            break
        print(f"{entry.name}: exit {result.returncode}, complete laps {done_laps(run)[-1:]}", flush=True)


def pack(runs: Path, out: Path) -> list[Path]:
    """One ``NAME.tar`` per run folder: ``run.json``, the last lap whole, earlier laps without weights."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in QUEUE:
        run = runs / entry.name
        if not done_laps(run):
            continue
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / entry.name
            shutil.copytree(run, copy, ignore=shutil.ignore_patterns("estep", "final", ".*"))
            RunFolder(copy).prune_weights(keep=1)
            target = out / f"{entry.name}.tar"
            with tarfile.open(target, "w") as archive:
                archive.add(copy, arcname=entry.name)
        written.append(target)
        print(f"packed {target} ({target.stat().st_size / 2**20:.1f} MiB)")
    return written


def unpack(runs: Path, archives: list[Path]) -> None:
    """Each pack into ``runs/NAME`` (replacing an older copy of that run), extracted safely."""
    runs.mkdir(parents=True, exist_ok=True)
    for archive_path in archives:
        with tarfile.open(archive_path) as archive:
            names = {member.name.split("/")[0] for member in archive.getmembers()}
            if len(names) != 1:
                raise SystemExit(f"{archive_path}: a pack holds one run folder, found {sorted(names)}")
            staging = Path(tempfile.mkdtemp(dir=runs, prefix=".unpack-"))
            archive.extractall(staging, filter="data")
        name = names.pop()
        target = runs / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / name, target)
        staging.rmdir()
        print(f"unpacked {archive_path} into {target}: complete laps {done_laps(target)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train the queue, one run at a time, until the deadline")
    run.add_argument("--runs", type=Path, default=ROOT / "runs" / "fashion")
    run.add_argument("--deadline", type=float, required=True, help="seconds from now")
    run.add_argument("--only", nargs="+", choices=[entry.name for entry in QUEUE])
    run.add_argument("--observations", type=int, default=30000, help="training observations of each set")
    run.add_argument("--until-lap", type=int, help="stop every run at this lap (before its target)")
    run.add_argument("--train-argument", action="append", default=[], help="one more train flag (repeatable)")
    packer = commands.add_parser("pack", help="one .tar per run folder, what resuming needs")
    packer.add_argument("--runs", type=Path, default=ROOT / "runs" / "fashion")
    packer.add_argument("--out", type=Path, required=True)
    unpacker = commands.add_parser("unpack", help="packs back into run folders")
    unpacker.add_argument("--runs", type=Path, default=ROOT / "runs" / "fashion")
    unpacker.add_argument("archives", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "run":
        run_queue(args.runs, args.deadline, args.only, args.observations, args.train_argument, args.until_lap)
    elif args.command == "pack":
        pack(args.runs, args.out)
    else:
        unpack(args.runs, args.archives)


if __name__ == "__main__":
    main()
