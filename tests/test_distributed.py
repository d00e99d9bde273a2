"""EM on 2 CPU processes (``accelerate launch``, gloo) against EM on one; E-step chunks on disk."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from diffem.data import make_manifold
from diffem.data.observations import load_observation_set
from diffem.em import RunFolder
from diffem.em.estep import PosteriorFactory, sharded_posterior_samples
from diffem.em.mstep import TrainSettings, train_denoiser
from diffem.em.networks import new_denoiser, schedule_for
from diffem.em.processes import Processes, launch_prefix
from diffem.em.shards import ShardError, chunk_path, gather_chunks, write_chunk
from diffem.operators import LinearOperator
from diffem.samplers import make_sampler
from diffem.schedule import VESchedule
from test_em_runs import observations  # noqa: F401  (the tiny toy observation set fixture)

ROOT = Path(__file__).resolve().parents[1]
PART = {"em-mmps": "prior", "diffem": "conditional"}
TINY = ["--laps", "2", "--steps-per-lap", "30", "--batch-size", "64", "--lr", "1e-3", "--sampler-steps", "8",
        "--estep-batch", "128", "--gaussian-iterations", "3", "--hidden-features", "32", "--hidden-layers", "2",
        "--eval-count", "32", "--eval-samples", "64", "--device", "cpu", "--quiet"]



def train(method: str, observations: Path, out: Path, processes: int, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [*launch_prefix(processes), "train", "--method", method, "--observations", str(observations),
               "--out", str(out), *TINY, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def lap_weights(out: Path, method: str, lap: int = 2) -> dict[str, torch.Tensor]:
    (file,) = (out / "laps" / f"lap-{lap:04d}" / PART[method]).rglob("*.safetensors")
    return load_file(str(file))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-3, msg=key)


@pytest.fixture(scope="module", params=["em-mmps", "diffem"])
def run_pair(request: pytest.FixtureRequest, observations: Path,  # noqa: F811
             tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """The same tiny 2-lap run on one process and on two."""
    method = request.param
    base = tmp_path_factory.mktemp(f"pair-{method}")
    for processes, name in ((1, "one"), (2, "two")):
        result = train(method, observations, base / name, processes)
        assert result.returncode == 0, result.stderr[-3000:]
    return method, base / "one", base / "two"


def test_two_processes_train_what_one_process_trains(run_pair: tuple[str, Path, Path]) -> None:
    method, one, two = run_pair
    assert RunFolder(two).complete_laps() == [0, 1, 2]
    assert [RunFolder(run).lap_metrics(2)["processes"] for run in (one, two)] == [1, 2]
    assert_same_weights(lap_weights(one, method), lap_weights(two, method), atol=1e-5)
    losses_one = RunFolder(one).lap_metrics(2)["losses"]
    losses_two = RunFolder(two).lap_metrics(2)["losses"]
    assert losses_two == pytest.approx(losses_one, rel=1e-3)
    assert not any((two / "estep").glob("lap-*")), "the E-step chunks of a complete lap are removed"


@pytest.mark.parametrize("run_pair", ["diffem"], indirect=True)
def test_a_distributed_run_resumes_from_its_last_complete_lap(run_pair: tuple[str, Path, Path], tmp_path: Path,
                                                              observations: Path) -> None:  # noqa: F811
    method, _, two = run_pair
    copy = tmp_path / "run"
    shutil.copytree(two, copy)
    shutil.rmtree(copy / "laps" / "lap-0002")
    result = train(method, observations, copy, 2, "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert RunFolder(copy).complete_laps() == [0, 1, 2]
    assert_same_weights(lap_weights(two, method), lap_weights(copy, method), atol=1e-6)


def test_a_global_batch_the_processes_cannot_share_is_refused(observations: Path, tmp_path: Path) -> None:  # noqa: F811
    result = train("em-mmps", observations, tmp_path / "run", 2, "--batch-size", "63")
    assert result.returncode != 0
    assert "diffem: error: the batch size 63 is not divisible by the 2 processes" in result.stderr


class Rank(Processes):
    """Process ``rank`` of ``count`` as seen by the E-step (no process group: barriers are no-ops)."""

    def __init__(self, rank: int, count: int) -> None:
        super().__init__(torch.device("cpu"))
        self.rank, self.count = rank, count

    def barrier(self) -> None:
        pass


def gaussian_posterior() -> PosteriorFactory:
    from diffem.denoisers import GaussianDenoiser
    from diffem.guidance import MMPSDenoiser

    prior = GaussianDenoiser(torch.zeros(5), torch.eye(5))

    def build(operator: LinearOperator, y: torch.Tensor) -> MMPSDenoiser:
        return MMPSDenoiser(prior, operator, y, iterations=2)

    return build


def draw(observations: Path, folder: Path, processes: Processes) -> torch.Tensor:
    data = load_observation_set(observations, "train")
    sampler = make_sampler("ddpm", VESchedule(1e-3, 10.0), 4)
    return sharded_posterior_samples(gaussian_posterior(), data, sampler, 100, seed=7, folder=folder,
                                     processes=processes, progress=False)


def test_estep_shards_have_no_gaps_or_duplicates(observations: Path, tmp_path: Path) -> None:  # noqa: F811
    single = draw(observations, tmp_path / "single", Rank(0, 1))
    shared = tmp_path / "shared"
    with pytest.raises(ShardError, match="chunk 0 .*missing"):
        draw(observations, shared, Rank(1, 2))  # rank 1 alone: chunks 1, 3 and 5 of 0-5
    assert sorted(p.name for p in shared.iterdir()) == [f"chunk-00000{c}.safetensors" for c in (1, 3, 5)]
    torch.testing.assert_close(draw(observations, shared, Rank(0, 2)), single)
    write_chunk(shared, 6, torch.zeros(3, 5))  # a stray chunk beyond the last is not read
    write_chunk(shared, 2, torch.zeros(99, 5))  # a truncated one is
    with pytest.raises(ShardError, match="chunk 2 .*99 samples, expected 100"):
        gather_chunks(shared, 512, 100)


def test_an_interrupted_estep_keeps_its_finished_chunks(observations: Path, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "chunks"
    marker = torch.full((100, 5), 3.0)
    write_chunk(folder, 1, marker)
    samples = draw(observations, folder, Rank(0, 1))
    assert torch.equal(samples[100:200], marker)
    assert chunk_path(folder, 5).is_file() and samples.shape == (512, 5)


def test_a_compiled_mstep_trains_like_the_eager_one() -> None:
    data = make_manifold(256, seed=5)
    schedule = schedule_for((5,), None)
    losses = {}
    for compile in (False, True):
        network = new_denoiser((5,), 0, 0, "small", 32, 2)
        settings = TrainSettings(steps=6, batch_size=32, compile=compile)
        _, losses[compile] = train_denoiser(network, data, schedule, settings, torch.Generator().manual_seed(0),
                                            progress=False)
    assert losses[True] == pytest.approx(losses[False], rel=1e-3)
