"""The Gradio app served for real and driven through gradio_client: streaming, cancel, bad input, access."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

import app
from diffem import EDMDenoiser, GaussianDenoiser, PriorBundle, VESchedule
from diffem.backbones import make_unet
from diffem.em.processes import free_local_port

SIZE = 16



def make_checkpoints(folder: Path) -> None:
    torch.manual_seed(0)
    dim = SIZE * SIZE
    gaussian = GaussianDenoiser(torch.zeros(1, SIZE, SIZE), diag=torch.full((dim,), 0.5), factor=0.3 * torch.randn(dim, 3))
    PriorBundle(gaussian, VESchedule(), (1, SIZE, SIZE), info={"method": "em-mmps", "lap": 0}).save_pretrained(folder / "gauss")
    unet = EDMDenoiser(make_unet(1, SIZE, 0, "tiny"))
    PriorBundle(unet, VESchedule(), (1, SIZE, SIZE), info={"method": "em-mmps", "lap": 1}).save_pretrained(folder / "unet")
    conditional = EDMDenoiser(make_unet(1, SIZE, 2, "tiny"), condition_channels=2)
    PriorBundle(conditional, VESchedule(), (1, SIZE, SIZE), info={"method": "diffem", "lap": 1},
                operators=["mask", "mask-family"]).save_pretrained(folder / "cond")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    root = tmp_path_factory.mktemp("app")
    make_checkpoints(root / "checkpoints")
    app.use_folders(root / "checkpoints", root / "runs")
    demo = app.build_demo()
    port = free_local_port()
    demo.queue(max_size=16, default_concurrency_limit=2).launch(prevent_thread_lock=True, server_port=port,
                                                                server_name="127.0.0.1")
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def shirt(mode: str = "L") -> Image.Image:
    """A 30x40 picture of a bright rectangle, in any PIL mode."""
    array = np.zeros((40, 30), dtype=np.uint8)
    array[5:35, 8:22] = 220
    return Image.fromarray(array).convert(mode)


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("pictures") / "shirt.png"
    shirt().save(path)
    return str(path)


def restore_args(image: str, prior: str = "gauss", method: str = "mmps", steps: object = 12, sampler: str = "ddpm",
                 samples: int = 2) -> tuple[object, ...]:
    return (prior, handle_file(image), "mask", 0.5, 0.01, 0, None, method, sampler, steps, samples, "gmres", 1)


def test_restoration_streams_every_step_then_the_result(client: Client, picture: str) -> None:
    job = client.submit(*restore_args(picture), api_name="/restore")
    outputs = list(job)
    assert len(outputs) >= 12
    final = outputs[-1]
    assert "done: 12 steps" in final[1]
    assert "PSNR of the mean" in final[5]
    assert Path(final[6]).suffix == ".png"
    assert all(Path(o[0]).is_file() for o in outputs)


def test_conditional_sampling_and_compare(client: Client, picture: str) -> None:
    outputs = list(client.submit(*restore_args(picture, prior="cond", method="conditional", steps=4),
                                 api_name="/restore"))
    assert "done" in outputs[-1][1]
    frames = list(client.submit("gauss", "cond", handle_file(picture), "mask", 0.5, 0.01, 0, None, 6, 1,
                                api_name="/compare"))
    assert len(frames) >= 6
    left_note, right_note = frames[-1][2], frames[-1][3]
    assert "mmps" in left_note and "PSNR" in left_note and "conditional" in right_note


def test_cancel_stops_a_long_stream_and_the_server_keeps_serving(client: Client, picture: str) -> None:
    job = client.submit(*restore_args(picture, prior="unet", steps=1000, samples=1), api_name="/restore")
    deadline = time.monotonic() + 60
    while len(job.outputs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(job.outputs()) >= 3
    job.cancel()
    time.sleep(1.0)
    seen = len(job.outputs())
    time.sleep(1.5)
    assert len(job.outputs()) == seen < 1000
    outputs = list(client.submit(*restore_args(picture, steps=3), api_name="/restore"))
    assert "done" in outputs[-1][1]


def bad_files(folder: Path) -> dict[str, Path]:
    files = {}
    files["corrupt"] = folder / "corrupt.png"
    files["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    files["tiny"] = folder / "tiny.png"
    Image.new("L", (1, 1)).save(files["tiny"])
    files["huge"] = folder / "huge.png"
    Image.new("L", (10000, 10000)).save(files["huge"])
    return files


@pytest.mark.parametrize("case, message", [
    ("corrupt", "Cannot read this file"),
    ("tiny", "at least 8x8"),
    ("huge", "megapixels"),
    ("steps0", "Steps must be"),
    ("steps_million", "Steps must be"),
    ("sampler", "Unknown sampler"),
    ("prior", "Unknown prior"),
])
def test_bad_input_gets_a_clear_error(client: Client, picture: str, tmp_path: Path, case: str, message: str) -> None:
    files = bad_files(tmp_path) if case in ("corrupt", "tiny", "huge") else {}
    args = {
        "corrupt": restore_args(str(files.get("corrupt", picture))),
        "tiny": restore_args(str(files.get("tiny", picture))),
        "huge": restore_args(str(files.get("huge", picture))),
        "steps0": restore_args(picture, steps=0),
        "steps_million": restore_args(picture, steps=10**6),
        "sampler": restore_args(picture, sampler="euler-magic"),
        "prior": restore_args(picture, prior="../../etc/passwd"),
    }[case]
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/restore")
    assert "done" in list(client.submit(*restore_args(picture, steps=2), api_name="/restore"))[-1][1]


def test_training_endpoints_refuse_without_credentials(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIFFEM_ADMIN_PASSWORD", raising=False)
    with pytest.raises(Exception, match="Training is disabled"):
        client.predict("", "run", "em-mmps", "fashion-mnist", "mask:0.75", 1, 10, 64, api_name="/train_start")
    monkeypatch.setenv("DIFFEM_ADMIN_PASSWORD", "correct horse")
    for endpoint, args in (("/train_start", ("wrong", "run", "em-mmps", "fashion-mnist", "mask:0.75", 1, 10, 64)),
                           ("/train_stop", ("wrong",)), ("/train_status", ("wrong",)),
                           ("/train_push", ("wrong", "run/lap-1", "me/prior"))):
        with pytest.raises(Exception, match="Wrong admin password"):
            client.predict(*args, api_name=endpoint)
    assert not app.JOBS.running()
    message, gallery, _, _ = client.predict("correct horse", api_name="/train_status")
    assert "no training job" in message and gallery == []


def test_an_admin_starts_watches_and_stops_one_training_job(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFEM_ADMIN_PASSWORD", "correct horse")
    started = client.predict("correct horse", "toy-run", "em-mmps", "manifold", "projection:2", 2, 50, 64,
                             api_name="/train_start")
    assert "started job 'toy-run'" in started
    try:
        with pytest.raises(Exception, match="already running"):
            client.predict("correct horse", "other", "em-mmps", "manifold", "projection:2", 1, 10, 64,
                           api_name="/train_start")
        message, _, _, _ = client.predict("correct horse", api_name="/train_status")
        assert "toy-run" in message and "correct horse" not in message
        pid = app.JOBS.record()["pid"]
        seen_by_the_job = Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()
        assert b"correct horse" not in seen_by_the_job
        assert "correct horse" not in (app.JOBS.root / "job.json").read_text()
    finally:
        assert "stopped" in client.predict("correct horse", api_name="/train_stop")
    deadline = time.monotonic() + 20
    while app.JOBS.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not app.JOBS.running()
    assert not [log for log in app.JOBS.root.rglob("*.log") if "correct horse" in log.read_text(errors="replace")]


def test_a_drawn_mask_and_an_uploaded_observation(client: Client, picture: str, tmp_path: Path) -> None:
    layer = np.zeros((40, 30, 4), dtype=np.uint8)
    layer[10:30, 5:25] = (255, 255, 255, 255)
    layer_path = tmp_path / "layer.png"
    Image.fromarray(layer).save(layer_path)
    editor = {"background": handle_file(picture), "layers": [handle_file(str(layer_path))], "composite": None}
    drawn = ("gauss", handle_file(picture), "user-mask", 0.5, 0.01, 0, editor, "mmps", "ddpm", 3, 1, "gmres", 1)
    assert "PSNR of the mean" in list(client.submit(*drawn, api_name="/restore"))[-1][5]
    uploaded = ("gauss", None, "user-mask", 0.5, 0.01, 0, editor, "mmps", "ddpm", 3, 1, "gmres", 1)
    assert "clean image is unknown" in list(client.submit(*uploaded, api_name="/restore"))[-1][5]
    with pytest.raises(Exception, match="Draw on the mask canvas"):
        client.predict("gauss", handle_file(picture), "user-mask", 0.5, 0.01, 0, None, "mmps", "ddpm", 3, 1,
                       "gmres", 1, api_name="/restore")
