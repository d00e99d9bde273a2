"""Training faults: SIGKILL in the E-step, in the M-step and while a lap is written; a full disk.

Each time the complete laps before the fault stay complete and unchanged, and ``--resume``
continues from the last of them to the end.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diffem import cli
from diffem.bundle import PriorBundle
from diffem.em import RunFolder
from diffem.em.laps import sha256, verify_folder
from test_em_runs import observations  # noqa: F401  (the tiny toy observation set fixture)

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("fault_driver.py")


def train_args(observations: Path, out: Path, laps: int = 2) -> list[str]:
    return ["train", "--method", "em-mmps", "--observations", str(observations), "--out", str(out),
            "--laps", str(laps), "--steps-per-lap", "60", "--batch-size", "64", "--lr", "1e-3", "--sampler-steps", "8",
            "--estep-batch", "512", "--gaussian-iterations", "3", "--hidden-features", "32", "--hidden-layers", "2",
            "--eval-count", "0", "--eval-samples", "0", "--device", "cpu", "--quiet"]


def lap_checksums(run: RunFolder, laps: list[int]) -> dict[int, dict[str, str]]:
    return {lap: {str(p.relative_to(run.lap_path(lap))): sha256(p) for p in run.lap_path(lap).rglob("*") if p.is_file()}
            for lap in laps}


@pytest.mark.parametrize("phase", ["estep", "mstep", "write"])
def test_a_run_killed_in_any_phase_resumes_without_losing_a_lap(phase: str, observations: Path,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    killed = subprocess.run([sys.executable, str(DRIVER), phase, "2", "--", *train_args(observations, out)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run = RunFolder(out)
    assert run.complete_laps() == [0, 1]
    if phase == "write":
        assert list((out / "laps").glob(".lap-0002.tmp-*")), "the kill should leave a half-written staging folder"
    before = lap_checksums(run, [0, 1])

    assert cli.main([*train_args(observations, out), "--resume"]) == 0
    assert run.complete_laps() == [0, 1, 2]
    assert lap_checksums(run, [0, 1]) == before
    assert all(verify_folder(path) is None for _, path in run.lap_folders())
    assert not list((out / "laps").glob(".lap-*"))


def test_a_full_disk_stops_training_with_one_line_and_resume_continues(observations: Path,  # noqa: F811
                                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    save = PriorBundle.save_pretrained
    saved = []

    def save_until_the_disk_is_full(self: PriorBundle, folder: str | os.PathLike[str]) -> None:
        saved.append(folder)
        if len(saved) == 3:  # lap 0's Gaussian and lap 1's prior fit; lap 2's does not
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / "partial.safetensors").write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
        save(self, folder)

    monkeypatch.setattr(PriorBundle, "save_pretrained", save_until_the_disk_is_full)
    assert cli.main(train_args(observations, out)) == cli.EXIT_ENVIRONMENT
    message = capsys.readouterr().err.strip().splitlines()
    assert message[-1] == "diffem: error: cannot write or read a file: [Errno 28] No space left on device"
    run = RunFolder(out)
    assert run.complete_laps() == [0, 1]
    assert not list((out / "laps").glob(".lap-*")), "a failed lap leaves no staging folder behind"
    before = lap_checksums(run, [0, 1])

    monkeypatch.setattr(PriorBundle, "save_pretrained", save)
    assert cli.main([*train_args(observations, out), "--resume"]) == 0
    assert run.complete_laps() == [0, 1, 2]
    assert lap_checksums(run, [0, 1]) == before
