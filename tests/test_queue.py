"""The GPU training queue, on the CPU: a run starts from its shipped checkpoint (never lap 0), stops at
its deadline, packs into one tar, and continues from the pack in another folder (another session)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--train-argument=--steps-per-lap", "--train-argument=2", "--train-argument=--batch-size",
        "--train-argument=8", "--train-argument=--sampler-steps", "--train-argument=2",
        "--train-argument=--estep-batch", "--train-argument=16", "--train-argument=--eval-count",
        "--train-argument=2", "--train-argument=--eval-samples", "--train-argument=0",
        "--train-argument=--device", "--train-argument=cpu"]


def queue(*args: str) -> subprocess.CompletedProcess[str]:
    """``train_queue.py`` as a command, the way a GPU session runs it."""
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(ROOT / "checkpoints" / "train_queue.py"), *args], capture_output=True,
                            text=True, env=env, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def inline(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """``train_queue.py`` in this process (its trainings still run as commands): what it printed.

    The queue's own start-up (torch) then costs nothing more; the first run of each test goes through
    :func:`queue`, the command."""
    sys.path.insert(0, str(ROOT / "checkpoints"))
    import train_queue

    monkeypatch.setenv("PYTHON", sys.executable)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def run(*args: str) -> str:
        capsys.readouterr()
        train_queue.main(list(args))
        return capsys.readouterr().out

    return run


def test_a_run_continues_from_its_checkpoint_and_from_its_pack(tmp_path: Path, inline: Callable[..., str]) -> None:
    first, second = tmp_path / "session-1", tmp_path / "session-2"
    shipped_lap = json.loads((ROOT / "checkpoints" / "em-mmps-fashion-mask75" / "diffem.json").read_text())["info"]["lap"]
    out = queue("run", "--runs", str(first), "--deadline", "600", "--only", "em-mmps-mask", "--observations", "32",
                "--until-lap", str(shipped_lap + 1), *TINY).stdout
    run = first / "em-mmps-mask"
    laps = sorted(p.name for p in (run / "laps").iterdir())
    assert laps == [f"lap-{lap:04d}" for lap in range(shipped_lap + 2)], out  # from the shipped lap, one more
    shipped = {entry["lap"]: entry for entry in
               json.loads((ROOT / "checkpoints" / "em-mmps-fashion-mask75" / "history.json").read_text())}
    for lap in range(shipped_lap + 1):  # the laps trained before keep their shipped figures (the model card's table)
        seeded = json.loads((run / "laps" / f"lap-{lap:04d}" / "metrics.json").read_text())
        assert seeded["seeded_from"] and seeded.get("frechet_features") == shipped[lap]["frechet_features"], seeded

    inline("pack", "--runs", str(first), "--out", str(tmp_path / "packs"))
    pack = tmp_path / "packs" / "em-mmps-mask.tar"
    assert pack.stat().st_size < 16 * 2**20
    with tarfile.open(pack) as archive:
        weights = [m.name for m in archive.getmembers() if m.name.endswith(".safetensors")]
    assert weights and all(f"lap-{shipped_lap + 1:04d}" in name for name in weights)  # the last lap's weights only

    judged = evaluate(first, tmp_path / "fashion-eval.json")  # what the GPU session measures next, on its folder
    assert judged["em-mmps-mask"]["lap"] == shipped_lap + 1 and judged["em-mmps-mask"]["prior"]["frechet_features"] > 0
    assert Path(judged["reference"]["path"]) == ROOT / "checkpoints" / "reference-fashion-clean"  # the shipped yardstick
    tuning = judged["em-mmps-mask"]["dps"]["tuning"]  # DPS at the zeta tuned for this lap, on validation images
    assert tuning["validation"]["split"] == "train[-2:]" and repr(tuning["options"]["zeta"]) in tuning["grid"]

    inline("unpack", "--runs", str(second), str(pack))
    inline("run", "--runs", str(second), "--deadline", "600", "--only", "em-mmps-mask", "--observations", "32",
           "--until-lap", str(shipped_lap + 2), *TINY)
    continued = sorted(p.name for p in (second / "em-mmps-mask" / "laps").iterdir())
    assert continued == [f"lap-{lap:04d}" for lap in range(shipped_lap + 3)]  # lap K+2 follows the pack's K+1
    last = json.loads((second / "em-mmps-mask" / "laps" / continued[-1] / "metrics.json").read_text())
    lap_seconds = last["estep_seconds"] + last["mstep_seconds"]
    late = inline("run", "--runs", str(second), "--deadline", f"{lap_seconds / 2:.6f}", "--only", "em-mmps-mask",
                  "--observations", "32", *TINY)
    assert "not started" in late and "a lap takes about" in late, late  # a lap that cannot finish is not begun
    assert sorted(p.name for p in (second / "em-mmps-mask" / "laps").iterdir()) == continued
    before, after = (json.loads((folder / "run.json").read_text()) for folder in (run, second / "em-mmps-mask"))
    moved = {"laps", "out", "observations"}  # the target lap, and the folders of another session
    assert {k: v for k, v in after.items() if k not in moved} == {k: v for k, v in before.items() if k not in moved}
    assert before["observations_digest"] == after["observations_digest"]  # the same set, made again


def evaluate(runs: Path, out: Path) -> dict[str, object]:
    """``benchmarks/fashion_eval.py`` on a queue's folder, as tools/gpu_session.sh runs it but tiny: its models."""
    tiny = ["--prior-samples", "16", "--count", "2", "--samples", "2", "--steps", "2", "--tune-count", "2"]
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fashion_eval.py"), "--runs", str(runs),
                             "--out", str(out), *tiny], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())["models"]


