"""How fast the served demo answers a visitor, against the bare sampler, in one interleaved run.

The real server (``python app.py`` over ``checkpoints/``) runs in a subprocess and is driven with
``gradio_client`` over loopback, with the page's defaults (prior, example, corruption, method,
sampler, steps, samples; the Compare tab's default lanes). Each round runs, in a shuffled order:

- the default restoration through the server: time to the first streamed frame and in all;
- the same restoration with the bare sampler in this process (no server, no frames);
- the default comparison through the server, and the same race bare.

Medians over the rounds; the streaming overhead is served / bare - 1. Targets on a 2-core CPU
(a free CPU Space has 2 vCPUs): first frame under 0.5 s, the default restoration under 3 s,
overhead under 10 %. The defaults are then weighed against other (steps, samples) choices:
PSNR/SSIM of the posterior mean on ``--count`` held-out Fashion-MNIST test images observed like
the page's default, and the bare sampler's median time for one image. Results replace the
``app-latency`` section of BENCHMARKS.md.

    python benchmarks/app_latency.py [--rounds 7] [--count 16]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import ROOT, hardware, write_section  # noqa: E402
from served_app import new_client, restoration_args, serving  # noqa: E402
from gradio_client import handle_file  # noqa: E402

import app  # noqa: E402
from diffem.app.catalog import best_learned_prior, starting_point  # noqa: E402
from diffem.app.compute import run_computed  # noqa: E402
from diffem.app.controls import method_option_values, observation_controls  # noqa: E402
from diffem.app.stream import FRAME_INTERVAL, make_lane, race, sampler_frames  # noqa: E402
from diffem.posterior import method_cost  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "app-latency.json"
TARGETS = {"first_frame_s": 0.5, "restore_s": 3.0, "overhead": 0.10}
COMPARE_SAMPLES = 4


class Defaults:
    """The page's defaults, read from the app itself."""

    def __init__(self) -> None:
        best = best_learned_prior(list(app.REGISTRY.entries.values()))
        assert best is not None, "no prior learned from corrupted data is installed"
        self.prior = best.name
        self.start = starting_point(best)
        self.image = Path(app.examples()[0][0])
        self.lanes = [lane for lane in app.default_lanes(app.REGISTRY, app.LANES) if lane]
        self.budget = method_cost("mmps", None, app.DEFAULT_STEPS).total  # the Compare tab's default equal cost

    def restore_args(self) -> tuple[object, ...]:
        return restoration_args(self.prior, self.image, app.DEFAULT_STEPS, app.DEFAULT_SAMPLES, self.start.method,
                                app.DEFAULT_SAMPLER, self.start.corruption, self.start.amount)

    def compare_args(self) -> tuple[object, ...]:
        lanes = (self.lanes + [""] * app.LANES)[:app.LANES]
        return (*observation_controls(handle_file(str(self.image)), self.start.corruption, self.start.amount), *lanes,
                COMPARE_SAMPLES, app.DEFAULT_STEPS, True, self.budget, True, *method_option_values())

    def observation(self, prior: str) -> object:
        controls = observation_controls(str(self.image), self.start.corruption, self.start.amount)
        return app.make_observation(prior, *controls)


def served_restoration(url: str, defaults: Defaults) -> dict[str, float]:
    client = new_client(url)
    try:
        begin = time.perf_counter()
        job = client.submit(*defaults.restore_args(), api_name="/restore")
        first = None
        while not job.done():
            if first is None and job.outputs():
                first = time.perf_counter() - begin
            time.sleep(0.005)
        final = job.result()
        total = time.perf_counter() - begin
        assert "done" in str(final[1]), final[1]
        return {"first_frame_s": first if first is not None else total, "restore_s": total,
                "frames": float(len(job.outputs()))}
    finally:
        client.close()


def bare_restoration(defaults: Defaults) -> dict[str, float]:
    bundle = app.REGISTRY.bundle(defaults.prior)
    observation = defaults.observation(defaults.prior)
    begin = time.perf_counter()
    for _ in sampler_frames(bundle, observation, defaults.start.method, app.DEFAULT_SAMPLER, app.DEFAULT_STEPS,
                            app.DEFAULT_SAMPLES, 0, None, app.REGISTRY.entry(defaults.prior).tuned):
        pass
    return {"bare_restore_s": time.perf_counter() - begin}


