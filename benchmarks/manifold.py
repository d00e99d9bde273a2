"""Toy-manifold reproduction (EM-MMPS and DiffEM papers, reduced): learn a prior for points on
a random smooth curve in R^5 from 2-D random projections only, then compare per lap.

Both methods run through the library's EM module (``diffem.em.run_em``), resumable: re-running
continues from the last complete lap. References: the Gaussian initialisation (lap 0) and the
same MLP trained on the clean points with the same budget (``reference``, an upper bound).
Metric: Sinkhorn divergence (POT, log domain) between model samples and held-out truth.

    python benchmarks/manifold.py --laps 12 --observations 8192
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import plot_curves, write_section  # noqa: E402

from diffem.data import make_manifold  # noqa: E402
from diffem.data.observations import make_observation_set, save_observation_set  # noqa: E402
from diffem.em import EMConfig, RunFolder, run_em  # noqa: E402
from diffem.operators import parse_corruption  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("em-mmps", "diffem", "reference")


def make_observations(folder: Path, count: int, test_count: int) -> None:
    if (folder / "observations.json").is_file():
        return
    operator = parse_corruption("projection:2", 0.01)
    info = {"data": "manifold", "corruption": "projection:2", "sigma_y": 0.01}
    train = make_observation_set(make_manifold(count, seed=1), operator, seed=3, info=info)
    test = make_observation_set(make_manifold(test_count, seed=2), operator, seed=4, info=info, keep_clean=True)
    save_observation_set(folder, train, test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--laps", type=int, default=12)
    parser.add_argument("--observations", type=int, default=8192)
    parser.add_argument("--steps-per-lap", type=int, default=1000)
    parser.add_argument("--sampler-steps", type=int, default=64)
    parser.add_argument("--eval-samples", type=int, default=512)
    parser.add_argument("--work", default=str(ROOT / "runs" / "manifold"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--section", default="manifold", help="BENCHMARKS.md section and docs/<section>.png")
    args = parser.parse_args()
    work = Path(args.work)
    observations = work / "observations"
    make_observations(observations, args.observations, 2048)
    seconds: dict[str, float] = {}
    for method in args.methods:
        config = EMConfig(method=method, observations=str(observations), out=str(work / method), laps=args.laps,
                          steps_per_lap=args.steps_per_lap, batch_size=1024, lr=1e-3, lr_final=1e-5,
                          sampler_steps=args.sampler_steps, estep_batch=args.observations, gaussian_rank=None,
                          gaussian_iterations=16, solver="cg", solver_iterations=2, eval_count=256,
                          eval_samples=args.eval_samples, ema_decay=0.999)
        start = time.perf_counter()
        run_em(config, device="cpu", resume=True, progress=False, log=lambda m, name=method: print(f"[{name}] {m}", flush=True))
        seconds[method] = time.perf_counter() - start
    curves = {m: [lap["sinkhorn"] for lap in RunFolder(work / m).history()] for m in args.methods}
    plot_curves({("clean-data reference" if m == "reference" else m): v for m, v in curves.items()},
                ROOT / "docs" / f"{args.section}.png", "Sinkhorn divergence to held-out truth",
                "Toy manifold: learning from 2-D projections")
    gaussian = curves[next(m for m in args.methods if m != "reference")][0] if set(args.methods) != {"reference"} \
        else curves["reference"][0]
    rows = ["| lap | " + " | ".join(args.methods) + " |", "|---" * (len(args.methods) + 1) + "|"]
    for lap in range(args.laps + 1):
        cells = [f"{curves[m][lap]:.4f}" if lap < len(curves[m]) else "" for m in args.methods]
        rows.append(f"| {lap} | " + " | ".join(cells) + " |")
    finals = {m: curves[m][-1] for m in args.methods}
    training = {m: sum(lap.get("estep_seconds", 0) + lap.get("mstep_seconds", 0) + lap.get("fit_seconds", 0)
                       for lap in RunFolder(work / m).history()) for m in args.methods}
    summary = ", ".join(f"{m} {v:.4f} ({gaussian / v:.1f}x below the Gaussian)" for m, v in finals.items())
    body = (f"Toy manifold (R^5, 2-D random projections, sigma_y = 0.01): {args.observations} observations, "
            f"{args.laps} laps of {args.steps_per_lap} Adam steps (batch 1024), {args.sampler_steps} DDPM steps per "
            f"E-step (MMPS: CG, 2 iterations), MLP 3x256. Sinkhorn divergence (POT, log domain, eps 0.05) between "
            f"{args.eval_samples} model samples and held-out truth. Lap 0 is the Gaussian fitted by closed-form EM "
            f"({gaussian:.4f}); `reference` is the same MLP trained on the clean points (upper bound; its lap 0 is a "
            f"Gaussian fitted to clean data). DiffEM's samples are conditional samples of fresh test observations "
            f"(draws of q(x) = E_y q(x|y)).\n\nFinal: {summary}. Training time summed over laps (E-steps, M-steps, "
            "Gaussian fit; evaluation excluded): " + ", ".join(f"{m} {t / 60:.1f} min" for m, t in training.items())
            + ".\n\n" + "\n".join(rows)
            + f"\n\n![Sinkhorn divergence per lap](docs/{args.section}.png)\n")
    write_section(args.section, body, "python benchmarks/manifold.py " + " ".join(sys.argv[1:]))
    print(json.dumps({"final": finals, "gaussian": gaussian, "seconds": seconds}))


if __name__ == "__main__":
    main()
