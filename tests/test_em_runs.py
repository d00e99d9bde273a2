"""EM-MMPS and DiffEM runs on a tiny toy-manifold problem: complete laps, resume, repair, no-ops."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from diffem.data import make_manifold
from diffem.data.observations import TEST_FILE, make_observation_set, save_observation_set
from diffem.em import EMConfig, RunError, RunFolder, run_em
from diffem.em.laps import verify_folder
from diffem.em.mstep import TrainSettings, train_denoiser
from diffem.em.networks import new_denoiser, without_condition
from diffem.operators import parse_corruption
from diffem.schedule import VESchedule

METHOD_PART = {"em-mmps": "prior", "diffem": "conditional"}


@pytest.fixture(scope="module")
def observations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    operator = parse_corruption("projection:2", 0.01)
    train = make_observation_set(make_manifold(512, seed=1), operator, seed=3)
    test = make_observation_set(make_manifold(96, seed=2), operator, seed=4, keep_clean=True)
    folder = tmp_path_factory.mktemp("toy") / "observations"
    save_observation_set(folder, train, test)
    return folder


def tiny_config(method: str, observations: Path, out: Path, **changes: object) -> EMConfig:
    settings: dict[str, object] = dict(
        method=method, observations=str(observations), out=str(out), laps=2, steps_per_lap=30, batch_size=64,
        lr=1e-3, sampler_steps=8, estep_batch=512, gaussian_iterations=3, hidden_features=32, hidden_layers=2,
        eval_count=32, eval_samples=64)
    fields = {f.name for f in dataclasses.fields(EMConfig)}
    settings.update({k: v for k, v in changes.items() if k in fields})
    options = {k: v for k, v in changes.items() if k not in fields}  # the method's own (EMConfig.method_options)
    return EMConfig(**settings, method_options=options)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["em-mmps", "diffem"])
def finished_run(request: pytest.FixtureRequest, observations: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(request.param) / "run"
    run_em(tiny_config(request.param, observations, out), device="cpu", progress=False)
    return request.param, out


def weights(folder: Path) -> dict[str, torch.Tensor]:
    (file,) = folder.rglob("*.safetensors")
    return load_file(str(file))


def test_laps_are_complete_folders(finished_run: tuple[str, Path]) -> None:
    method, out = finished_run
    run = RunFolder(out)
    assert run.complete_laps() == [0, 1, 2]
    assert (run.lap_path(0) / "prior" / "gaussian.safetensors").is_file()
    for lap in (1, 2):
        path = run.lap_path(lap)
        assert verify_folder(path) is None
        assert (path / METHOD_PART[method] / "diffem.json").is_file()
        assert (path / "samples.png").stat().st_size > 0
        metrics = run.lap_metrics(lap)
        assert metrics["sinkhorn"] > 0 and len(metrics["losses"]) >= 1
    assert [m["lap"] for m in run.history()] == [0, 1, 2]


def test_resume_after_deleting_the_last_lap_reproduces_it(finished_run: tuple[str, Path], tmp_path: Path,
                                                          observations: Path) -> None:
    method, out = finished_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "laps" / "lap-0002")
    run_em(tiny_config(method, observations, copy), device="cpu", resume=True, progress=False)
    original = weights(out / "laps" / "lap-0002" / METHOD_PART[method])
    redone = weights(copy / "laps" / "lap-0002" / METHOD_PART[method])
    assert original.keys() == redone.keys()
    for key in original:
        assert torch.allclose(original[key], redone[key], atol=1e-5), key


def test_a_truncated_file_is_detected_and_its_lap_redone(finished_run: tuple[str, Path], tmp_path: Path,
                                                         observations: Path) -> None:
    method, out = finished_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (file,) = (copy / "laps" / "lap-0001").rglob("*.safetensors")
    file.write_bytes(file.read_bytes()[:100])
    assert RunFolder(copy).complete_laps() == [0]
    run_em(tiny_config(method, observations, copy), device="cpu", resume=True, progress=False)
    assert RunFolder(copy).complete_laps() == [0, 1, 2]
    assert weights(copy / "laps" / "lap-0001" / METHOD_PART[method]).keys() == \
        weights(out / "laps" / "lap-0001" / METHOD_PART[method]).keys()


def test_a_missing_file_is_detected(finished_run: tuple[str, Path], tmp_path: Path) -> None:
    _, out = finished_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (copy / "laps" / "lap-0002" / "samples.png").unlink()
    assert RunFolder(copy).complete_laps() == [0, 1]


def test_rerunning_a_finished_lap_count_is_a_no_op(finished_run: tuple[str, Path], observations: Path) -> None:
    method, out = finished_run
    stamps = {p: p.stat().st_mtime_ns for p in (out / "laps").rglob("*") if p.is_file()}
    messages: list[str] = []
    run_em(tiny_config(method, observations, out), device="cpu", resume=True, progress=False, log=messages.append)
    assert any("nothing to do" in m for m in messages)
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "laps").rglob("*") if p.is_file()}


def test_an_existing_run_needs_resume_and_the_same_settings(finished_run: tuple[str, Path], observations: Path) -> None:
    method, out = finished_run
    with pytest.raises(RunError, match="--resume"):
        run_em(tiny_config(method, observations, out), device="cpu", progress=False)
    with pytest.raises(RunError, match="batch_size"):
        run_em(tiny_config(method, observations, out, batch_size=32), device="cpu", resume=True, progress=False)


def test_training_reads_only_the_observation_files(observations: Path, tmp_path: Path) -> None:
    only = tmp_path / "observations"
    shutil.copytree(observations, only)
    (only / TEST_FILE).unlink()
    out = tmp_path / "run"
    run_em(tiny_config("em-mmps", only, out, laps=1), device="cpu", progress=False)
    assert RunFolder(out).complete_laps() == [0, 1]
    assert sorted(p.name for p in only.iterdir()) == ["observations.json", "observations.safetensors"]


def test_diffem_trains_a_final_unconditional_prior(observations: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_em(tiny_config("diffem", observations, out, laps=1, final_prior_steps=20), device="cpu", progress=False)
    final = out / "final"
    assert verify_folder(final) is None
    assert '"unconditional"' in (final / "prior" / "diffem.json").read_text()


def test_pruned_weights_keep_laps_complete(observations: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_em(tiny_config("em-mmps", observations, out, laps=3), device="cpu", progress=False, keep_weights=1)
    run = RunFolder(out)
    assert run.complete_laps() == [0, 1, 2, 3]
    assert [lap for lap in (1, 2, 3) if run.is_pruned(lap)] == [1, 2]
    assert not list((out / "laps" / "lap-0001").rglob("*.safetensors"))
    assert list((out / "laps" / "lap-0003").rglob("*.safetensors"))


def test_a_run_killed_mid_lap_resumes_from_its_last_complete_lap(observations: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    command = [sys.executable, "-m", "diffem", "train", "--method", "em-mmps", "--observations", str(observations),
               "--out", str(out), "--laps", "3", "--steps-per-lap", "400", "--batch-size", "64", "--lr", "1e-3",
               "--sampler-steps", "8", "--estep-batch", "512", "--gaussian-iterations", "3", "--hidden-features", "32",
               "--hidden-layers", "2", "--eval-count", "32", "--eval-samples", "64", "--device", "cpu", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "laps" / "lap-0001").is_dir() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run = RunFolder(out)
    laps = run.complete_laps()
    assert laps[:2] == [0, 1] and len(laps) < 4
    assert all(verify_folder(path) is None for _, path in run.lap_folders())
    config = tiny_config("em-mmps", observations, out, laps=3, steps_per_lap=400)
    run_em(config, device="cpu", resume=True, progress=False)
    assert run.complete_laps() == [0, 1, 2, 3]
    assert not list((out / "laps").glob(".lap-*"))


@pytest.mark.parametrize("event_shape, preset", [((2,), "small"), ((1, 8, 8), "tiny")])
def test_without_condition_is_the_conditional_model_told_nothing(event_shape: tuple[int, ...], preset: str) -> None:
    conditional = new_denoiser(event_shape, 2 if len(event_shape) == 3 else 4, seed=0, preset=preset,
                               hidden_features=16, hidden_layers=2).eval()
    unconditional = without_condition(conditional).eval()
    x = 2 * torch.randn(3, *event_shape)
    empty = torch.zeros(3, conditional.condition_channels, *event_shape[1:])
    with torch.no_grad():
        torch.testing.assert_close(unconditional(x, 0.7), conditional(x, 0.7, empty))
    assert not unconditional.conditional
    with pytest.raises(ValueError, match="already unconditional"):
        without_condition(unconditional)


def test_diffem_prior_trains_laps_on_one_set_of_reconstructions(observations: Path, tmp_path: Path) -> None:
    diffem = tmp_path / "diffem"
    run_em(tiny_config("diffem", observations, diffem, laps=1), device="cpu", progress=False)
    conditional = diffem / "laps" / "lap-0001" / "conditional"
    out = tmp_path / "prior"
    config = tiny_config("diffem-prior", observations, out, conditional=str(conditional), prior_init="conditional",
                         observations_limit=200)
    run_em(config, device="cpu", progress=False)
    run = RunFolder(out)
    assert run.complete_laps() == [0, 1, 2]
    (drawn,) = (out / "estep").iterdir()  # one E-step, reused by lap 2
    assert drawn.name.startswith("reconstructions-")
    assert load_file(str(next(drawn.glob("chunk-*.safetensors"))))["samples"].shape[0] == 200
    bundle = json.loads((run.lap_path(2) / "prior" / "diffem.json").read_text())
    assert bundle["kind"] == "unconditional" and bundle["info"]["prior_init"] == "conditional"
    assert bundle["info"]["conditional"] == str(conditional)
    metrics = json.loads((run.lap_path(2) / "metrics.json").read_text())
    assert metrics["estep_seconds"] < metrics["mstep_seconds"]


def test_diffem_prior_refuses_a_model_that_is_not_conditional(finished_run: tuple[str, Path], observations: Path,
                                                             tmp_path: Path) -> None:
    gaussian = finished_run[1] / "laps" / "lap-0000" / "prior"
    config = tiny_config("diffem-prior", observations, tmp_path / "prior", conditional=str(gaussian))
    with pytest.raises(ValueError, match="not a conditional model"):
        run_em(config, device="cpu", progress=False)


@pytest.mark.parametrize("changes, message", [
    ({"method": "diffem-prior"}, "--conditional .* must be given"),
    ({"conditional": "somewhere"}, "--conditional is an option of --method diffem-prior, not of --method em-mmps"),
    ({"method": "diffem-prior", "conditional": "c", "prior_init": "lucky"}, "--prior-init"),
    ({"method": "diffem", "final_prior_steps": -1}, "--final-prior-steps .* at least 0"),
    ({"observations_limit": 0}, "--observations-limit"),
])
def test_bad_diffem_prior_settings(changes: dict[str, object], message: str, observations: Path, tmp_path: Path) -> None:
    settings = {"method": "em-mmps", **changes}
    method = settings.pop("method")
    with pytest.raises(ValueError, match=message):
        tiny_config(str(method), observations, tmp_path, **settings)


def test_a_bf16_m_step_keeps_fp32_weights_and_the_fp32_loss() -> None:
    """The GPU runs' ``--precision bf16`` (autocast) on the CPU: same data, noise and steps as fp32."""
    data = 0.5 * torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    losses = {}
    for precision in ("fp32", "bf16"):
        denoiser = new_denoiser((1, 8, 8), 0, seed=0, preset="tiny")
        settings = TrainSettings(steps=5, batch_size=16, lr=1e-3, precision=precision)
        averaged, losses[precision] = train_denoiser(denoiser, data, VESchedule(), settings,
                                                     torch.Generator().manual_seed(1), progress=False)
        assert all(p.dtype == torch.float32 for p in averaged.parameters())
    assert abs(losses["bf16"][0] - losses["fp32"][0]) < 0.02 * losses["fp32"][0], losses


