"""What a bf16 E-step changes (issue 19): MMPS with its network under bf16 autocast, its solve in fp32.

On a GPU the E-step is most of a lap, and bf16 matrix products run about ten times as fast as fp32
ones on an H200's tensor cores, so ``train --estep-precision bf16`` (:mod:`diffem.denoisers.autocast`)
could cut a lap's time. This script measures, on this machine, what it costs in accuracy: the
E-step's own draw (MMPS, GMRES k = 1, ``--sampler`` at ``--steps``) under the shipped EM-MMPS
prior, of the first ``--count`` Fashion-MNIST test images under 75 % random masks, ``--samples``
draws each, once in fp32 and once with the network in bf16, from the same noise:

- PSNR of the draws' mean, 90 % interval coverage (randomised PIT) and spread-skill ratio in each precision;
- how far bf16 moves the draws: the RMS difference of each draw from its fp32 twin, and of the
  two means, over the fp32 posterior's RMS per-pixel spread (1 = as large as the posterior's own
  uncertainty; two independent draws of one posterior differ by about 1.4).

The timing ratio printed is this CPU's, which says nothing of a GPU's tensor cores.

    python benchmarks/estep_precision.py --write
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import ROOT, shown_path, write_section  # noqa: E402

from diffem.bundle import PriorBundle  # noqa: E402
from diffem.data.observations import make_observation_set  # noqa: E402
from diffem.data.sources import load_clean_data  # noqa: E402
from diffem.denoisers import AutocastDenoiser  # noqa: E402
from diffem.guidance import MMPSDenoiser  # noqa: E402
from diffem.metrics import calibration, pit_ranges, psnr, share_inside, within_interval  # noqa: E402
from diffem.operators import parse_corruption  # noqa: E402
from diffem.rng import make_generator  # noqa: E402
from diffem.samplers import make_sampler  # noqa: E402

PRIOR = ROOT / "checkpoints" / "em-mmps-fashion-mask75"
PRECISIONS = ("fp32", "bf16")


def draws(bundle: PriorBundle, network: torch.nn.Module, y: torch.Tensor, operator: object, sampler_name: str,
          steps: int, seed: int) -> torch.Tensor:
    """One MMPS draw per row of ``y`` (the E-step's posterior, estimates clamped to the data range)."""
    clamp = (bundle.scaling.low, bundle.scaling.high)
    posterior = MMPSDenoiser(network, operator, y, solver="gmres", iterations=1, clamp=clamp)
    sampler = make_sampler(sampler_name, bundle.schedule, steps)
    return sampler.sample(posterior, (y.shape[0], *bundle.event_shape), generator=make_generator(seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", type=Path, default=PRIOR)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--sampler", default="analytic-ddpm")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds, each drawing every row once")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    bundle = PriorBundle.from_pretrained(args.prior, device="cpu")
    clean = load_clean_data("fashion-mnist").test[:args.count]
    observations = make_observation_set(clean, parse_corruption("mask:0.75", sigma_y=0.01), seed=0, keep_clean=True)
    rows = torch.arange(args.count).repeat_interleave(args.samples)
    y, operator = observations.y[rows], observations.operator.select(rows)
    networks = {"fp32": bundle.denoiser, "bf16": AutocastDenoiser(bundle.denoiser)}
    results: dict[str, torch.Tensor] = {}
    seconds: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for round_index in range(args.rounds):  # interleaved, the order alternating: a busy moment hits both
        for precision in PRECISIONS if round_index % 2 == 0 else PRECISIONS[::-1]:
            start = time.perf_counter()
            results[precision] = draws(bundle, networks[precision], y, operator, args.sampler, args.steps, seed=1)
            seconds[precision].append(time.perf_counter() - start)
            print(f"round {round_index + 1} {precision}: {seconds[precision][-1]:.0f} s", flush=True)
    truth = observations.scaling.to_pixels(observations.x)
    pixels = {p: observations.scaling.to_pixels(results[p]).reshape(args.count, args.samples, *bundle.event_shape)
              .transpose(0, 1) for p in PRECISIONS}
    spread = pixels["fp32"].std(dim=0).pow(2).mean().sqrt()  # the fp32 posterior's RMS per-pixel spread
    missing = observations.operator.missing(observations.y).bool().expand_as(truth)  # the pixels an E-step fills in
    table = ["| precision of the network | PSNR of the mean (dB) | coverage 90 % | missing pixels | observed pixels | "
             "share of pixels counted | empirical 90 % interval, exact | spread-skill | "
             "draw vs its fp32 twin (RMS / posterior spread) | mean vs fp32 mean (RMS / posterior spread) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for precision in PRECISIONS:
        figures = calibration(pixels[precision], truth)
        low, high, counted = pit_ranges(pixels[precision], truth)
        covered = share_inside(low, high, 0.9)
        exact = within_interval(pixels[precision], truth, 0.9).float()  # the samples' own interval, no resolution
        mean_psnr = float(psnr(pixels[precision].mean(dim=0), truth).mean())
        draw_shift = float((pixels[precision] - pixels["fp32"]).pow(2).mean().sqrt() / spread)
        mean_shift = float((pixels[precision].mean(dim=0) - pixels["fp32"].mean(dim=0)).pow(2).mean().sqrt() / spread)
        table.append(f"| {precision} | {mean_psnr:.2f} | {figures['coverage_90']:.3f} | "
                     f"{float(covered[missing & counted].mean()):.3f} | {float(covered[~missing & counted].mean()):.3f} | "
                     f"{figures['coverage_pixels']:.3f} | "
                     f"{float(exact.mean()):.3f} | {figures['spread_skill']:.3f} | {draw_shift:.3f} | {mean_shift:.3f} |")
    ratio = statistics.median(seconds["bf16"]) / statistics.median(seconds["fp32"])
    text = "\n".join([
        f"Prior: `{shown_path(args.prior)}`. The E-step's draw, MMPS (GMRES, k = 1, estimates clamped) with "
        f"`{args.sampler}` at {args.steps} steps, of the first {args.count} Fashion-MNIST test images under 75 % random "
        f"masks (`sigma_y = 0.01`, seed 0), {args.samples} draws each, in fp32 and with the network under bf16 autocast "
        "(the solve in fp32), from the same noise. Coverage: `diffem.metrics.calibration`'s, by the randomised "
        "PIT with ties within a grey level split, over the pixels where a draw is off the truth by more than half a "
        "grey level (their share is counted; 0.90 when calibrated; with "
        f"{args.samples} draws, one sure and wrong still covers {max(0.0, 1 - (args.samples + 1) * 0.05):.2f}).", "",
        *table, "",
        "The empirical interval of the draws (the former coverage figure; a calibrated posterior's "
        f"{args.samples} draws cover about {(args.samples - 1) / (args.samples + 1) * 90:.0f} % with it) misses "
        "pixels the prior is sure of: on the black background every draw is clamped to exactly 0, and an interval "
        "narrower than a grey level can miss an 8-bit truth that every draw rounds to, so the smallest change of "
        "the draws moves such a pixel out. The randomised PIT leaves out a pixel whose draws all tie with the truth "
        "(it says nothing of calibration) and tells those effects from a real change of the posterior. Chosen: the GPU session runs the E-step's "
        "network in bf16 when its smoke check's bf16 paths run (`tools/gpu_session.sh`), the MMPS solve in fp32.", "",
        f"Time, bf16 against fp32 on this CPU (median of {args.rounds} interleaved rounds): {ratio:.2f}x. A CPU has no "
        "bf16 tensor cores, so this says nothing of the GPU's time, which the GPU session's smoke check measures."])
    print(text)
    if args.write:
        write_section("estep-precision", text, "python benchmarks/estep_precision.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
