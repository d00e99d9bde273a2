"""The Compare tab's default race with the knobs tuned at its cost, against the Restore tab's knobs.

At equal cost (the tab's default: 129 network calls + VJPs a sample, what MMPS with k = 1 spends at the
page's 64 steps), *Tuned knobs* gives each lane the knobs tuned on validation images for its prior, the
corruption and the recorded cost nearest (:func:`diffem.tuning.options_at_budget`); without it a lane runs
the Restore tab's (MMPS k = 1; DPS's zeta tuned at 32 steps). This runs the page's default lanes that have
knobs both ways, through what the page calls (:func:`diffem.app.stream.make_lane` and
:func:`~diffem.app.stream.race`), on the first ``--count`` Fashion-MNIST *test* images (the knobs were tuned
on the train split's last images) under each corruption, ``--samples`` samples each (the tab's 4), with the
image's index as the seed of its observation and of both runs. Per lane and corruption: the PSNR of the mean
both ways and their difference paired over the images (``diffem.metrics.paired_difference``, ± its standard
error), 50 % / 90 % interval coverage both ways, and the median over the images of the tuned run's sampler
seconds over the default's (the two runs of an image back to back, in a shuffled order, so both meet the same
load). Results replace the ``compare-tuned`` section of BENCHMARKS.md.

    python benchmarks/compare_tuned.py [--count 16] [--samples 4] [--corruptions mask:0.75 box:0.4 blur:2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from common import write_section  # noqa: E402

import app  # noqa: E402
from diffem.app.compare import SEPARATOR, default_lanes  # noqa: E402
from diffem.app.observation import corruption_operator, observe_picture  # noqa: E402
from diffem.app.stream import Lane, make_lane, race  # noqa: E402
from diffem.app.summary import summarise  # noqa: E402
from diffem.data.fashion_mnist import load_fashion_mnist  # noqa: E402
from diffem.metrics import paired_difference  # noqa: E402
from diffem.options import tuning_grids  # noqa: E402
from diffem.posterior import method_class, method_cost  # noqa: E402

BUDGET = method_cost("mmps", None, app.DEFAULT_STEPS).total  # the Compare tab's default cost


def lanes_with_knobs() -> list[tuple[str, str]]:
    """``(method, prior)`` of the page's default lanes whose method declares knobs to tune."""
    chosen = [lane.partition(SEPARATOR) for lane in default_lanes(app.REGISTRY, app.LANES) if lane]
    return [(method, prior) for method, _, prior in chosen if tuning_grids(method_class(method).Options)]


def run_lane(method: str, prior: str, picture: torch.Tensor, corruption: str, samples: int, seed: int,
             tuned_knobs: bool) -> dict[str, Any]:
    """One lane of the race, run alone to its end: its knobs, steps, figures and sampler seconds."""
    bundle = app.REGISTRY.bundle(prior)
    name, _, level = corruption.partition(":")
    observation = observe_picture(bundle, picture, corruption_operator(name, float(level) if level else None, 0.01),
                                  seed)
    lane: Lane = make_lane(bundle, prior, observation, method, app.DEFAULT_SAMPLER, app.DEFAULT_STEPS, samples, seed,
                           None, app.REGISTRY.entry(prior).tuned, BUDGET, tuned_knobs)
    for _ in race([lane], interval=float("inf")):
        pass
    assert lane.latest is not None
    figures = summarise(bundle, observation, lane.latest.estimate, lane.latest.seconds, lane.steps).figures
    return {"knobs": lane.knobs, "steps": lane.steps, **figures}


def measure(count: int, samples: int, corruptions: list[str], seed: int) -> list[dict[str, Any]]:
    """Every default lane with knobs, tuned and not, on every image of every corruption."""
    images = load_fashion_mnist("test")[0][:count]
    shuffler = random.Random(seed)
    rows = []
    for corruption in corruptions:
        for method, prior in lanes_with_knobs():
            runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
            for index in range(count):
                for tuned_knobs in shuffler.sample([True, False], 2):
                    runs[tuned_knobs].append(run_lane(method, prior, images[index], corruption, samples, index,
                                                      tuned_knobs))
            rows.append(row_of(corruption, method, prior, runs))
            print(rows[-1], flush=True)
    return rows


def row_of(corruption: str, method: str, prior: str, runs: dict[bool, list[dict[str, Any]]]) -> dict[str, Any]:
    """A table row: both settings' knobs, steps, PSNR of the mean and coverage; the paired gain; the time ratio."""
    tuned, default = runs[True], runs[False]

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.mean(r[key] for r in rows)

    return {"corruption": corruption, "lane": f"{method}{SEPARATOR}{prior}",
            "knobs": (default[0]["knobs"], tuned[0]["knobs"]), "steps": (default[0]["steps"], tuned[0]["steps"]),
            "psnr": (mean(default, "psnr_mean"), mean(tuned, "psnr_mean")),
            "gain": paired_difference([r["psnr_mean"] for r in tuned], [r["psnr_mean"] for r in default]),
            "coverage": ((mean(default, "coverage_50"), mean(default, "coverage_90")),
                         (mean(tuned, "coverage_50"), mean(tuned, "coverage_90"))),
            "time_ratio": statistics.median(t["seconds"] / d["seconds"] for t, d in zip(tuned, default))}


def table(rows: list[dict[str, Any]], count: int, samples: int) -> str:
    lines = [f"The Compare tab's default lanes with knobs, at its default cost ({BUDGET} network calls + VJPs a "
             f"sample), on the first {count} Fashion-MNIST test images, {samples} samples each: the Restore tab's "
             "knobs (*Tuned knobs* off) against those tuned for the prior, corruption and cost (on, the default).", "",
             "| corruption | lane | knobs: Restore tab's -> tuned | steps | PSNR of the mean (dB) | tuned - Restore "
             "tab's (± s.e.) | coverage 50 / 90 % | time, tuned / Restore tab's |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        (c50, c90), (t50, t90) = r["coverage"]
        lines.append(f"| {r['corruption']} | {r['lane']} | {r['knobs'][0]} -> {r['knobs'][1]} | "
                     f"{r['steps'][0]} -> {r['steps'][1]} | {r['psnr'][0]:.2f} -> {r['psnr'][1]:.2f} | {r['gain']} | "
                     f"{c50:.2f} / {c90:.2f} -> {t50:.2f} / {t90:.2f} | {r['time_ratio']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--corruptions", nargs="+", default=["mask:0.75", "box:0.4", "blur:2"])
    parser.add_argument("--seed", type=int, default=0, help="of the shuffled order")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.count < 2:
        parser.error("--count must be at least 2 (a paired difference's standard error)")
    torch.set_num_threads(args.threads)
    text = table(measure(args.count, args.samples, args.corruptions, args.seed), args.count, args.samples)
    print(text)
    if not args.no_write:
        command = "python benchmarks/compare_tuned.py " + " ".join(sys.argv[1:])
        write_section("compare-tuned", text, command.strip())


if __name__ == "__main__":
    main()