def test_the_carried_training_file_holds_the_queue_s_rows_and_the_validation_rows(tmp_path: Path) -> None:
    """tools/first_idx_rows.py: the first N rows (the queue's observations) and the last M (DPS's validation)."""
    from diffem.data.fashion_mnist import fashion_mnist_dir, read_idx

    name = "train-labels-idx1-ubyte.gz"
    subprocess.run([sys.executable, str(ROOT / "tools" / "first_idx_rows.py"), str(fashion_mnist_dir()), str(tmp_path),
                    "--rows", "300", "--last", "64", name], check=True, timeout=120)
    whole, carried = read_idx(fashion_mnist_dir() / name), read_idx(tmp_path / name)
    assert carried.shape == (364,) and (carried[:300] == whole[:300]).all() and (carried[-64:] == whole[-64:]).all()


def test_a_lap_still_running_at_the_deadline_is_stopped_and_the_queue_ends_cleanly(tmp_path: Path,
                                                                                   inline: Callable[..., str]) -> None:
    """A run's first lap has no recorded time, so only the deadline can stop it (a device call must still pack)."""
    from diffem.data.observations import make_observation_set, save_observation_set
    from diffem.data.sources import load_clean_data
    from diffem.operators import parse_corruption

    clean = load_clean_data("fashion-mnist").train[:32]  # the set made here, not by the queue's slower subprocess
    save_observation_set(tmp_path / "obs-mask", make_observation_set(clean, parse_corruption("mask:0.75", 0.01), seed=0),
                         None)
    out = inline("run", "--runs", str(tmp_path), "--deadline", "1", "--only", "reference", "--observations", "32",
                 *TINY)
    assert "reference: stopped at the deadline" in out, out


def test_a_run_killed_while_being_seeded_is_seeded_again(tmp_path: Path) -> None:
    from diffem.data.observations import make_observation_set, save_observation_set
    from diffem.data.sources import load_clean_data
    from diffem.em import EMConfig, RunFolder
    from diffem.em.runner import open_run
    from diffem.operators import parse_corruption

    clean = load_clean_data("fashion-mnist").train[:16]
    save_observation_set(tmp_path / "obs", make_observation_set(clean, parse_corruption("mask:0.75", 0.01), seed=0), None)
    config = EMConfig("em-mmps", str(tmp_path / "obs"), str(tmp_path / "run"), laps=4)
    shipped = str(ROOT / "checkpoints" / "em-mmps-fashion-mask75")
    folder = RunFolder(tmp_path / "run")
    laps = open_run(folder, config, resume=True, start_from=shipped)
    shutil.rmtree(folder.lap_path(laps[-1]))  # killed before the shipped model itself was copied in
    assert open_run(folder, config, resume=True, start_from=shipped) == laps
    assert not folder.is_pruned(laps[-1])
