"""The real app served in a subprocess for benchmarks, and the numbers read off its process.

``python app.py --host 127.0.0.1 --port P`` over the shipped ``checkpoints/`` (production's queue and
concurrency), driven over loopback with ``gradio_client``; RSS and thread counts come from ``/proc``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffem.app.controls import method_option_values, observation_controls, sampler_option_values  # noqa: E402
from diffem.em.processes import free_local_port  # noqa: E402


@dataclass
class RssSampler:
    """Samples the summed RSS of a process tree every ``interval`` seconds in a thread."""

    pid: int
    interval: float = 0.2
    peak_mib: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self.peak_mib = tree_rss_mib(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mib = max(self.peak_mib, tree_rss_mib(self.pid))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mib = max(self.peak_mib, tree_rss_mib(self.pid))


# --- /proc helpers ------------------------------------------------------------------------------
def proc_status(pid: int, key: str) -> int:
    """An integer field of /proc/PID/status (``VmRSS`` in kB, ``Threads``); 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        for child in children:
            found += [child] + descendants(child)
    return found


def tree_rss_mib(pid: int) -> float:
    return sum(proc_status(p, "VmRSS") for p in [pid] + descendants(pid)) / 1024


def thread_count(pid: int) -> int:
    return proc_status(pid, "Threads")


# --- server -------------------------------------------------------------------------------------
def start_server(port: int, work: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DIFFEM_CHECKPOINTS=str(ROOT / "checkpoints"), DIFFEM_RUNS=str(work / "runs"),
               HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=str(work / "gradio"))
    log = open(work / "server.log", "wb")  # noqa: SIM115 - the child owns it for its lifetime
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for_server(url: str, server: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before answering")
        if answers_http(url):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the server did not answer {url} within {timeout:.0f} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def restoration_args(prior: str, image: Path, steps: int, samples: int, method: str = "mmps", sampler: str = "ddpm",
                     corruption: str = "mask", level: float = 0.75) -> tuple[object, ...]:
    """The ``/restore`` endpoint's arguments for one example picture."""
    return (prior, *observation_controls(handle_file(str(image)), corruption, level), method, sampler, steps, samples,
            *method_option_values(method), *sampler_option_values(sampler))


def new_client(url: str) -> Client:
    return Client(url, verbose=False, download_files=False)


def settle_rss(pid: int, seconds: float) -> float:
    time.sleep(seconds)
    return tree_rss_mib(pid)


@contextmanager
def serving(prefix: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The real server, answering, in a temporary work folder: ``(url, process)``. If the body fails,
    the tail of the server's log goes to stderr; the server is stopped in any case."""
    port = free_local_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory(prefix=prefix) as work:
        server = start_server(port, Path(work))
        try:
            wait_for_server(url, server)
            yield url, server
        except BaseException:
            print((Path(work) / "server.log").read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            stop_server(server)
