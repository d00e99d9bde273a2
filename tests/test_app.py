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
from diffem.jobs import JobRequest
from diffem.posterior import method_cost, steps_for_budget
from diffem.tuning import write_tuned
from diffem.app.controls import chosen_training_options, data_option_values, method_option_values, \
    observation_controls, sampler_option_values, training_option_values

SIZE = 16



def make_checkpoints(folder: Path) -> None:
    torch.manual_seed(0)
    dim = SIZE * SIZE
    gaussian = GaussianDenoiser(torch.zeros(1, SIZE, SIZE), diag=torch.full((dim,), 0.5), factor=0.3 * torch.randn(dim, 3))
    PriorBundle(gaussian, VESchedule(), (1, SIZE, SIZE), info={"method": "em-mmps", "lap": 0}).save_pretrained(folder / "gauss")
    unet = EDMDenoiser(make_unet(1, SIZE, 0, "tiny"))
    PriorBundle(unet, VESchedule(), (1, SIZE, SIZE), info={"method": "em-mmps", "lap": 1}).save_pretrained(folder / "unet")
    write_tuned(folder / "unet", "mmps", "mask", {"options": {"iterations": 2}}, budget=13)  # what an equal-cost race uses
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


def controls(image: object, corruption: str = "mask", level: float = 0.5, editor: object = None) -> tuple[object, ...]:
    return observation_controls(image, corruption, level, editor=editor)


def restore_args(image: str | None, prior: str = "gauss", method: str = "mmps", steps: object = 12,
                 sampler: str = "ddpm", samples: int = 2, corruption: str = "mask",
                 editor: object = None, **sampler_options: object) -> tuple[object, ...]:
    picture = handle_file(image) if image else None
    return (prior, *controls(picture, corruption, editor=editor), method, sampler, steps, samples,
            *method_option_values(method), *sampler_option_values(sampler, **sampler_options))


def test_restoration_streams_every_step_then_the_result(client: Client, picture: str) -> None:
    job = client.submit(*restore_args(picture), api_name="/restore")
    outputs = list(job)
    first, final = outputs[0], outputs[-1]
    assert first[1] == "step 1 / 12 · " + first[1].split(" · ")[1]  # frames are throttled, the first always comes
    assert first[2:] == (None, None, None, "", None)  # the previous run's results are cleared at once
    assert "done: 12 steps" in final[1]
    assert "PSNR of the mean" in final[5] and "Residual" in final[5]
    assert Path(final[6]).suffix == ".png"
    assert all(Path(o[0]).is_file() for o in outputs)


def test_generation_is_not_shown_as_a_restoration(client: Client, picture: str) -> None:
    final = list(client.submit(*restore_args(picture, method="prior", steps=4, samples=3), api_name="/restore"))[-1]
    slider, grid, spread, text = final[2], final[3], final[4], final[5]
    assert slider is None and spread is None and "PSNR of" not in text and "New images" in text
    assert Image.open(grid).width > 2 * Image.open(grid).height  # the three new images side by side


def test_one_sample_says_the_uncertainty_map_needs_two(client: Client, picture: str) -> None:
    final = list(client.submit(*restore_args(picture, steps=3, samples=1), api_name="/restore"))[-1]
    assert final[4] is None and "2 or more samples" in final[5]


def test_conditional_sampling_and_compare(client: Client, picture: str) -> None:
    outputs = list(client.submit(*restore_args(picture, prior="cond", method="conditional", steps=4),
                                 api_name="/restore"))
    assert "done" in outputs[-1][1]
    lanes = ("mmps · gauss", "conditional · cond", "dps · unet", "")
    frames = list(client.submit(*controls(handle_file(picture)), *lanes, 3, 6, False, 13, True, *method_option_values(),
                                api_name="/compare"))
    clean, seen, *rest = frames[-1]
    pictures, notes = rest[:4], rest[4:]
    assert Path(clean).is_file() and Path(seen).is_file()
    assert all(Path(p).is_file() for p in pictures[:3]) and pictures[3] is None
    assert "mmps" in notes[0] and "PSNR" in notes[0] and "conditional" in notes[1] and "residual" in notes[2]
    assert Image.open(pictures[0]).width > 3 * Image.open(pictures[0]).height  # 3 samples, mean and std in a row


