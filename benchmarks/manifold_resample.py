"""Re-evaluate the last laps of a toy-manifold run (``benchmarks/manifold.py``) with more samples.

The per-lap Sinkhorn divergence of ``manifold.py`` uses 512 model samples, which is noisy (two
seeds of the same model can differ by 0.08); the papers use 16,384. This draws ``n`` samples of
the Gaussian (lap 0), the last EM-MMPS prior, the last DiffEM model (conditional samples of the
first ``n`` test observations) and the last reference prior, and prints the Sinkhorn divergence
(POT, log domain, eps 0.05, as ``manifold.py``) to the held-out truth, per sample count and seed.

    python benchmarks/manifold_resample.py --work runs/manifold-ema --samples 512 2048
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffem.bundle import PriorBundle  # noqa: E402
from diffem.data.observations import ObservationSet, load_observation_set  # noqa: E402
from diffem.em import RunFolder  # noqa: E402
from diffem.guidance import ConditionalPosteriorDenoiser  # noqa: E402
from diffem.metrics import sinkhorn_divergence  # noqa: E402
from diffem.samplers import make_sampler  # noqa: E402


def draw(path: Path, test: ObservationSet, n: int, seed: int, steps: int) -> torch.Tensor:
    bundle = PriorBundle.from_pretrained(path)
    sampler = make_sampler("ddpm", bundle.schedule, steps)
    denoiser = bundle.denoiser
    if bundle.kind == "conditional":
        y, operator = test.batch(slice(0, n))
        denoiser = ConditionalPosteriorDenoiser(bundle.denoiser, operator, y)
    with torch.no_grad():
        return sampler.sample(denoiser, (n, *bundle.event_shape), generator=torch.Generator().manual_seed(seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/manifold")
    parser.add_argument("--samples", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    work = Path(args.work)
    test = load_observation_set(work / "observations", "test")
    assert test.x is not None
    models = {"gaussian": RunFolder(work / "em-mmps").lap_path(0) / "prior"}
    for method, part in (("em-mmps", "prior"), ("diffem", "conditional"), ("reference", "prior")):
        lap = RunFolder(work / method).last_lap_with(part)
        if lap is not None:
            models[f"{method} lap {lap}"] = RunFolder(work / method).lap_path(lap) / part
    for name, path in models.items():
        for n in args.samples:
            seeds = (0, 1) if 2 * n <= len(test) else (0,)
            for seed in seeds:
                start = time.perf_counter()
                samples = draw(path, test, n, seed, args.steps)
                truth = test.x[seed * n:(seed + 1) * n]
                divergence = sinkhorn_divergence(samples, truth, reg=0.05)
                print(f"{name}: {n} samples, seed {seed}: {divergence:.4f} ({time.perf_counter() - start:.0f} s)",
                      flush=True)


if __name__ == "__main__":
    main()
