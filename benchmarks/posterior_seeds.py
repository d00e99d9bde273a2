"""How much the fashion-cpu table's posterior figures move with the sampler's seed alone.

The same first ``--count`` held-out 75 %-masked test observations, MMPS (GMRES, k = 1), ``--steps`` DDPM steps,
``--samples`` draws each, at seeds 0 .. ``--seeds`` - 1 (seed 0 is the table's): the range and sample standard
deviation of the PSNR of one draw, of the mean of the draws, and of the mean's SSIM. Rows of the table that differ
by less than about twice these figures are not told apart by it.

    python benchmarks/posterior_seeds.py [--prior checkpoints/reference-fashion-clean ...] [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffem.bundle import PriorBundle  # noqa: E402
from diffem.data.observations import load_observation_set  # noqa: E402
from diffem.evaluation import evaluate_posterior  # noqa: E402

FIGURES = ("psnr_single", "psnr_mean", "ssim_mean")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", nargs="+", default=["checkpoints/reference-fashion-clean",
                                                      "checkpoints/em-mmps-fashion-mask75"])
    parser.add_argument("--observations", default="runs/fashion-cpu/obs-mask", help="observation set (test split)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    test = load_observation_set(Path(args.observations), "test")
    for prior in args.prior:
        bundle = PriorBundle.from_pretrained(prior, device="cpu")
        reports = [evaluate_posterior(bundle, test, "mmps", args.count, args.samples, args.steps, seed=seed,
                                      batch_size=args.count) for seed in range(args.seeds)]
        for figure in FIGURES:
            values = [report[figure] for report in reports]
            digits = 3 if figure.startswith("ssim") else 2
            print(f"{prior} {figure}: {min(values):.{digits}f}-{max(values):.{digits}f}, "
                  f"std {statistics.stdev(values):.3f} (seed 0: {values[0]:.{digits}f})", flush=True)


if __name__ == "__main__":
    main()
