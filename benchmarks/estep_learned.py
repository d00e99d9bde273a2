"""E-step samplers under learned priors: the toy manifold and held-out Fashion-MNIST (issue 19).

``estep_variance.py`` judges the samplers on an exact Gaussian posterior, where the variance kept
can be computed. A learned prior has no closed-form posterior, so these checks judge what can
be measured, at equal cost per sampler (one denoiser call a step, MMPS adds its VJPs):

- ``--part manifold``: the toy manifold of ``manifold.py`` (R^5, 2-D random projections,
  ``sigma_y = 0.01``). A 3x256 MLP is trained on the clean points (the ``reference`` method, kept
  in ``--work`` and resumed). Sinkhorn divergence to held-out truth of (a) unconditional samples
  and (b) the aggregate posterior: one MMPS sample (CG, 2 iterations, as the manifold's E-step)
  of each held-out observation, which is what an E-step hands the next M-step.
- ``--part fashion``: a Fashion prior, by default the shipped clean-data reference (``--prior``).
  MMPS (GMRES, k = 1, the E-step's) on the first ``--count`` 75 %-masked test images, ``--samples``
  draws each (for a DiffEM conditional model, its own draws ``q(x | y)``, DiffEM's E-step): PSNR of their mean, coverage of the central 50 % / 90 % per-pixel intervals (randomised
  PIT, :func:`diffem.metrics.calibration`) and the
  spread-skill ratio (1 = calibrated; below 1: the draws are too alike). Then the Fréchet distance
  (``fashion-features``) of ``--prior-samples`` unconditional samples to the 10,000 test images.

    python benchmarks/estep_learned.py --part manifold --write
    python benchmarks/estep_learned.py --part fashion --write
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import ROOT, percent, shown_path, write_section  # noqa: E402
from manifold import SINKHORN_REG, make_observations  # noqa: E402

from diffem.bundle import PriorBundle  # noqa: E402
from diffem.data.observations import load_observation_set, make_observation_set  # noqa: E402
from diffem.data.sources import load_clean_data  # noqa: E402
from diffem.em import EMConfig, RunFolder, run_em  # noqa: E402
from diffem.evaluation import evaluate_posterior, evaluate_prior  # noqa: E402
from diffem.features import load_feature_net  # noqa: E402
from diffem.guidance import MMPSDenoiser  # noqa: E402
from diffem.metrics import sinkhorn_divergence  # noqa: E402
from diffem.operators import parse_corruption  # noqa: E402
from diffem.posterior import method_cost, steps_for_budget  # noqa: E402
from diffem.samplers import make_sampler  # noqa: E402

FASHION_PRIOR = ROOT / "checkpoints" / "reference-fashion-clean"

PC_COST = " `pc` makes 2 calls a step, the others 1."


def manifold_prior(work: Path, laps: int) -> PriorBundle:
    """The clean-data MLP prior of the toy manifold (trained once, resumed from ``work``)."""
    make_observations(work / "observations", 8192, 4096)
    config = EMConfig(method="reference", observations=str(work / "observations"), out=str(work / "reference"),
                      laps=laps, steps_per_lap=1000, batch_size=1024, lr=1e-3, lr_final=1e-5, sampler="ddpm",
                      sampler_steps=32, estep_batch=8192, gaussian_rank=None, gaussian_iterations=16, solver="cg",
                      solver_iterations=2, eval_count=256, eval_samples=256, ema_decay=0.999, sinkhorn_reg=SINKHORN_REG)
    run_em(config, device="cpu", resume=True, progress=False, log=lambda m: print(f"[reference] {m}", flush=True))
    run = RunFolder(work / "reference")
    lap = run.last_lap_with("prior")
    assert lap is not None
    return PriorBundle.from_pretrained(run.lap_path(lap) / "prior", device="cpu")


def manifold_rows(bundle: PriorBundle, work: Path, samplers: list[str], steps: list[int], count: int) -> list[str]:
    test = load_observation_set(work / "observations", "test")
    assert test.x is not None
    truth = test.x[:count]
    y, operator = test.batch(slice(0, count))
    clamp = (test.scaling.low, test.scaling.high)  # as the E-step clamps its estimates (diffem.em.methods)
    rows = []
    for name in samplers:
        for n in steps:
            sampler = make_sampler(name, bundle.schedule, n)
            start = time.perf_counter()
            prior = sampler.sample(bundle.denoiser, (count, *bundle.event_shape), generator=torch.Generator().manual_seed(0))
            mmps = MMPSDenoiser(bundle.denoiser, operator, y, solver="cg", iterations=2, clamp=clamp)
            posterior = sampler.sample(mmps, (count, *bundle.event_shape), generator=torch.Generator().manual_seed(1))
            unconditional = sinkhorn_divergence(prior, test.x[count:2 * count], reg=SINKHORN_REG)
            aggregate = sinkhorn_divergence(posterior, test.x[count:2 * count], reg=SINKHORN_REG)
            error = float((posterior - truth).pow(2).sum(1).mean().sqrt())
            rows.append(f"| {name} | {n} | {unconditional:.4f} | {aggregate:.4f} | {error:.3f} |")
            print(rows[-1], f"({time.perf_counter() - start:.0f} s)", flush=True)
    return rows


def e_step_method(bundle: PriorBundle) -> tuple[str, str]:
    """The posterior method an EM run's E-step uses with this bundle, and its words."""
    if bundle.kind == "conditional":
        return "conditional", "The conditional model's own draws q(x | y) (DiffEM's E-step)"
    return "mmps", "MMPS (GMRES, k solver iterations: one VJP each a step)"