def served_comparison(url: str, defaults: Defaults) -> dict[str, float]:
    client = new_client(url)
    try:
        begin = time.perf_counter()
        client.submit(*defaults.compare_args(), api_name="/compare").result()
        return {"compare_s": time.perf_counter() - begin}
    finally:
        client.close()


def bare_comparison(defaults: Defaults) -> dict[str, float]:
    begin = time.perf_counter()
    lanes = []
    for choice in defaults.lanes:
        method, _, prior = choice.partition(" · ")
        lanes.append(make_lane(app.REGISTRY.bundle(prior), prior, defaults.observation(prior), method,
                               app.DEFAULT_SAMPLER, app.DEFAULT_STEPS, COMPARE_SAMPLES, 0, None,
                               app.REGISTRY.entry(prior).tuned, defaults.budget, tuned_knobs=True))
    for _ in race(lanes, interval=float("inf")):
        pass
    return {"bare_compare_s": time.perf_counter() - begin}


def interleaved(measures: dict[str, Callable[[], dict[str, float]]], rounds: int, seed: int) -> dict[str, list[float]]:
    """Every measure once a round, in a shuffled order; all figures kept."""
    shuffler = random.Random(seed)
    figures: dict[str, list[float]] = {}
    for index in range(rounds):
        order = list(measures)
        shuffler.shuffle(order)
        for name in order:
            for key, value in measures[name]().items():
                figures.setdefault(key, []).append(value)
        print(f"round {index + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in figures.items()), flush=True)
    return figures


CANDIDATES = ((16, 4), (32, 4), (64, 4), (64, 1), (128, 4))


def candidate_quality(defaults: Defaults, count: int, rounds: int, seed: int) -> list[dict[str, float]]:
    """PSNR/SSIM of the mean for each (steps, samples) on ``count`` test images; the median time for one
    image over ``rounds`` interleaved rounds (shuffled order). All torch work on the app's compute thread."""
    from diffem.data.fashion_mnist import load_fashion_mnist
    from diffem.metrics import psnr, ssim
    from diffem.operators import parse_corruption
    from diffem.restore import observe, restore

    bundle = app.REGISTRY.bundle(defaults.prior)
    images = load_fashion_mnist("test")[0][-count:]  # the last test images: never among the page's examples
    operator = parse_corruption(f"{defaults.start.corruption}:{defaults.start.amount}", 0.01)

    def restored(index: int, steps: int, samples: int) -> tuple[float, float, float]:
        y, drawn = observe(bundle.scaling.to_model(images[index]), operator, index)
        result = restore(bundle, y, drawn, defaults.start.method, samples, steps, app.DEFAULT_SAMPLER, index)
        mean = bundle.scaling.to_pixels(result.mean)[None]
        return float(psnr(mean, images[index][None])), float(ssim(mean, images[index][None])), result.seconds

    rows = []
    for steps, samples in CANDIDATES:
        scores = [run_computed(restored, index, steps, samples) for index in range(len(images))]
        rows.append({"steps": steps, "samples": samples, "psnr": statistics.mean(s[0] for s in scores),
                     "ssim": statistics.mean(s[1] for s in scores), "times": []})
    shuffler = random.Random(seed)
    for _ in range(rounds):
        for row in shuffler.sample(rows, len(rows)):
            row["times"].append(run_computed(restored, 0, row["steps"], row["samples"])[2])
    for row in rows:
        row["seconds"] = statistics.median(row.pop("times"))
        print(f"candidate {row['steps']} steps x {row['samples']}: {row}", flush=True)
    return rows


def quality_table(rows: list[dict[str, float]], count: int) -> list[str]:
    lines = ["", f"Choosing the defaults: the posterior mean on {count} held-out Fashion-MNIST test images (the last "
                 f"{count}), observed as the page's default, and the bare sampler's median time for one image "
                 f"(interleaved rounds):", "", "| steps | samples | PSNR of the mean | SSIM | bare seconds | |",
             "|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        chosen = row["steps"] == app.DEFAULT_STEPS and row["samples"] == app.DEFAULT_SAMPLES
        lines.append(f"| {row['steps']} | {row['samples']} | {row['psnr']:.2f} dB | {row['ssim']:.3f} | "
                     f"{row['seconds']:.2f} | {'**default**' if chosen else ''} |")
    return lines


def verdict(value: float, target: float, unit: str = "s") -> str:
    if value < target:
        return "met"
    return f"**missed** by {(value - target) * 100:.0f} points" if unit == "%" else \
        f"**missed** by {value - target:.2f} {unit}"


def report(medians: dict[str, float], defaults: Defaults, rounds: int, quality: list[str]) -> str:
    overhead_restore = medians["restore_s"] / medians["bare_restore_s"] - 1
    overhead_compare = medians["compare_s"] / medians["bare_compare_s"] - 1
    lines = [f"The served app (`python app.py`, shipped checkpoints) driven by `gradio_client` over loopback, against "
             f"the bare sampler in the benchmark's own process; medians of {rounds} interleaved rounds (shuffled "
             f"order). Defaults: prior `{defaults.prior}`, example `{defaults.image.name}`, "
             f"{defaults.start.corruption} {defaults.start.amount}, {defaults.start.method} "
             f"({app.DEFAULT_SAMPLER}, {app.DEFAULT_STEPS} steps, {app.DEFAULT_SAMPLES} samples, GMRES k = 1); "
             f"comparison: {' vs '.join(defaults.lanes)}, {COMPARE_SAMPLES} samples each, at an equal cost of "
             f"{defaults.budget} network calls + VJPs a sample, each lane with the knobs tuned at that cost "
             f"(*Tuned knobs*, the tab's default).", "",
             "| figure | served | bare sampler | overhead | target |", "|---|---:|---:|---:|---|",
             f"| time to the first streamed frame | {medians['first_frame_s']:.2f} s | | | < 0.5 s: "
             f"{verdict(medians['first_frame_s'], TARGETS['first_frame_s'])} |",
             f"| default restoration, in all | {medians['restore_s']:.2f} s | {medians['bare_restore_s']:.2f} s | "
             f"{overhead_restore:+.0%} | < 3 s: {verdict(medians['restore_s'], TARGETS['restore_s'])}; overhead < 10 %: "
             f"{verdict(overhead_restore, TARGETS['overhead'], '%')} |",
             f"| default comparison, in all | {medians['compare_s']:.2f} s | {medians['bare_compare_s']:.2f} s | "
             f"{overhead_compare:+.0%} | |",
             "", f"Frames streamed by the default restoration: {medians['frames']:.0f} "
                 f"(throttled to one every {FRAME_INTERVAL:.2f} s, plus the first and the final)."] + quality
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffled order")
    parser.add_argument("--count", type=int, default=16, help="test images for the choice of defaults (0: skip)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    defaults = Defaults()
    with serving("diffem-latency-") as (url, _):
        served_restoration(url, defaults)  # warm-up: first requests pay one-off costs
        run_computed(bare_restoration, defaults)
        measures = {"served restoration": lambda: served_restoration(url, defaults),
                    "bare restoration": lambda: run_computed(bare_restoration, defaults),
                    "served comparison": lambda: served_comparison(url, defaults),
                    "bare comparison": lambda: run_computed(bare_comparison, defaults)}
        figures = interleaved(measures, args.rounds, args.seed)
    medians = {key: statistics.median(values) for key, values in figures.items()}
    rows = candidate_quality(defaults, args.count, args.rounds, args.seed) if args.count else []
    body = report(medians, defaults, args.rounds, quality_table(rows, args.count) if rows else [])
    print(body)
    if not args.no_write:
        RESULTS.write_text(json.dumps({"hardware": hardware(), "medians": medians, "figures": figures,
                                       "candidates": rows}, indent=2) + "\n")
        write_section("app-latency", body, "python benchmarks/app_latency.py")


if __name__ == "__main__":
    main()
