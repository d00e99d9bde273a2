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


def hardware() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def write_section(name: str, body: str, command: str) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md, stamped with command, hardware, date."""
    stamp = (f"Command: `{command}`  \nHardware: {hardware()}  \n"
             f"Date: {datetime.date.today().isoformat()}\n")
    section = f"<!-- {name}:start -->\n{stamp}\n{body.rstrip()}\n<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + f"\n\n{section}\n"
    BENCHMARKS_MD.write_text(text)