def fashion_runs(method: str, samplers: list[str], steps: list[int], iterations: list[int],
                 budget: int | None) -> list[tuple[str, int, dict[str, int] | None]]:
    """(sampler, steps, options) of each row: the given step counts, or the most that fit ``budget`` for each k."""
    runs = []
    for k in iterations if method == "mmps" else [None]:
        options = None if k is None else {"iterations": k}
        counts = [steps_for_budget(method, options, budget)] if budget else steps
        runs += [(name, n, options) for name in samplers for n in counts]
    return runs


def fashion_rows(bundle: PriorBundle, runs: list[tuple[str, int, dict[str, int] | None]], count: int, samples: int,
                 prior_samples: int, fd_steps: int) -> tuple[list[str], float]:
    """The table's rows, and the black share of the clean images the draws are judged against."""
    method, _ = e_step_method(bundle)
    clean = load_clean_data("fashion-mnist").test
    observations = make_observation_set(clean[:count], parse_corruption("mask:0.75", sigma_y=0.01), seed=0,
                                        keep_clean=True)
    if prior_samples:  # the FD's 10,000 clean test images and feature network
        reference = make_observation_set(clean, parse_corruption("mask:0.75", sigma_y=0.01), seed=0, keep_clean=True)
        features = load_feature_net(ROOT / "checkpoints" / "fashion-features")
    rows = []
    for name, n, options in runs:
        start = time.perf_counter()
        report = evaluate_posterior(bundle, observations, method, count=count, samples=samples, steps=n,
                                    sampler=name, batch_size=count * samples, options=options)
        distance = ""
        if n == fd_steps and prior_samples:
            prior = evaluate_prior(bundle, reference, prior_samples, steps=n, sampler=name, features=features)
            distance = f"{prior['frechet_features']:.1f}"
        k = "" if options is None else options["iterations"]
        rows.append(f"| {name} | {k} | {n} | {method_cost(method, options, n).total} | {report['psnr_mean']:.2f} "
                    f"| {report['coverage_50']:.3f} | {report['coverage_90']:.3f} | {report['spread_skill']:.3f} "
                    f"| {report['crps']:.4f} | {percent(report['black_share'])} | {distance} |")
        print(rows[-1], f"({time.perf_counter() - start:.0f} s)", flush=True)
    return rows, report["truth_black_share"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["manifold", "fashion"], required=True)
    parser.add_argument("--samplers", nargs="+", default=["ddpm", "analytic-ddpm", "pc"])
    parser.add_argument("--steps", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--work", default=str(ROOT / "runs" / "estep-manifold"))
    parser.add_argument("--laps", type=int, default=8, help="laps of the manifold's clean-data MLP (1,000 steps each)")
    parser.add_argument("--count", type=int, default=2048, help="manifold points, or Fashion observations")
    parser.add_argument("--samples", type=int, default=8, help="Fashion: posterior draws per observation")
    parser.add_argument("--prior-samples", type=int, default=500, help="Fashion: unconditional samples for the FD")
    parser.add_argument("--fd-steps", type=int, default=64, help="Fashion: the step count whose rows get an FD")
    parser.add_argument("--prior", type=Path, default=FASHION_PRIOR,
                        help="Fashion: the prior, or a DiffEM conditional model (a bundle folder)")
    parser.add_argument("--mmps-iterations", type=int, nargs="+", default=[1],
                        help="Fashion: MMPS's solver iterations k (each one more VJP a step), one set of rows each")
    parser.add_argument("--budget", type=int, help="Fashion: instead of --steps, the most steps whose network calls "
                                                   "+ VJPs per draw fit this budget, for each k")
    parser.add_argument("--section", help="the BENCHMARKS.md section (default: estep-manifold or estep-fashion)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    command = "python benchmarks/estep_learned.py " + " ".join(sys.argv[1:])
    if args.part == "manifold":
        bundle = manifold_prior(Path(args.work), args.laps)
        rows = manifold_rows(bundle, Path(args.work), args.samplers, args.steps, args.count)
        text = "\n".join([
            f"Toy manifold (`manifold.py`'s data: R^5, 2-D random projections, `sigma_y = 0.01`). Prior: the 3x256 MLP "
            f"trained on the clean points ({args.laps} laps of 1,000 steps). {args.count:,} samples per figure; Sinkhorn "
            f"divergence (eps {SINKHORN_REG}) to {args.count:,} other held-out points. Aggregate posterior: one MMPS "
            "sample (CG, 2 iterations, estimates clamped to the data range) of each held-out observation, as an E-step "
            "draws them; RMSE: of those samples to their own clean points." + PC_COST * ("pc" in args.samplers), "",
            "| sampler | steps | unconditional Sinkhorn | aggregate-posterior Sinkhorn | posterior RMSE |",
            "|---|---|---|---|---|", *rows])
        section = "estep-manifold"
    else:
        bundle = PriorBundle.from_pretrained(args.prior, device="cpu")
        if bundle.kind == "conditional" and args.prior_samples:
            parser.error(f"{args.prior} is a conditional model, which has no prior samples: give --prior-samples 0")
        runs = fashion_runs(e_step_method(bundle)[0], args.samplers, args.steps, args.mmps_iterations, args.budget)
        rows, truth_share = fashion_rows(bundle, runs, args.count, args.samples, args.prior_samples, args.fd_steps)
        text = "\n".join([
            f"Prior: `{shown_path(args.prior)}`. {e_step_method(bundle)[1]} on the first "
            f"{args.count} Fashion-MNIST test images under 75 % random masks (`sigma_y = 0.01`, seed 0), {args.samples} "
            "draws each: PSNR of their mean, coverage of their per-pixel central 50 % / 90 % intervals (randomised "
            "PIT over the pixels where a draw is off the truth by more than half a grey level, ties split: "
            "`diffem.metrics.calibration`; a calibrated posterior covers "
            f"50 % / 90 %, and with {args.samples} draws one sure and wrong still covers 0 / "
            f"{max(0.0, 1 - (args.samples + 1) * 0.05):.2f}), spread-skill ratio (1 = calibrated), black share of the "
            f"draws (pixels within two grey levels of black, `diffem.metrics.black_share`; the clean images: "
            f"{percent(truth_share)}): what the next M-step learns the background from."
            + (f" FD: `fashion-features`, {args.prior_samples} unconditional samples against the 10,000 test images "
               "(biased upwards by the small sample: compare rows)." if args.prior_samples else "")
            + PC_COST * ("pc" in args.samplers)
            + " Cost: network calls + VJPs per draw. CRPS: per pixel, in [0, 1], of the draws against the truth (a "
            "proper score: lower is better, and a sampler cannot lower it by being too sure).", "",
            "| sampler | k | steps | cost | PSNR of the mean (dB) | coverage 50 % | coverage 90 % | spread-skill | CRPS "
            "| black share | FD |",
            "|---|---|---|---|---|---|---|---|---|---|---|", *rows])
        section = "estep-fashion"
    print(text)
    if args.write:
        write_section(args.section or section, text, command)


if __name__ == "__main__":
    main()