def test_compare_skips_a_model_that_does_not_serve_the_corruption(client: Client, picture: str) -> None:
    frames = list(client.submit(*controls(handle_file(picture), "blur", 1.5), "mmps · gauss",
                                "conditional · cond", "", "", 2, 3, False, 7, True, *method_option_values(),
                                api_name="/compare"))
    notes = frames[-1][6:]
    assert "PSNR" in notes[0] and "skipped" in notes[1] and "random pixels missing" in notes[1]


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
    ("pc_delta", "0.5"),
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
        "pc_delta": restore_args(picture, sampler="pc", delta=0.9),
        "prior": restore_args(picture, prior="../../etc/passwd"),
    }[case]
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/restore")
    assert "done" in list(client.submit(*restore_args(picture, steps=2), api_name="/restore"))[-1][1]


def test_the_sampler_options_reach_the_restoration(client: Client, picture: str) -> None:
    """``pc`` without corrections is DDPM, step for step; two corrections change the result."""
    def mean(**chosen: object) -> np.ndarray:
        final = list(client.submit(*restore_args(picture, steps=3, **chosen), api_name="/restore"))[-1]
        with Image.open(final[3]) as image:
            return np.asarray(image)

    ddpm = mean()
    assert np.array_equal(mean(sampler="pc", corrections=0), ddpm)
    assert not np.array_equal(mean(sampler="pc", corrections=2), ddpm)


def train_form(name: str, data: str, corruption: str, laps: int, steps: int, observations: int, batch: int,
               method: str = "em-mmps", options: dict[str, object] | None = None,
               data_options: dict[str, object] | None = None, **more: object) -> tuple[object, ...]:
    """The Train tab's form (:data:`app.FORM_FIELDS`): these, and the request's defaults for the rest; then the
    training option controls (``options`` for ``method``'s own, defaults elsewhere), then the data option
    controls (``data_options`` for ``data``'s own)."""
    given = {"name": name, "method": method, "data": data, "corruption": corruption, "laps": laps,
             "steps_per_lap": steps, "observations_limit": observations, "batch_size": batch, **more}
    owner = data if any(source == data for source, _ in app.DATA_OPTIONS) else None
    return (*[given[f] if f in given else getattr(app.REQUEST_DEFAULTS, f) for f in app.FORM_FIELDS],
            *training_option_values(method, **(options or {})), *data_option_values(owner, **(data_options or {})))


def training_form(form: tuple[object, ...]) -> tuple[object, ...]:
    """The form less its data source, as "Import and train" takes it (the training options stay, the data
    options go)."""
    fields = len(app.FORM_FIELDS)
    return (*[value for value, field in zip(form[:fields], app.FORM_FIELDS) if field in app.TRAINING_FIELDS],
            *form[fields:fields + len(app.TRAINING_OPTIONS)])


