"""Toy-manifold reproduction (EM-MMPS and DiffEM papers, reduced): learn a prior for points on
a random smooth curve in R^5 from 2-D random projections only, then compare per lap.

Both methods run through the library's EM module (``diffem.em.run_em``), resumable: re-running
continues from the last complete lap. References: the Gaussian initialisation (lap 0) and the
same MLP trained on the clean points with the same budget (``reference``, an upper bound).
Metric: Sinkhorn divergence (POT, log domain, eps 0.05) between model samples and held-out truth,
per lap on ``--eval-samples`` samples; the last laps and the Gaussian are re-evaluated on
``--final-samples`` samples with two seeds (the per-lap figure is noisy and biased upwards by the
small sample; the papers use 16,384), and the targets are judged on those.

The methods run concurrently, one single-threaded process each, ``--workers`` at a time (on 2
cores, EM-MMPS in one process while DiffEM then the reference share the other).

    python benchmarks/manifold.py --laps 32 --work runs/manifold-pc   # BENCHMARKS.md, about 25 min on 2 cores
    python benchmarks/manifold.py --replot   # docs/manifold.png again from BENCHMARKS.md's per-lap table
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import BENCHMARKS_MD, plot_curves, write_section  # noqa: E402

from diffem.bundle import PriorBundle  # noqa: E402
from diffem.data import make_manifold  # noqa: E402
from diffem.data.observations import (ObservationSet, load_observation_set, make_observation_set,  # noqa: E402
                                      save_observation_set)
from diffem.em import EMConfig, RunFolder, run_em  # noqa: E402
from diffem.guidance import ConditionalPosteriorDenoiser  # noqa: E402
from diffem.metrics import sinkhorn_divergence  # noqa: E402
from diffem.operators import parse_corruption  # noqa: E402
from diffem.samplers import SAMPLERS, make_sampler  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("em-mmps", "diffem", "reference")
PARTS = {"em-mmps": "prior", "diffem": "conditional", "reference": "prior"}
SINKHORN_REG = 0.05


def make_observations(folder: Path, count: int, test_count: int) -> None:
    if (folder / "observations.json").is_file():
        return
    operator = parse_corruption("projection:2", 0.01)
    info = {"data": "manifold", "corruption": "projection:2", "sigma_y": 0.01}
    train = make_observation_set(make_manifold(count, seed=1), operator, seed=3, info=info)
    test = make_observation_set(make_manifold(test_count, seed=2), operator, seed=4, info=info, keep_clean=True)
    save_observation_set(folder, train, test)


def method_config(method: str, args: argparse.Namespace, work: Path) -> EMConfig:
    steps = args.diffem_steps_per_lap if method == "diffem" and args.diffem_steps_per_lap else args.steps_per_lap
    laps = min(args.laps, args.reference_laps) if method == "reference" else args.laps
    return EMConfig(method=method, observations=str(work / "observations"), out=str(work / method), laps=laps,
                    steps_per_lap=steps, batch_size=1024, lr=1e-3, lr_final=1e-5, sampler=args.sampler,
                    sampler_steps=args.sampler_steps,
                    estep_batch=args.observations, gaussian_rank=None, gaussian_iterations=16, solver="cg",
                    solver_iterations=2, eval_count=256, eval_samples=args.eval_samples, ema_decay=0.999,
                    sinkhorn_reg=SINKHORN_REG)


def train_method(config: EMConfig, threads: int) -> float:
    """Run (or continue) one method's EM in this process; its wall time in seconds."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    run_em(config, device="cpu", resume=True, progress=False, log=lambda m: print(f"[{config.method}] {m}", flush=True))
    return time.perf_counter() - start


def draw_samples(path: Path, test: ObservationSet, n: int, seed: int, sampler_name: str, steps: int) -> torch.Tensor:
    """``n`` samples of a lap's model: prior samples, or for a conditional model one posterior sample
    of each of the first ``n`` test observations (a draw of the aggregate posterior)."""
    bundle = PriorBundle.from_pretrained(path)
    sampler = make_sampler(sampler_name, bundle.schedule, steps)
    denoiser = bundle.denoiser
    if bundle.kind == "conditional":
        y, operator = test.batch(slice(0, n))
        denoiser = ConditionalPosteriorDenoiser(bundle.denoiser, operator, y)
    with torch.no_grad():
        return sampler.sample(denoiser, (n, *bundle.event_shape), generator=torch.Generator().manual_seed(seed))


