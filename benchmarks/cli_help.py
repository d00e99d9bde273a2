"""How fast the command line answers ``--help`` (and a bad argument): issue 17's target is under 1 s.

Each round runs every command once, in a freshly shuffled order (so a busy moment of the machine
falls on different commands), as a new ``python -m diffem ... --help`` process; the table gives
the median, the fastest and the slowest round of each. For scale it also times a bare interpreter
start and ``import torch``, which the CLI no longer pays before parsing.

    python benchmarks/cli_help.py --rounds 9 --write
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diffem.cli import build_parser  # noqa: E402  (light: no torch)

TARGET_SECONDS = 1.0
BAD_ARGUMENT = ["train", "--method", "em-mmps", "--observations", "x", "--out", "y", "--laps", "0"]


def subcommand_names() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


def cases(python: str) -> dict[str, list[str]]:
    """Label -> command line: the CLI's answers, then the two references."""
    cli = [python, "-m", "diffem"]
    table = {"--help": [*cli, "--help"]}
    table.update({f"{name} --help": [*cli, name, "--help"] for name in subcommand_names()})
    table["bad argument (train --laps 0)"] = [*cli, *BAD_ARGUMENT]
    table["reference: python -c pass"] = [python, "-c", "pass"]
    table["reference: python -c 'import torch'"] = [python, "-c", "import torch"]
    return table


def time_once(command: list[str], expected_code: int) -> float:
    begin = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    seconds = time.perf_counter() - begin
    if result.returncode != expected_code:
        raise SystemExit(f"{' '.join(command)} exited with {result.returncode}: {result.stderr.strip()}")
    return seconds


def measure(table: dict[str, list[str]], rounds: int, seed: int) -> dict[str, list[float]]:
    """Interleaved rounds in shuffled order; one warm-up round (file cache) is not counted."""
    rng = random.Random(seed)
    times: dict[str, list[float]] = {label: [] for label in table}
    for index in range(rounds + 1):
        labels = list(table)
        rng.shuffle(labels)
        for label in labels:
            seconds = time_once(table[label], 2 if label.startswith("bad argument") else 0)
            if index > 0:
                times[label].append(seconds)
    return times


def report(times: dict[str, list[float]], rounds: int, loads: tuple[float, float], note: str = "") -> str:
    lines = ["`python -m diffem ... --help` as a new process each time (what a user waits for), "
             f"{rounds} interleaved rounds in shuffled order after one warm-up round. Load average (1 min) "
             f"{loads[0]:.2f} at the start and {loads[1]:.2f} at the end: the machine was shared with other work.",
             "", f"| command | median s | fastest s | slowest s | target (< {TARGET_SECONDS:g} s) |", "|---|---|---|---|---|"]
    for label, values in times.items():
        median = statistics.median(values)
        verdict = "" if label.startswith("reference") else ("met" if median < TARGET_SECONDS else "MISSED")
        lines.append(f"| `{label}` | {median:.3f} | {min(values):.3f} | {max(values):.3f} | {verdict} |")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffles")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to time")
    parser.add_argument("--write", action="store_true", help="write the cli-help section of BENCHMARKS.md")
    parser.add_argument("--note", default="", help="a paragraph to add under the table")
    args = parser.parse_args()
    start_load = os.getloadavg()[0]
    times = measure(cases(args.python), args.rounds, args.seed)
    text = report(times, args.rounds, (start_load, os.getloadavg()[0]), args.note)
    print(text)
    if args.write:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from common import write_section

        write_section("cli-help", text, f"python benchmarks/cli_help.py --rounds {args.rounds} --write"
                                        + (" --note ..." if args.note else ""))


if __name__ == "__main__":
    main()
