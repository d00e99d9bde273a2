"""How much of the posterior's variance each E-step sampler keeps, on an exact Gaussian posterior.

Under-dispersed E-step samples are what the next M-step learns from, and the loss compounds over
laps (issue 19). Here only the sampler is judged: the prior is a Gaussian fitted to Fashion-MNIST
training images (784 dimensions, full covariance, model scale), the observation a 75 % random mask
of a test image with ``sigma_y = 0.01``, and the exact posterior ``N(m, S)`` is computed in closed
form; its own denoiser ``E[x | x_t, y]`` (a Gaussian denoiser) drives every sampler, so every
error is the sampler's discretisation. MMPS rows use the prior's denoiser inside MMPS instead, as
the E-step does (k solver iterations), so they add MMPS's own error.

Figures over ``--samples`` draws: variance kept ``tr(Cov_hat) / tr(S)`` (1 = all of it), and the
error of the mean ``||mean_hat - m|| / sqrt(tr S)`` (about ``1/sqrt(samples)`` when exact).

    python benchmarks/estep_variance.py --samples 2000 --write
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import write_section  # noqa: E402
from gaussian_reference import gaussian_posterior, operator_matrix  # noqa: E402

from diffem.data.fashion_mnist import load_fashion_mnist  # noqa: E402
from diffem.denoisers import GaussianDenoiser  # noqa: E402
from diffem.guidance import MMPSDenoiser  # noqa: E402
from diffem.operators import RandomMask  # noqa: E402
from diffem.rng import make_generator  # noqa: E402
from diffem.samplers import make_sampler  # noqa: E402
from diffem.scaling import DataScaling  # noqa: E402
from diffem.schedule import VESchedule  # noqa: E402

CALLS_PER_STEP = {"ddpm": 1, "analytic-ddpm": 1, "ddim": 1, "pc": 2, "heun": 2}


def fitted_prior(count: int) -> GaussianDenoiser:
    images, _ = load_fashion_mnist("train")
    flat = DataScaling().to_model(images[:count]).flatten(1).double()
    mean = flat.mean(0)
    cov = torch.cov(flat.T) + 1e-4 * torch.eye(flat.shape[1], dtype=flat.dtype)
    return GaussianDenoiser(mean.reshape(1, 28, 28), cov=cov)


def measure(denoiser: torch.nn.Module, sampler: str, steps: int, samples: int, exact_mean: torch.Tensor,
            exact_cov: torch.Tensor, seed: int) -> dict[str, float]:
    chooser = make_sampler(sampler, VESchedule(sigma_min=1e-3, sigma_max=100.0), steps)
    draws = chooser.sample(denoiser, (samples, 1, 28, 28), generator=make_generator(seed), dtype=torch.float64)
    flat = draws.flatten(1)
    spread = float(torch.trace(torch.cov(flat.T)) / torch.trace(exact_cov))
    bias = float((flat.mean(0) - exact_mean).norm() / torch.trace(exact_cov).sqrt())
    return {"variance_kept": spread, "mean_error": bias}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--fit", type=int, default=20000, help="training images the Gaussian prior is fitted to")
    parser.add_argument("--steps", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--samplers", nargs="+", default=["ddpm", "analytic-ddpm", "ddim", "pc", "heun"])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    prior = fitted_prior(args.fit)
    test, _ = load_fashion_mnist("test")
    x = DataScaling().to_model(test[:1]).double()
    operator = RandomMask(0.01, 0.75).draw(1, (1, 28, 28), make_generator(0))
    y = operator.observe(x, make_generator(1))
    matrix = operator_matrix(operator, (1, 28, 28))
    observed = matrix.abs().sum(1) > 0
    mean, cov = gaussian_posterior(prior.mean.flatten().double(), prior.covariance().double(), matrix[observed], 0.01,
                                   y.flatten()[observed])
    exact = GaussianDenoiser(mean.reshape(1, 28, 28), cov=cov + 1e-10 * torch.eye(784, dtype=cov.dtype)).double()
    rows = []
    for sampler in args.samplers:
        for steps in args.steps:
            result = measure(exact, sampler, steps, args.samples, mean, cov, seed=steps)
            rows.append((f"{sampler}, exact posterior", steps, CALLS_PER_STEP[sampler] * steps + 1, result))
            print(rows[-1], flush=True)
    for iterations in (1, 3):
        mmps = MMPSDenoiser(prior.double(), operator, y, solver="gmres", iterations=iterations)
        for sampler, steps in (("ddpm", 32), ("ddpm", 64), ("analytic-ddpm", 32), ("analytic-ddpm", 64), ("heun", 16),
                               ("heun", 32)):
            result = measure(mmps, sampler, steps, args.samples, mean, cov, seed=steps)
            rows.append((f"{sampler}, MMPS k = {iterations} on the prior", steps,
                         CALLS_PER_STEP[sampler] * steps + 1, result))
            print(rows[-1], flush=True)
    lines = [
        f"Exact Gaussian posterior of one 75 %-masked Fashion-MNIST test image (prior: a full-covariance Gaussian "
        f"fitted to {args.fit:,} training images, 784 dimensions; `sigma_y = 0.01`), {args.samples:,} draws per row. "
        "Variance kept = trace of the draws' covariance over the exact posterior's (1 = all); mean error = "
        f"`||mean - m|| / sqrt(tr S)` (about {1 / args.samples ** 0.5:.3f} from sampling alone). Calls = denoiser calls "
        "per sample (the final denoising included; MMPS adds one VJP per call and k - 1 more per solve).",
        "", "| sampler | steps | calls | variance kept | mean error |", "|---|---|---|---|---|"]
    for name, steps, calls, result in rows:
        lines.append(f"| {name} | {steps} | {calls} | {result['variance_kept']:.3f} | {result['mean_error']:.3f} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("estep-variance", text, f"python benchmarks/estep_variance.py --samples {args.samples} --write")


if __name__ == "__main__":
    main()