def final_models(work: Path, methods: list[str]) -> dict[str, tuple[int, Path]]:
    """``(lap, bundle folder)`` of the Gaussian (lap 0) and of each method's last complete lap."""
    first = RunFolder(work / methods[0])
    models = {"gaussian": (0, first.lap_path(0) / "prior")} if methods[0] != "reference" else {}
    for method in methods:
        run = RunFolder(work / method)
        lap = run.last_lap_with(PARTS[method])
        if lap is not None:
            models[method] = (lap, run.lap_path(lap) / PARTS[method])
    return models


def resample(path: Path, test: ObservationSet, n: int, sampler: str, steps: int) -> list[float]:
    """Sinkhorn divergences of ``n`` fresh samples against held-out truth, one per seed (disjoint truth)."""
    assert test.x is not None
    seeds = range(max(1, min(2, len(test) // n)))
    return [sinkhorn_divergence(draw_samples(path, test, n, seed, sampler, steps), test.x[seed * n:(seed + 1) * n],
                                reg=SINKHORN_REG) for seed in seeds]


def lap_table(curves: dict[str, list[float]], methods: list[str], laps: int) -> str:
    rows = ["| lap | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for lap in range(laps + 1):
        cells = [f"{curves[m][lap]:.4f}" if lap < len(curves[m]) else "" for m in methods]
        rows.append(f"| {lap} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def final_table(finals: dict[str, list[float]], laps: dict[str, int], n: int) -> str:
    gaussian = sum(finals["gaussian"]) / len(finals["gaussian"]) if "gaussian" in finals else None
    rows = [f"| model | lap | Sinkhorn ({n} samples, per seed) | mean | Gaussian / mean | target (>= 10x) |",
            "|---|---|---|---|---|---|"]
    for name, values in finals.items():
        mean = sum(values) / len(values)
        ratio = gaussian / mean if gaussian else float("nan")
        verdict = "" if name in ("gaussian", "reference") else ("met" if ratio >= 10 else "missed")
        label = "clean-data reference (upper bound)" if name == "reference" else name
        rows.append(f"| {label} | {laps.get(name, 0)} | {', '.join(f'{v:.4f}' for v in values)} | {mean:.4f} | "
                    f"{ratio:.1f}x | {verdict} |")
    return "\n".join(rows)


CURVE_LABELS = {"diffem": "diffem: q(x|y), y held-out observations", "reference": "clean-data reference"}


def plot_manifold(curves: dict[str, list[float]], path: Path) -> None:
    """Per-lap curves, with the Gaussian start (lap 0 of EM) as a flat line: it does not change over laps."""
    laps = max(len(v) for v in curves.values())
    lines = {CURVE_LABELS.get(m, m): v for m, v in curves.items()}
    start = next((v[0] for m, v in curves.items() if m != "reference"), None)
    if start is not None:
        lines["gaussian (lap 0, closed-form EM)"] = [start] * laps
    plot_curves(lines, path, "Sinkhorn divergence to held-out truth", "Toy manifold: learning from 2-D projections",
                legend={"fontsize": "small", "loc": "upper right", "bbox_to_anchor": (1.0, 0.93)})


def recorded_curves(section: str) -> dict[str, list[float]]:
    """The per-lap table of BENCHMARKS.md's ``section`` (what :func:`lap_table` wrote), as curves."""
    text = BENCHMARKS_MD.read_text()
    body = re.search(rf"<!-- {re.escape(section)}:start -->(.*?)<!-- {re.escape(section)}:end -->", text, re.S)
    if body is None:
        raise SystemExit(f"BENCHMARKS.md has no {section} section to re-plot")
    rows = [line.strip("|").split("|") for line in body.group(1).splitlines() if line.startswith("| ")]
    header = next(i for i, row in enumerate(rows) if row[0].strip() == "lap")
    methods = [cell.strip() for cell in rows[header][1:]]
    curves: dict[str, list[float]] = {m: [] for m in methods}
    for row in rows[header + 1:]:
        if not row[0].strip().isdigit():
            break
        for method, cell in zip(methods, row[1:]):
            if cell.strip():
                curves[method].append(float(cell))
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laps", type=int, default=32)
    parser.add_argument("--observations", type=int, default=8192)
    parser.add_argument("--steps-per-lap", type=int, default=1000)
    parser.add_argument("--diffem-steps-per-lap", type=int, default=0,
                        help="DiffEM's M-step length (default: --steps-per-lap); its E-step is far cheaper")
    parser.add_argument("--reference-laps", type=int, default=8,
                        help="laps of the clean-data reference (it needs no E-step and converges in a few laps)")
    parser.add_argument("--sampler", default="pc", choices=sorted(SAMPLERS),
                        help="the E-steps' and the evaluation's sampler (pc: DDPM + one Langevin correction a step)")
    parser.add_argument("--sampler-steps", type=int, default=64)
    parser.add_argument("--eval-samples", type=int, default=512)
    parser.add_argument("--final-samples", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=2, help="methods trained at once (one thread each)")
    parser.add_argument("--work", default=str(ROOT / "runs" / "manifold"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--section", default="manifold", help="BENCHMARKS.md section and docs/<section>.png")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw docs/<section>.png from the section's per-lap table (no training)")
    args = parser.parse_args()
    if args.replot:
        plot_manifold(recorded_curves(args.section), ROOT / "docs" / f"{args.section}.png")
        return
    work = Path(args.work)
    make_observations(work / "observations", args.observations, 2 * args.final_samples)
    configs = {m: method_config(m, args, work) for m in args.methods}
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {m: pool.submit(train_method, c, 1) for m, c in configs.items()}
        seconds = {m: f.result() for m, f in futures.items()}
    training_wall = time.perf_counter() - start
    histories = {m: RunFolder(work / m).history() for m in args.methods}
    curves = {m: [lap["sinkhorn"] for lap in h] for m, h in histories.items()}
    test = load_observation_set(work / "observations", "test")
    models = final_models(work, args.methods)
    finals = {name: resample(path, test, args.final_samples, args.sampler, args.sampler_steps)
              for name, (_, path) in models.items()}
    wall = time.perf_counter() - start
    last_laps = {name: lap for name, (lap, _) in models.items()}
    plot_manifold(curves, ROOT / "docs" / f"{args.section}.png")
    training = {m: sum(lap.get("estep_seconds", 0) + lap.get("mstep_seconds", 0) + lap.get("fit_seconds", 0)
                       for lap in h) / 60 for m, h in histories.items()}
    steps = {m: c.steps_per_lap for m, c in configs.items()}
    body = (f"Toy manifold (R^5, 2-D random projections, sigma_y = 0.01): {args.observations} observations, "
            f"{args.laps} laps (reference: {configs['reference'].laps if 'reference' in configs else 0}); M-steps of " + ", ".join(f"{m} {s}" for m, s in steps.items())
            + f" Adam steps (batch 1024, lr 1e-3 -> 1e-5, EMA 0.999 with warm-up), `{args.sampler}` sampler with "
            f"{args.sampler_steps} steps for E-steps and samples (MMPS: CG, 2 iterations), MLP 3x256. Lap 0 is the Gaussian fitted by closed-form EM; "
            f"`reference` is the same MLP trained on the clean points (upper bound; its lap 0 is a Gaussian fitted "
            f"to clean data). DiffEM's samples are conditional samples of held-out test observations (draws of "
            f"q(x) = E_y q(x|y)). Sinkhorn divergence: POT, log domain, eps {SINKHORN_REG}.\n\n"
            f"**Final laps, re-evaluated on {args.final_samples} samples** (two seeds, each against its own "
            f"{args.final_samples} held-out points):\n\n{final_table(finals, last_laps, args.final_samples)}\n\n"
            f"Wall time of the whole run: {wall / 60:.1f} min ({args.workers} single-thread processes; "
            f"{training_wall / 60:.1f} min of training, then the final re-evaluation). Training "
            "time per method, summed over laps (E-steps, M-steps, Gaussian fit; evaluation excluded): "
            + ", ".join(f"{m} {t:.1f} min" for m, t in training.items())
            + f".\n\nPer lap, {args.eval_samples} samples:\n\n{lap_table(curves, args.methods, args.laps)}"
            + f"\n\n![Sinkhorn divergence per lap](docs/{args.section}.png)\n")
    write_section(args.section, body, "python benchmarks/manifold.py " + " ".join(sys.argv[1:]))
    print(json.dumps({"final": finals, "seconds": seconds, "wall": wall}))


if __name__ == "__main__":
    main()
