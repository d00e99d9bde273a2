"""Robustness of the served app under load and under a cancel storm, over loopback only.

Starts the real server in a subprocess exactly like production (``python app.py --host
127.0.0.1 --port P``, so ``queue(max_size=16, default_concurrency_limit=1)`` and the restore
event's own ``concurrency_limit=2``) over the shipped ``checkpoints/``, then drives it with
``gradio_client``:

* Load: N concurrent sessions (one ``Client`` each, released together by a barrier) each run one
  short restoration; every request is classified as completed, queue full (``QueueError``) or
  failed (anything else, message kept). Reports p50/p95 latency, the server's peak RSS during the
  round (process and children, sampled every 0.2 s), RSS a few seconds after the round against
  the baseline taken after a warm-up request, and whether the server still serves afterwards.
* Cancel storm: many long restorations started from a few threads and cancelled once they stream;
  afterwards one normal request must complete. Reports server threads and RSS before/after.

Every wait is bounded (per-request timeout), the server is killed on exit even on error, and the
results replace the ``robustness`` section of BENCHMARKS.md.

    python benchmarks/robustness.py [--sizes 8 32] [--storm 40] [--steps 8] [--storm-steps 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import write_section  # noqa: E402
from gradio_client import Client  # noqa: E402
from gradio_client.utils import QueueError  # noqa: E402
from served_app import (RssSampler, new_client, restoration_args, serving, settle_rss, thread_count,  # noqa: E402
                        tree_rss_mib)


ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "examples" / "fashion-test-0000-boot.png"
PRIOR = "em-mmps-fashion-mask75"
COMPLETED, QUEUE_FULL, FAILED = "completed", "queue full", "failed"
MEMORY_SLACK = (0.15, 100.0)  # memory is "back" within +15 % or +100 MiB of the baseline
THREAD_SLACK = 4


@dataclass
class Outcome:
    kind: str
    seconds: float
    message: str = ""


@dataclass
class RoundResult:
    size: int
    outcomes: list[Outcome]
    baseline_mib: float
    peak_mib: float
    after_mib: float
    server_up: bool
    wall_s: float

    def count(self, kind: str) -> int:
        return sum(o.kind == kind for o in self.outcomes)


@dataclass
class StormResult:
    streams: int
    streamed_before_cancel: int
    errors: list[str]
    threads_before: int
    threads_after: int
    rss_before_mib: float
    rss_after_mib: float
    follow_up: Outcome
    wall_s: float


# --- requests -----------------------------------------------------------------------------------
def restore_args(steps: int) -> tuple[object, ...]:
    return restoration_args(PRIOR, IMAGE, steps=steps, samples=1)


def classify(error: BaseException) -> Outcome:
    if isinstance(error, QueueError):
        return Outcome(QUEUE_FULL, 0.0, str(error))
    if isinstance(error, TimeoutError):
        return Outcome(FAILED, 0.0, "timed out (request hung)")
    return Outcome(FAILED, 0.0, f"{type(error).__name__}: {error}")


def run_request(client: Client, steps: int, timeout: float) -> Outcome:
    begin = time.perf_counter()
    job = None
    try:
        job = client.submit(*restore_args(steps), api_name="/restore")
        final = job.result(timeout=timeout)
    except BaseException as error:  # noqa: BLE001 - every failure is classified and reported
        if job is not None and isinstance(error, TimeoutError):
            job.cancel()
        outcome = classify(error)
        outcome.seconds = time.perf_counter() - begin
        return outcome
    seconds = time.perf_counter() - begin
    status = str(final[1]) if isinstance(final, (tuple, list)) and len(final) > 1 else repr(final)
    return Outcome(COMPLETED if "done" in status else FAILED, seconds, "" if "done" in status else status)


# --- scenarios ----------------------------------------------------------------------------------
def load_round(url: str, pid: int, size: int, steps: int, timeout: float, baseline_mib: float,
               settle_s: float) -> RoundResult:
    """``size`` sessions, each with its own Client, submit one restoration at the same moment."""
    barrier = threading.Barrier(size)

    def session(_: int) -> Outcome:
        try:
            client = new_client(url)
        except BaseException as error:  # noqa: BLE001
            barrier.abort()
            return classify(error)
        try:
            barrier.wait(timeout=120)
            return run_request(client, steps, timeout)
        except threading.BrokenBarrierError:
            return Outcome(FAILED, 0.0, "barrier broken (a session could not connect)")
        finally:
            client.close()

    begin = time.perf_counter()
    with RssSampler(pid) as sampler, ThreadPoolExecutor(size) as pool:
        outcomes = list(pool.map(session, range(size)))
    wall = time.perf_counter() - begin
    after = settle_rss(pid, settle_s)
    up = server_serves(url, steps, timeout)
    return RoundResult(size, outcomes, baseline_mib, sampler.peak_mib, after, up, wall)


def server_serves(url: str, steps: int, timeout: float) -> bool:
    client = new_client(url)
    try:
        return run_request(client, steps, timeout).kind == COMPLETED
    finally:
        client.close()


def storm_stream(client: Client, steps: int, wait_s: float) -> bool:
    """Start one long stream, cancel it once it streams (or after ``wait_s``); True if it streamed."""
    job = client.submit(*restore_args(steps), api_name="/restore")
    deadline = time.monotonic() + wait_s
    while not job.outputs() and time.monotonic() < deadline and not job.done():
        time.sleep(0.02)
    streamed = bool(job.outputs())
    job.cancel()
    return streamed


def cancel_storm(url: str, pid: int, streams: int, workers: int, steps: int, wait_s: float, follow_steps: int,
                 timeout: float, settle_s: float) -> StormResult:
    threads_before, rss_before = thread_count(pid), tree_rss_mib(pid)
    errors: list[str] = []
    streamed = 0
    lock = threading.Lock()

    def worker(index: int) -> None:
        nonlocal streamed
        client = new_client(url)
        try:
            for _ in range(index, streams, workers):
                try:
                    hit = storm_stream(client, steps, wait_s)
                except BaseException as error:  # noqa: BLE001
                    with lock:
                        errors.append(f"{type(error).__name__}: {error}")
                    continue
                with lock:
                    streamed += hit
        finally:
            client.close()

    begin = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(worker, range(workers)))
    wall = time.perf_counter() - begin
    client = new_client(url)
    try:
        follow = run_request(client, follow_steps, timeout)
    finally:
        client.close()
    rss_after = settle_rss(pid, settle_s)
    return StormResult(streams, streamed, errors, threads_before, thread_count(pid), rss_before, rss_after,
                       follow, wall)


# --- report -------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def memory_back(before: float, after: float) -> bool:
    fraction, mib = MEMORY_SLACK
    return after <= max(before * (1 + fraction), before + mib)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def load_table(rounds: list[RoundResult]) -> list[str]:
    lines = ["| N | completed | queue full | failed | p50 s | p95 s | round wall s | peak RSS MiB "
             "| RSS after / baseline MiB | server up after |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|"]
    for r in rounds:
        times = [o.seconds for o in r.outcomes if o.kind == COMPLETED]
        lines.append(f"| {r.size} | {r.count(COMPLETED)} | {r.count(QUEUE_FULL)} | {r.count(FAILED)} "
                     f"| {percentile(times, 50):.2f} | {percentile(times, 95):.2f} | {r.wall_s:.1f} "
                     f"| {r.peak_mib:.0f} | {r.after_mib:.0f} / {r.baseline_mib:.0f} | {'yes' if r.server_up else 'NO'} |")
    return lines


def messages(rounds: list[RoundResult]) -> list[str]:
    lines = []
    for r in rounds:
        seen: dict[tuple[str, str], int] = {}
        for o in r.outcomes:
            if o.kind != COMPLETED:
                seen[(o.kind, o.message)] = seen.get((o.kind, o.message), 0) + 1
        for (kind, message), count in sorted(seen.items()):
            lines.append(f"- N = {r.size}, {kind} ×{count}: `{message[:300]}`")
    return lines


def report(rounds: list[RoundResult], storm: StormResult, args: argparse.Namespace, start_threads: int) -> str:
    lines = [f"Real server (`python app.py`, queue max_size 16, restore concurrency 2) on loopback, prior "
             f"`{PRIOR}`, MMPS/DDPM, {args.steps} steps, 1 sample, per-request timeout {args.timeout:.0f} s. "
             f"RSS = server process and children, sampled every 0.2 s; 'after' = {args.settle:.0f} s after the "
             f"round. Baseline after one warm-up request.", "",
             "**Load** (N sessions, one `gradio_client.Client` each, submitted together via a barrier):", ""]
    lines += load_table(rounds)
    detail = messages(rounds)
    if detail:
        lines += ["", "Messages of requests that did not complete:", *detail]
    lines += ["", f"**Cancel storm**: {storm.streams} streams of {args.storm_steps} steps from {args.workers} "
                  f"threads, each cancelled once it streamed (or after {args.cancel_wait:.0f} s); "
                  f"{storm.streamed_before_cancel} had streamed before their cancel; {len(storm.errors)} client errors; "
                  f"{storm.wall_s:.1f} s. Server threads {storm.threads_before} → {storm.threads_after} "
                  f"(at start-up {start_threads}); RSS {storm.rss_before_mib:.0f} → {storm.rss_after_mib:.0f} MiB. "
                  f"Follow-up {args.steps}-step request: {storm.follow_up.kind} in {storm.follow_up.seconds:.2f} s"
                  + (f" (`{storm.follow_up.message[:200]}`)" if storm.follow_up.message else "") + "."]
    if storm.errors:
        lines.append(f"Storm client errors (first): `{storm.errors[0][:300]}`")
    accepted_ok = all(o.kind in (COMPLETED, QUEUE_FULL) for r in rounds for o in r.outcomes)
    full_clear = all("queue is full" in o.message.lower() for r in rounds for o in r.outcomes if o.kind == QUEUE_FULL)
    lines += ["", "Checks:",
              f"- {verdict(all(r.server_up for r in rounds))}: server up after every load round",
              f"- {verdict(accepted_ok)}: every request completed or got a queue-full error",
              f"- {verdict(full_clear)}: every queue-full answer says so (`Queue is full! ...`)",
              f"- {verdict(all(memory_back(r.baseline_mib, r.after_mib) for r in rounds))}: RSS back within "
              f"+{MEMORY_SLACK[0]:.0%} or +{MEMORY_SLACK[1]:.0f} MiB of the baseline after each round",
              f"- {verdict(storm.follow_up.kind == COMPLETED and not storm.errors)}: the server serves normally "
              f"after the cancel storm",
              f"- {verdict(storm.threads_after <= storm.threads_before + THREAD_SLACK)}: no thread leak "
              f"(threads after ≤ before + {THREAD_SLACK})",
              f"- {verdict(memory_back(storm.rss_before_mib, storm.rss_after_mib))}: no memory growth over the storm"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--steps", type=int, default=8, help="steps of a load-round restoration")
    parser.add_argument("--storm", type=int, default=40, help="streams started and cancelled")
    parser.add_argument("--storm-steps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4, help="threads of the cancel storm")
    parser.add_argument("--cancel-wait", type=float, default=5.0, help="cancel a stream after this if it never streams")
    parser.add_argument("--timeout", type=float, default=300.0, help="per-request timeout, seconds")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before RSS is read after a round")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    with serving("diffem-robustness-") as (url, server):
        start_threads = thread_count(server.pid)
        if not server_serves(url, args.steps, args.timeout):
            raise RuntimeError("the warm-up request did not complete; see the server log")
        baseline = settle_rss(server.pid, 1.0)
        rounds = []
        for size in args.sizes:
            rounds.append(load_round(url, server.pid, size, args.steps, args.timeout, baseline, args.settle))
            print(f"N = {size}: done in {rounds[-1].wall_s:.1f} s", flush=True)
        storm = cancel_storm(url, server.pid, args.storm, args.workers, args.storm_steps, args.cancel_wait,
                             args.steps, args.timeout, args.settle)
        body = report(rounds, storm, args, start_threads)
    print(body)
    if not args.no_write:
        write_section("robustness", body, "python benchmarks/robustness.py")


if __name__ == "__main__":
    main()
