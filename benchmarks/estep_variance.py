"""How much of the posterior's variance each E-step sampler keeps, on an exact Gaussian posterior.

Under-dispersed E-step samples are what the next M-step learns from, and the loss compounds over
laps (issue 19). Here only the sampler is judged: the prior is a Gaussian fitted to Fashion-MNIST
training images (784 dimensions, full covariance, model scale), the observation a 75 % random mask
of a test image with ``sigma_y = 0.01``, and the exact posterior ``N(m, S)`` is computed in closed
form; its own denoiser ``E[x | x_t, y]`` (a Gaussian denoiser) drives every sampler, so every
error is the sampler's discretisation. MMPS rows use the prior's denoiser inside MMPS instead, as
the E-step does (k solver iterations), so they add MMPS's own error.

Figures over ``--samples`` draws: variance kept ``tr(Cov_hat) / tr(S)`` (1 = all of it), the
error of the mean ``||mean_hat - m|| / sqrt(tr S)`` (about ``1/sqrt(samples)`` when exact), and both
in one number, the squared 2-Wasserstein distance of the per-pixel marginals over ``tr S``::

    W2_marginal = sum_i [(mean_hat_i - m_i)^2 + (sd_hat_i - sqrt(S_ii))^2] / tr(S)

(about ``1.5 / samples`` when exact). A sampler that is short of variance and one whose mean is off
both score worse; which matters more is what it weighs. The last table holds MMPS to a budget of
network calls + VJPs per draw and trades solver iterations ``k`` against steps, as the sampler
race does (:func:`diffem.posterior.steps_for_budget`).

    python benchmarks/estep_variance.py --samples 2000 --write
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import write_section  # noqa: E402
from gaussian_reference import gaussian_posterior, operator_matrix  # noqa: E402

from diffem.data.fashion_mnist import load_fashion_mnist  # noqa: E402
from diffem.denoisers import GaussianDenoiser  # noqa: E402
from diffem.guidance import MMPSDenoiser  # noqa: E402
from diffem.operators import RandomMask  # noqa: E402
from diffem.posterior import method_cost, steps_for_budget  # noqa: E402
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
    total = torch.trace(exact_cov)
    offset = flat.mean(0) - exact_mean
    spread = float(torch.trace(torch.cov(flat.T)) / total)
    bias = float(offset.norm() / total.sqrt())
    marginal_w2 = offset.square().sum() + (flat.std(0) - exact_cov.diagonal().sqrt()).square().sum()
    return {"variance_kept": spread, "mean_error": bias, "marginal_w2": float(marginal_w2 / total)}


@dataclass
class PosteriorCase:
    """One masked test image: its operator and observation, and the exact Gaussian posterior ``N(m, S)``."""

    operator: Any
    y: torch.Tensor
    mean: torch.Tensor
    cov: torch.Tensor

    @property
    def exact(self) -> GaussianDenoiser:
        return GaussianDenoiser(self.mean.reshape(1, 28, 28),
                                cov=self.cov + 1e-10 * torch.eye(784, dtype=self.cov.dtype)).double()


def posterior_case(prior: GaussianDenoiser, image: torch.Tensor, index: int) -> PosteriorCase:
    """Test image ``index`` under a 75 % random mask (seeds ``2 index`` for the mask, ``2 index + 1`` for the noise)."""
    x = DataScaling().to_model(image[None]).double()
    operator = RandomMask(0.01, 0.75).draw(1, (1, 28, 28), make_generator(2 * index))
    y = operator.observe(x, make_generator(2 * index + 1))
    matrix = operator_matrix(operator, (1, 28, 28))
    observed = matrix.abs().sum(1) > 0
    mean, cov = gaussian_posterior(prior.mean.flatten().double(), prior.covariance().double(), matrix[observed], 0.01,
                                   y.flatten()[observed])
    return PosteriorCase(operator, y, mean, cov)


def averaged(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(result[key] for result in results) / len(results) for key in results[0]}


def over_cases(cases: list[PosteriorCase], denoiser: Callable[[PosteriorCase], torch.nn.Module], sampler: str,
               steps: int, samples: int) -> dict[str, float]:
    """The figures of each case's draws, averaged over the cases."""
    return averaged([measure(denoiser(case), sampler, steps, samples, case.mean, case.cov, seed=steps)
                     for case in cases])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--images", type=int, default=1, help="test images, each under its own mask (figures averaged)")
    parser.add_argument("--fit", type=int, default=20000, help="training images the Gaussian prior is fitted to")
    parser.add_argument("--steps", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--samplers", nargs="+", default=["ddpm", "analytic-ddpm", "ddim", "pc", "heun"])
    parser.add_argument("--budgets", type=int, nargs="+", default=[66, 130, 258],
                        help="network calls + VJPs per draw for the matched-cost MMPS rows (130: the E-step's k = 1, 64 steps)")
    parser.add_argument("--iterations", type=int, nargs="+", default=[1, 2, 3, 4], help="MMPS solver iterations k")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    prior = fitted_prior(args.fit)
    test, _ = load_fashion_mnist("test")
    cases = [posterior_case(prior, test[index], index) for index in range(args.images)]

    def mmps(iterations: int) -> Callable[[PosteriorCase], torch.nn.Module]:
        return lambda case: MMPSDenoiser(prior.double(), case.operator, case.y, solver="gmres", iterations=iterations)

    rows = []
    for sampler in args.samplers:
        for steps in args.steps:
            result = over_cases(cases, lambda case: case.exact, sampler, steps, args.samples)
            rows.append((f"{sampler}, exact posterior", steps, CALLS_PER_STEP[sampler] * steps + 1, result))
            print(rows[-1], flush=True)
    for iterations in (1, 3):
        for sampler, steps in (("ddpm", 32), ("ddpm", 64), ("analytic-ddpm", 32), ("analytic-ddpm", 64), ("heun", 16),
                               ("heun", 32)):
            result = over_cases(cases, mmps(iterations), sampler, steps, args.samples)
            rows.append((f"{sampler}, MMPS k = {iterations} on the prior", steps,
                         CALLS_PER_STEP[sampler] * steps + 1, result))
            print(rows[-1], flush=True)
    budget_rows = []
    for budget in args.budgets:
        for iterations in args.iterations:
            options = {"iterations": iterations}
            steps = steps_for_budget("mmps", options, budget)
            result = over_cases(cases, mmps(iterations), "analytic-ddpm", steps, args.samples)
            budget_rows.append((budget, iterations, steps, method_cost("mmps", options, steps).total, result))
            print(budget_rows[-1], flush=True)
    images, noun = (("one", "image under a 75 % random mask") if args.images == 1
                    else (f"the first {args.images}", "images, each under its own 75 % random mask"))
    per_image = "" if args.images == 1 else " and image, the figures averaged over the images"
    lines = [
        f"Exact Gaussian posterior of {images} Fashion-MNIST test {noun} (prior: a full-covariance "
        f"Gaussian fitted to {args.fit:,} training images, 784 dimensions; `sigma_y = 0.01`), {args.samples:,} draws "
        f"per row{per_image}. "
        "Variance kept = trace of the draws' covariance over the exact posterior's (1 = all); mean error = "
        f"`||mean - m|| / sqrt(tr S)` (about {1 / args.samples ** 0.5:.3f} from sampling alone). Calls = denoiser calls "
        "per sample (the final denoising included; MMPS adds one VJP per call and k - 1 more per solve).",
        "Marginal W2 = the squared 2-Wasserstein distance between the draws' and the posterior's per-pixel marginals, "
        "summed over pixels, over `tr S`: `sum_i (mean_i - m_i)^2 + (sd_i - sqrt(S_ii))^2`, the mean error and the "
        f"spread error in one figure (0 when exact; sampling alone adds about 1.5 / samples = {1.5 / args.samples:.4f}).",
        "", "| sampler | steps | calls | variance kept | mean error | marginal W2 |", "|---|---|---|---|---|---|"]
    for name, steps, calls, result in rows:
        lines.append(f"| {name} | {steps} | {calls} | {result['variance_kept']:.3f} | {result['mean_error']:.3f} "
                     f"| {result['marginal_w2']:.4f} |")
    lines += ["", "MMPS (GMRES) at matched cost, as the E-step runs it (`analytic-ddpm`, the prior's denoiser inside "
              "MMPS): for each budget of network calls + VJPs per draw, k solver iterations and the most steps that "
              "fit (`diffem.posterior.steps_for_budget`, the sampler race's rule).", "",
              "| budget | k | steps | cost | variance kept | mean error | marginal W2 |", "|---|---|---|---|---|---|---|"]
    for budget, iterations, steps, cost, result in budget_rows:
        lines.append(f"| {budget} | {iterations} | {steps} | {cost} | {result['variance_kept']:.3f} "
                     f"| {result['mean_error']:.3f} | {result['marginal_w2']:.4f} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("estep-variance", text, "python benchmarks/estep_variance.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
