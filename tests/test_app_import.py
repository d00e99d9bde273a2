"""Bring your own corrupted data through the served page: upload a zip of images and masks, import and train
on it, make the finished laps selectable, and restore one of the observations with its own mask."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from diffem.app.controls import method_option_values, observation_controls, sampler_option_values
from test_app import client, import_values, train_form, training_form  # noqa: F401  (the served app, its forms)
from test_upload import bomb, with_member

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse"
COUNT = 24


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples script's masked colour shapes, and ``shapes.zip`` of them (one top folder, as zipping it gives)."""
    root = tmp_path_factory.mktemp("own-data")
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_masked_shapes.py"), "--out", str(root / "shapes"),
                    "--count", str(COUNT)], check=True, capture_output=True)
    with zipfile.ZipFile(root / "shapes.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((root / "shapes").rglob("*")):
            archive.write(path, path.relative_to(root).as_posix())
    return root


def tiny_run(name: str) -> tuple[object, ...]:
    """A run that finishes in seconds: lap 0 (Gaussian) and one lap of a tiny UNet."""
    form = train_form(name, "fashion-mnist", "mask:0.75", 1, 5, 4096, 8, preset="tiny", sampler_steps=4,
                      gaussian_iterations=1, eval_count=2, eval_samples=4)
    return training_form(form)


def wait_for_the_job(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while app.JOBS.running() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not app.JOBS.running(), "the training job did not finish in time"


def is_colour(path: str) -> bool:
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return bool((np.abs(pixels[..., 0] - pixels[..., 1]) > 10).any())


def test_an_uploaded_zip_trains_a_prior_that_restores_its_own_observations(client: Client, shapes: Path,  # noqa: F811
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFEM_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job shares two cores with the server: no oversubscription
    summary, message, _ = client.predict(PASSWORD, handle_file(str(shapes / "shapes.zip")),
                                         *import_values(held_out=0.25), *tiny_run("shapes"), api_name="/train_import")
    assert summary.startswith("Imported **18** observations (+6 held out for evaluation) into run 'shapes': "
                              "32x32 colour, ") and summary.endswith(" % of their pixels observed.")
    assert "started job 'shapes'" in message
    assert (app.JOBS.root / "imported" / "shapes" / "observations.json").is_file()
    wait_for_the_job(240)
    status, gallery, table, quality, psnr, _, *form = client.predict(PASSWORD, api_name="/train_status")
    assert "**shapes**: finished, complete laps: 1" in status and len(gallery) == 2
    assert table["headers"] == ["lap", "loss", "held-out pixel PSNR", "held-out residual"]
    assert [row[0] for row in table["data"]] == [0, 1]
    assert [row[:2] for row in psnr["data"]] == [["lap 00", "heldout_pixel_psnr"], ["lap 01", "heldout_pixel_psnr"]]
    assert {row[1] for row in quality["data"]} == {"heldout_residual"}
    assert dict(zip(app.FORM_FIELDS, form))["data"] == "imported"
    with pytest.raises(Exception, match="A run named 'shapes' exists already"):
        client.predict(PASSWORD, handle_file(str(shapes / "shapes.zip")), *import_values(), *tiny_run("shapes"),
                       api_name="/train_import")

    app.refresh_priors()  # what "Make finished laps selectable in Restore" runs
    assert {"shapes/lap-0", "shapes/lap-1"} <= set(app.REGISTRY.names())
    assert app.clean_label("shapes/lap-1") == "Clean image, at 32x32 colour"
    assert "imported observations (shapes.zip, 32x32 colour, each with its own mask)" in app.prior_words("shapes/lap-1")
    observed = observation_controls(handle_file(str(shapes / "shapes" / "images" / "shape-0003.png")), "user-mask",
                                    mask_file=handle_file(str(shapes / "shapes" / "masks" / "shape-0003.png")))
    clean, seen = client.predict("shapes/lap-1", *observed, api_name="/observe")
    assert clean is None and is_colour(seen)  # an uploaded observation has no clean image to show
    final = list(client.submit("shapes/lap-1", *observed, "mmps", "ddpm", 4, 2, *method_option_values("mmps"),
                               *sampler_option_values(), api_name="/restore"))[-1]
    assert "done: 4 steps" in final[1] and "clean image is unknown" in final[5]
    assert Image.open(final[3]).size == (224, 224) and is_colour(final[3])  # the mean, at 7x its 32x32
    assert not is_colour(final[4])  # the uncertainty map pools the channels into one grey map


UPLOADS = {
    "zip bomb": ("bomb.zip", bomb, "bomb.zip: the member 'images/a.png' would inflate"),
    "traversal": ("up.zip", lambda p: with_member(p, zipfile.ZipInfo("images/../../evil.png")), "outside the archive"),
    "text named .zip": ("notes.zip", lambda p: (p.write_text("hello"), p)[1], "not a readable zip archive"),
    # Gradio's own file-type check answers first here; behind it, upload_importer refuses it too (test_upload)
    "another kind of file": ("notes.txt", lambda p: (p.write_text("hello"), p)[1], r"Invalid file type.*\.zip"),
}


@pytest.mark.parametrize("case", sorted(UPLOADS))
def test_a_bad_upload_gets_the_pages_error_and_starts_nothing(client: Client, tmp_path: Path,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    monkeypatch.setenv("DIFFEM_ADMIN_PASSWORD", PASSWORD)
    name, make, message = UPLOADS[case]
    with pytest.raises(Exception, match=message):
        client.predict(PASSWORD, handle_file(str(make(tmp_path / name))), *import_values(), *tiny_run("bad"),
                       api_name="/train_import")
    assert not app.JOBS.running() and not app.JOBS.imported_folder("bad").exists()
    assert not list(app.JOBS.root.parent.rglob("evil.png"))


def test_import_settings_and_missing_sets_are_checked_before_anything_runs(client: Client, shapes: Path,  # noqa: F811
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIFFEM_ADMIN_PASSWORD", PASSWORD)
    upload = handle_file(str(shapes / "shapes.zip"))
    with pytest.raises(Exception, match="Upload a .zip"):
        client.predict(PASSWORD, None, *import_values(), *tiny_run("nothing"), api_name="/train_import")
    with pytest.raises(Exception, match="greater than maximum value 0.5|Held out must be"):  # Gradio checks first
        client.predict(PASSWORD, upload, *import_values(held_out=0.9), *tiny_run("split"), api_name="/train_import")
    with pytest.raises(Exception, match="reserved for imported data|is not 'imported'"):
        client.predict(PASSWORD, upload, *import_values(), *tiny_run("imported"), api_name="/train_import")
    form = train_form("never-imported", "imported", "", 1, 5, 4096, 8)
    with pytest.raises(Exception, match="no imported observation set named 'never-imported'"):
        client.predict(PASSWORD, *form, api_name="/train_start")
    assert not app.JOBS.running()


def test_a_job_gets_half_the_cores_unless_the_server_says_otherwise(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from diffem.jobs import JobManager, JobRequest, job_threads

    def started_threads() -> str:
        jobs = JobManager(tmp_path / "runs")
        record = jobs.start(JobRequest(name="threads", method="em-mmps", data="manifold", corruption="projection:2",
                                       laps=1, steps_per_lap=1, observations_limit=16))
        try:
            environ = Path(f"/proc/{record['pid']}/environ").read_bytes().split(b"\0")
        finally:
            jobs.stop()
        return next(v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"OMP_NUM_THREADS="))

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert started_threads() == str(job_threads()) and job_threads() >= 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert started_threads() == "3"