def test_the_naive_baseline_trains_on_the_observations_as_they_are(observations: Path, tmp_path: Path) -> None:
    from diffem.bundle import PriorBundle
    from diffem.data.observations import load_observation_set
    from diffem.em.methods import EM_METHODS

    out = tmp_path / "naive"
    run_em(tiny_config("naive", observations, out, laps=1), device="cpu", progress=False)
    run = RunFolder(out)
    assert run.complete_laps() == [0, 1]
    info = PriorBundle.from_pretrained(run.lap_path(1) / "prior", device="cpu").info
    assert info["method"] == "naive" and "not an EM result" in info["lower_bound"]
    train = load_observation_set(observations, "train")
    method = EM_METHODS["naive"](tiny_config("naive", observations, out), train, None, torch.device("cpu"),
                                 progress=False)
    filled = method.training_samples(torch.nn.Identity(), 1, run.lap_path(0))
    torch.testing.assert_close(filled, train.operator.preview(train.y))  # A^T y for projections, y for masks


def test_a_bf16_estep_runs_the_network_under_autocast_and_keeps_its_result_close(observations: Path,
                                                                                  tmp_path: Path) -> None:
    """``--estep-precision bf16``: the same lap's E-step, the network in bf16 and MMPS's solve in fp32."""
    from diffem.denoisers import AutocastDenoiser, EDMDenoiser
    from diffem.em.runner import build_method
    from diffem.em.processes import Processes

    config = tiny_config("em-mmps", observations, tmp_path / "run", laps=1, estep_precision="bf16")
    method = build_method(config, Processes(torch.device("cpu")), progress=False)
    network = new_denoiser(method.event_shape, 0, 0, config.preset, config.hidden_features, config.hidden_layers)
    assert isinstance(network, EDMDenoiser) and isinstance(method.estep_network(network), AutocastDenoiser)
    x = torch.randn(8, *method.event_shape)
    sigma = torch.full((8,), 0.5)
    wrapped = method.estep_network(network)
    assert wrapped(x, sigma).dtype == torch.float32
    assert torch.allclose(wrapped(x, sigma), network(x, sigma), atol=0.05)  # bf16 rounding only
    with pytest.raises(ValueError, match="--estep-precision"):
        tiny_config("em-mmps", observations, tmp_path / "bad", estep_precision="fp8")
