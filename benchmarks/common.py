"""Shared helpers for benchmark scripts: timing and writing results into BENCHMARKS.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


def median_seconds(fn: Callable[[], object], min_time: float = 1.0, warmup: int = 2, min_repeats: int = 5) -> float:
    """Median wall time of ``fn`` over at least ``min_repeats`` runs and ``min_time`` seconds."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_time:
        begin = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (as results name their files)."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def percent(share: object) -> str:
    """A share (0 to 1, e.g. a black share) as a percentage; "-" where it was not measured."""
    return f"{100 * share:.1f} %" if isinstance(share, (int, float)) else "-"


def hardware() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def write_section(name: str, body: str, command: str, measured_on: str | None = None,
                  date: str | None = None) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md, stamped with command, hardware, date.

    ``measured_on`` and ``date`` describe results measured elsewhere (default: this machine, today).
    """
    stamp = (f"Command: `{command}`  \nHardware: {measured_on or hardware()}  \n"
             f"Date: {date or datetime.date.today().isoformat()}\n")
    section = f"<!-- {name}:start -->\n{stamp}\n{body.rstrip()}\n<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + f"\n\n{section}\n"
    BENCHMARKS_MD.write_text(text)


def plot_curves(curves: dict[str, list[float]], path: Path, ylabel: str, title: str, log: bool = True,
                legend: dict[str, object] | None = None) -> None:
    """One line per curve against the lap number, saved as a PNG (``legend``: arguments of ``Axes.legend``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), dpi=120)
    for name, values in curves.items():
        axis.plot(range(len(values)), values, marker="o", markersize=3, label=name)
    if log:
        axis.set_yscale("log")
    axis.set_xlabel("lap")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(**(legend or {}))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
