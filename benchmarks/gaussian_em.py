"""How many closed-form EM iterations lap 0's Gaussian needs, by mask ratio (issue 19).

Lap 0 of EM-MMPS and DiffEM is a Gaussian fitted to the observations by Monte-Carlo EM
(:mod:`diffem.em.gaussian_em`), and lap 1's M-step learns from posterior draws under it. EM converges
linearly at the rate of the fraction of missing information (Dempster, Laird and Rubin, 1977): from
``N(0, I)``, the excess variance of what the masks hide shrinks by about the masked fraction an
iteration, so the papers' ~16 iterations that suffice at 50 % leave a 90 %-masked fit far from its
fixed point. One fit per mask ratio, continued iteration by iteration; at each checkpoint, one exact
posterior draw (Matheron) of every observation, what lap 1's E-step approximates, judged against the
clean images (known here, not to EM): PSNR over the pixels the masks hide, and the draws' black share
(the clean images': the last column's figure).

    python benchmarks/gaussian_em.py --count 4096 --write
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import percent, write_section  # noqa: E402

from diffem.data.observations import ObservationSet, make_observation_set  # noqa: E402
from diffem.data.sources import load_clean_data  # noqa: E402
from diffem.denoisers import GaussianDenoiser  # noqa: E402
from diffem.em import gaussian_em, gaussian_posterior_sample  # noqa: E402
from diffem.metrics import black_share  # noqa: E402
from diffem.operators import parse_corruption  # noqa: E402

BATCH = 4096


def hidden_psnr_and_black(prior: GaussianDenoiser, observations: ObservationSet, seed: int) -> tuple[float, float]:
    """PSNR over the hidden pixels of one exact posterior draw per observation, and the draws' black share."""
    assert observations.x is not None
    generator = torch.Generator().manual_seed(seed)
    squared, hidden, pixels = 0.0, 0.0, []
    for start in range(0, len(observations), BATCH):
        y, operator = observations.batch(slice(start, start + BATCH))
        draw = observations.scaling.to_pixels(gaussian_posterior_sample(prior, operator, y, generator))
        truth = observations.scaling.to_pixels(observations.x[start:start + BATCH])
        missing = operator.missing(y).to(draw.dtype)
        squared += float(((draw - truth) ** 2 * missing).sum())
        hidden += float(missing.sum())
        pixels.append(draw)
    return 10 * torch.log10(torch.tensor(hidden / squared)).item(), black_share(torch.cat(pixels))


def ratio_rows(clean: torch.Tensor, ratio: float, checkpoints: list[int], rank: int) -> list[str]:
    observations = make_observation_set(clean, parse_corruption(f"mask:{ratio}", sigma_y=0.01), seed=0,
                                        keep_clean=True)
    truth_black = black_share(observations.scaling.to_pixels(clean))
    prior, done, seconds, rows = None, 0, 0.0, []
    for target in checkpoints:
        start = time.perf_counter()
        prior = gaussian_em(observations, target - done, rank, seed=done, batch_size=BATCH, progress=False,
                            prior=prior)
        seconds += time.perf_counter() - start
        done = target
        psnr, black = hidden_psnr_and_black(prior, observations, seed=10_000 + target)
        rows.append(f"| {ratio:.0%} | {target} | {psnr:.2f} | {percent(black)} | {percent(truth_black)} | "
                    f"{seconds:.0f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4096, help="Fashion-MNIST training images, masked")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 0.75, 0.9])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[16, 32, 64, 96])
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    clean = load_clean_data("fashion-mnist").train[:args.count]
    rows = [row for ratio in args.ratios for row in ratio_rows(clean, ratio, sorted(args.checkpoints), args.rank)]
    body = (f"Lap 0's Gaussian (rank {args.rank} + diagonal, `sigma_y = 0.01`) fitted by closed-form EM to the first "
            f"{args.count:,} Fashion-MNIST training images under random masks, one fit per ratio continued to each "
            "checkpoint. At each, one exact posterior draw of every observation (what lap 1's M-step learns from): "
            "PSNR over the hidden pixels against the clean images, and the draws' black share (pixels within two "
            "grey levels of black, `diffem.metrics.black_share`). Seconds: the fit's, summed to that checkpoint, "
            "on this machine.\n\n"
            "| masked | iterations | hidden-pixel PSNR of the draws (dB) | black share | clean images' | seconds |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(body)
    if args.write:
        command = "python benchmarks/gaussian_em.py " + " ".join(sys.argv[1:])
        write_section("gaussian-em", body, command)


if __name__ == "__main__":
    main()
