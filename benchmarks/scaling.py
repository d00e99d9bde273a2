"""E-step and M-step throughput of EM on 1 and 2 processes (``accelerate launch``), and the scaling efficiency.

Each configuration runs the same 2-lap EM-MMPS on Fashion-MNIST observations (75 % masked) from
scratch with ``python -m diffem train``; lap 2 is timed (its E-step is MMPS through the UNet of lap 1,
its M-step trains the UNet), from the lap's ``metrics.json``:

- E-step throughput: observations per second (one posterior sample each);
- M-step throughput: training images per second (steps x global batch / seconds);
- scaling efficiency of P processes: throughput / (P x throughput of one process with as many
  threads as each of the P has).

On the CPU the processes share the machine's cores (gloo); on a GPU machine each process gets a GPU.

    python benchmarks/scaling.py --observations 1024 --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import write_section  # noqa: E402

from diffem.em.processes import launch_prefix  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]



def run(command: list[str], threads: int | None) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def measure(observations: Path, work: Path, processes: int, threads: int | None, args: argparse.Namespace) -> dict[str, Any]:
    out = work / f"p{processes}-t{threads or 'all'}"
    command = [*launch_prefix(processes), "train", "--method", "em-mmps", "--observations", str(observations),
               "--out", str(out), "--laps", "2", "--steps-per-lap", str(args.steps), "--batch-size", str(args.batch_size),
               "--estep-batch", str(args.estep_batch), "--sampler-steps", str(args.sampler_steps), "--preset", args.preset,
               "--eval-count", "0", "--eval-samples", "0", "--device", args.device, "--quiet"]
    start = time.perf_counter()
    run(command, threads)
    metrics = json.loads((out / "laps" / "lap-0002" / "metrics.json").read_text())
    assert metrics["processes"] == processes, metrics["processes"]
    return {"processes": processes, "threads": threads, "wall_seconds": time.perf_counter() - start,
            "estep_seconds": metrics["estep_seconds"], "mstep_seconds": metrics["mstep_seconds"],
            "estep_rate": args.observations / metrics["estep_seconds"],
            "mstep_rate": args.steps * args.batch_size / metrics["mstep_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=60, help="M-step steps per lap")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch")
    parser.add_argument("--estep-batch", type=int, default=128, help="observations per E-step chunk")
    parser.add_argument("--sampler-steps", type=int, default=16)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--section", default="scaling")
    args = parser.parse_args()
    if args.device == "cpu":
        cores = os.cpu_count() or 2
        configs = [(1, 1), (1, cores), (2, max(cores // 2, 1))]
    else:
        configs = [(1, None)] + ([(2, None)] if torch.cuda.device_count() >= 2 else [])
    with tempfile.TemporaryDirectory(prefix="diffem-scaling-") as tmp:
        work = Path(tmp)
        observations = work / "observations"
        run([*launch_prefix(1), "make-observations", "--data", "fashion-mnist", "--corruption", "mask:0.75",
             "--sigma-y", "0.01", "--limit", str(args.observations), "--test-limit", "64", "--out", str(observations)],
            None)
        results = [measure(observations, work, p, t, args) for p, t in configs]
    for result in results:
        print(json.dumps(result), flush=True)
    write_section(args.section, report(results, args), "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    base = {r["threads"]: r for r in results if r["processes"] == 1}
    lines = [f"EM-MMPS lap 2 on {args.observations} Fashion-MNIST observations (75 % masked), `{args.preset}` UNet, "
             f"E-step MMPS (GMRES k = 1) with {args.sampler_steps} DDPM steps in chunks of {args.estep_batch}, "
             f"M-step {args.steps} steps of global batch {args.batch_size}. Efficiency compares P processes with "
             "P times one process of as many threads as each of them."
             + (" On a CPU the processes share the machine's cores, so `2 x 1` against `1 x 2` is process- against "
                "thread-parallelism on the same cores." if args.device == "cpu" else ""), "",
             "| processes x threads | E-step obs/s | M-step img/s | E-step efficiency | M-step efficiency |",
             "|---|---|---|---|---|"]
    for r in results:
        one = base.get(r["threads"])
        efficiency = {k: (f"{r[k] / (r['processes'] * one[k]):.0%}" if one and r["processes"] > 1 else "-")
                      for k in ("estep_rate", "mstep_rate")}
        lines.append(f"| {r['processes']} x {r['threads'] or 'default'} | {r['estep_rate']:.1f} | {r['mstep_rate']:.1f} | "
                     f"{efficiency['estep_rate']} | {efficiency['mstep_rate']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
