"""A Hugging Face Space, rehearsed: ``python app.py`` from an environment built from requirements.txt alone.

A Space installs ``requirements.txt`` (and has the ``spaces`` package), then starts ``python app.py``
with ``SPACE_ID``, ``SYSTEM=spaces``, ``GRADIO_SERVER_NAME=0.0.0.0`` and ``GRADIO_SERVER_PORT``.
This test does the same in a fresh virtual environment (no dev requirements, not this checkout's
install) and restores an example through ``gradio_client`` on ``127.0.0.2``, which answers only when
the server listens on all interfaces, as a Space's proxy needs. The environment is cached under
``~/.cache/diffem`` (``$DIFFEM_SPACE_VENV`` overrides), keyed by requirements.txt and the Python version.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from diffem.app.controls import method_option_values, observation_controls, sampler_option_values
from diffem.em.processes import free_local_port

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
EXAMPLE = ROOT / "examples" / "fashion-test-0000-boot.png"
OTHER_LOOPBACK = "127.0.0.2"


def environment_folder() -> Path:
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:12]
    default = Path.home() / ".cache" / "diffem" / f"space-venv-{key}"
    return Path(os.environ.get("DIFFEM_SPACE_VENV", default))


def space_environment() -> Path:
    """The cached environment's python, built (into a temporary folder, then renamed) when missing."""
    folder = environment_folder()
    python = folder / "bin" / "python"
    if python.is_file():
        return python
    building = folder.with_name(folder.name + f".building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    # --no-compile: the app compiles the modules it imports when it starts; compiling all of them took nearly half the install
    subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", "-r",
                    str(REQUIREMENTS), "spaces"], check=True, timeout=1200)
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)  # bin/python and pyvenv.cfg survive the move; only console scripts (unused) do not
    return python


def wait_for(host: str, port: int, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"python app.py exited with {process.returncode}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"nothing answered on {host}:{port} after {seconds:.0f} s")


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = space_environment()
    port = free_local_port()
    log = tmp_path_factory.mktemp("space") / "app.log"
    # what a Space's runtime sets, and nothing from this checkout's environment (no .venv, no PYTHONPATH)
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
               "SPACE_ID": "diffem/rehearsal", "SYSTEM": "spaces", "GRADIO_SERVER_NAME": "0.0.0.0",
               "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "DIFFEM_RUNS": str(log.parent / "runs"), "OMP_NUM_THREADS": "2"}
    with open(log, "wb") as output:
        process = subprocess.Popen([str(python), "app.py"], cwd=ROOT, env=environ, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for(OTHER_LOOPBACK, port, process, seconds=240)
        yield f"http://{OTHER_LOOPBACK}:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        print(log.read_text(errors="replace")[-3000:])


def test_the_space_serves_a_restoration_on_all_interfaces(space: str) -> None:
    client = Client(space, verbose=False)
    controls = observation_controls(handle_file(str(EXAMPLE)), "mask", 0.75)
    outputs = list(client.submit("diffem-fashion-mask75-prior", *controls, "mmps", "ddpm", 8, 2,
                                 *method_option_values("mmps"), *sampler_option_values(), api_name="/restore"))
    final = outputs[-1]
    assert "done: 8 steps" in final[1] and "PSNR of the mean" in final[5]
    assert Path(final[6]).is_file()