def test_a_diffem_job_takes_its_options_from_their_controls(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """DiffEM's own options (its Options dataclass) are controls of the Train tab; a misspelt one is refused."""
    monkeypatch.setenv("DIFFEM_ADMIN_PASSWORD", "correct horse")
    with pytest.raises(Exception, match="unknown corruption 'mask-famly'"):
        client.predict("correct horse", *train_form("fam", "fashion-mnist", "mask:0.75", 1, 10, 64, 16, "diffem",
                                                    {"train_corruption": "mask-famly"}), api_name="/train_start")
    assert not app.JOBS.running()
    request = JobRequest(name="fam", method="diffem", method_options=chosen_training_options(
        "diffem", training_option_values("diffem", train_corruption="mask-family", final_prior_steps=20)))
    request.validate()
    assert request.command(Path("/tmp"))[-5:] == ["--train-corruption", "mask-family", "--final-prior-steps", "20",
                                                  "--resume"]


def import_values(**chosen: object) -> tuple[object, ...]:
    """The import settings' controls: their defaults, with ``chosen`` ones."""
    return tuple(chosen.get(option["name"], option["default"]) for option in app.IMPORT_OPTIONS)


def test_training_endpoints_refuse_without_credentials(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIFFEM_ADMIN_PASSWORD", raising=False)
    with pytest.raises(Exception, match="Training is disabled"):
        client.predict("", *train_form("run", "fashion-mnist", "mask:0.75", 1, 10, 64, 16), api_name="/train_start")
    monkeypatch.setenv("DIFFEM_ADMIN_PASSWORD", "correct horse")
    form = train_form("run", "fashion-mnist", "mask:0.75", 1, 10, 64, 16)
    for endpoint, args in (("/train_start", ("wrong", *form)), ("/train_import", ("wrong", None, *import_values(),
                                                                                   *training_form(form))),
                           ("/train_stop", ("wrong",)), ("/train_status", ("wrong",)),
                           ("/train_push", ("wrong", "run/lap-1", "me/prior"))):
        with pytest.raises(Exception, match="Wrong admin password"):
            client.predict(*args, api_name=endpoint)
    assert not app.JOBS.running()
    message, gallery, *_ = client.predict("correct horse", api_name="/train_status")
    assert "no training job" in message and gallery == []


def test_an_admin_starts_watches_and_stops_one_training_job(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFEM_ADMIN_PASSWORD", "correct horse")
    with pytest.raises(Exception, match="less than minimum value 1"):  # a data option's control keeps its bounds
        client.predict("correct horse", *train_form("toy-run", "manifold", "projection:2", 2, 50, 64, 32,
                                                    data_options={"manifold_points": 0}), api_name="/train_start")
    with pytest.raises(ValueError, match="manifold_points"):  # and so does the job, for every caller
        JobRequest(name="toy-run", method="em-mmps", data="manifold", corruption="projection:2",
                   data_options={"manifold_points": 0}).validate()
    started, _ = client.predict("correct horse", *train_form("toy-run", "manifold", "projection:2", 2, 50, 64, 32,
                                                             data_options={"manifold_points": 640}),
                                api_name="/train_start")
    assert "started job 'toy-run'" in started
    try:
        with pytest.raises(Exception, match="already running"):
            client.predict("correct horse", *train_form("other", "manifold", "projection:2", 1, 10, 64, 16),
                           api_name="/train_start")
        message, _, _, *rest = client.predict("correct horse", api_name="/train_status")
        assert "toy-run" in message and "correct horse" not in message
        form = dict(zip(app.FORM_FIELDS, rest[3:3 + len(app.FORM_FIELDS)]))  # after the plots: for a reloaded page
        assert (form["name"], form["corruption"], form["batch_size"], form["preset"]) == ("toy-run", "projection:2",
                                                                                          32, "small")
        data_controls = rest[3 + len(app.FORM_FIELDS) + len(app.TRAINING_OPTIONS):][:len(app.DATA_OPTIONS)]
        assert dict(zip([o["name"] for _, o in app.DATA_OPTIONS], data_controls))["manifold_points"] == 640
        pid = app.JOBS.record()["pid"]
        assert b"--manifold-points\x00640" in Path(f"/proc/{pid}/cmdline").read_bytes()  # the job's own flag
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
    drawn = restore_args(picture, steps=3, samples=1, corruption="user-mask", editor=editor)
    assert "PSNR of the mean" in list(client.submit(*drawn, api_name="/restore"))[-1][5]
    uploaded = restore_args(None, steps=3, samples=1, corruption="user-mask", editor=editor)
    assert "clean image is unknown" in list(client.submit(*uploaded, api_name="/restore"))[-1][5]
    with pytest.raises(Exception, match="Draw on the mask canvas"):
        client.predict(*restore_args(picture, steps=3, samples=1, corruption="user-mask"), api_name="/restore")


def test_an_equal_cost_race_gives_cheaper_methods_more_steps_and_says_what_each_cost(client: Client,
                                                                                      picture: str) -> None:
    """At equal cost with tuned knobs, a prior with MMPS's k tuned at that cost runs it (fewer steps); one without
    keeps the Restore tab's k = 1 and says so."""
    lanes = ("mmps · gauss", "conditional · cond", "mmps · unet", "")
    frames = list(client.submit(*controls(handle_file(picture)), *lanes, 2, 64, True, 13, True, *method_option_values(),
                                api_name="/compare"))
    notes = frames[-1][6:]
    assert "5 steps, k = 1 (the Restore tab's: none tuned at a cost for this prior and corruption), " \
           "6 network calls + 6 VJPs a sample" in notes[0]  # MMPS k = 1: a call and a VJP a step, final too
    assert "12 steps, 13 network calls + 0 VJPs a sample" in notes[1]
    steps = steps_for_budget("mmps", {"iterations": 2}, 13)
    cost = method_cost("mmps", {"iterations": 2}, steps)
    assert f"{steps} steps, k = 2 (tuned at 13 calls + VJPs), {cost.network} network calls + {cost.vjps} VJPs" \
           in notes[2], notes[2]
    assert "50 % / 90 % interval coverage" in notes[0]


@pytest.mark.parametrize("method", ["pigdm", "ddnm", "diffpir", "daps", "dps"])
def test_every_registered_sampler_restores_from_the_page_with_its_generated_options(client: Client, picture: str,
                                                                                    method: str) -> None:
    final = list(client.submit(*restore_args(picture, method=method, steps=3), api_name="/restore"))[-1]
    assert "done: 3 steps" in final[1] and "PSNR of the mean" in final[5]
    assert {m for m, _ in app.METHOD_OPTIONS} >= {"mmps", "dps", method}
