"""Soak test of the served demo: many start/cancel cycles, then many completed restorations, on one server.

The real server (``python app.py`` over ``checkpoints/``) in a subprocess, driven by one
``gradio_client.Client`` over loopback. Phase 1 starts a long restoration, waits for its first
streamed frame and cancels it, ``--cycles`` times. Phase 2 completes ``--restorations`` short
restorations. Every ``--every`` requests the server's RSS (process and children) and thread count
are read from ``/proc``: the curve must level off (the second half of each phase grows by at most
``RSS_SLACK_MIB`` and ``THREAD_SLACK`` threads) and no request may fail. Results replace the
``app-soak`` section of BENCHMARKS.md.

    python benchmarks/app_soak.py [--cycles 200] [--restorations 200] [--every 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, write_section  # noqa: E402
from served_app import new_client, restoration_args, serving, settle_rss, thread_count, tree_rss_mib  # noqa: E402


PRIOR = "diffem-fashion-mask75-prior"
IMAGE = ROOT / "examples" / "fashion-test-0000-boot.png"
RSS_SLACK_MIB = 30.0
THREAD_SLACK = 2
REQUEST_TIMEOUT = 120.0


@dataclass
class Phase:
    name: str
    points: list[tuple[int, float, int]] = field(default_factory=list)  # (requests so far, RSS MiB, threads)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def levels_off(self) -> tuple[bool, float, int]:
        """Growth over the phase's second half (RSS MiB, threads) and whether both stay in their slack."""
        half = self.points[len(self.points) // 2:]
        rss_growth = max(p[1] for p in half) - half[0][1]
        thread_growth = max(p[2] for p in half) - half[0][2]
        return rss_growth <= RSS_SLACK_MIB and thread_growth <= THREAD_SLACK, rss_growth, thread_growth


def start_and_cancel(client: object, steps: int) -> None:
    job = client.submit(*restoration_args(PRIOR, IMAGE, steps=steps, samples=4), api_name="/restore")
    deadline = time.monotonic() + REQUEST_TIMEOUT
    while not job.outputs() and not job.done():
        if time.monotonic() > deadline:
            raise TimeoutError("no frame before the timeout")
        time.sleep(0.01)
    job.cancel()


def complete(client: object, steps: int) -> None:
    final = client.submit(*restoration_args(PRIOR, IMAGE, steps=steps, samples=4),
                          api_name="/restore").result(timeout=REQUEST_TIMEOUT)
    if "done" not in str(final[1]):
        raise RuntimeError(f"unexpected final status {final[1]!r}")


def run_phase(name: str, request: object, count: int, every: int, pid: int) -> Phase:
    phase = Phase(name, [(0, tree_rss_mib(pid), thread_count(pid))])
    begin = time.perf_counter()
    for index in range(1, count + 1):
        try:
            request()
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            phase.errors.append(f"{type(error).__name__}: {error}")
        if index % every == 0 or index == count:
            phase.points.append((index, settle_rss(pid, 0.5), thread_count(pid)))
            print(f"{name}: {index}/{count}, RSS {phase.points[-1][1]:.0f} MiB, threads {phase.points[-1][2]}",
                  flush=True)
    phase.seconds = time.perf_counter() - begin
    return phase


def report(phases: list[Phase], args: argparse.Namespace, start: tuple[float, int]) -> str:
    lines = [f"Real server (`python app.py`, shipped checkpoints), prior `{PRIOR}`, MMPS/DDPM, 4 samples, one "
             f"`gradio_client.Client` over loopback. Start/cancel: a {args.long_steps}-step restoration cancelled "
             f"at its first streamed frame; completed: {args.steps}-step restorations. RSS (process and children) "
             f"and threads read every {args.every} requests, 0.5 s after the last one. After start-up and one "
             f"warm-up request: RSS {start[0]:.0f} MiB, {start[1]} threads.", ""]
    for phase in phases:
        ok, rss_growth, thread_growth = phase.levels_off()
        lines += [f"**{phase.name}** ({len(phase.points) - 1} readings, {phase.seconds:.0f} s, "
                  f"{len(phase.errors)} errors):", "", "| requests | RSS MiB | threads |", "|---:|---:|---:|"]
        lines += [f"| {n} | {rss:.0f} | {threads} |" for n, rss, threads in phase.points]
        lines += ["", f"- {'PASS' if ok else '**FAIL**'}: levels off over the second half (RSS {rss_growth:+.0f} MiB, "
                      f"limit +{RSS_SLACK_MIB:.0f}; threads {thread_growth:+d}, limit +{THREAD_SLACK})",
                  f"- {'PASS' if not phase.errors else '**FAIL**'}: no request failed"
                  + (f" (first: `{phase.errors[0][:200]}`)" if phase.errors else ""), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=200, help="start/cancel cycles")
    parser.add_argument("--restorations", type=int, default=200, help="completed restorations")
    parser.add_argument("--every", type=int, default=20, help="read RSS and threads every this many requests")
    parser.add_argument("--long-steps", type=int, default=1000, help="steps of a restoration that gets cancelled")
    parser.add_argument("--steps", type=int, default=16, help="steps of a completed restoration")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    with serving("diffem-soak-") as (url, server):
        client = new_client(url)
        complete(client, args.steps)
        start = (settle_rss(server.pid, 1.0), thread_count(server.pid))
        phases = [run_phase("start/cancel cycles", lambda: start_and_cancel(client, args.long_steps), args.cycles,
                            args.every, server.pid),
                  run_phase("completed restorations", lambda: complete(client, args.steps), args.restorations,
                            args.every, server.pid)]
        client.close()
    body = report(phases, args, start)
    print(body)
    if not args.no_write:
        write_section("app-soak", body, "python benchmarks/app_soak.py")


if __name__ == "__main__":
    main()
