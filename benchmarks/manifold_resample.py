"""Re-evaluate the last laps of a toy-manifold run (``benchmarks/manifold.py``) with more samples.

Draws ``n`` samples of the Gaussian (lap 0), the last EM-MMPS prior, the last DiffEM model
(conditional samples of the first ``n`` test observations) and the last reference prior, and
prints the Sinkhorn divergence to the held-out truth per sample count and seed, as
``manifold.py``'s final table does, for runs made before it had one.

    python benchmarks/manifold_resample.py --work runs/manifold --samples 512 2048
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from manifold import METHODS, final_models, resample

from diffem.data.observations import load_observation_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/manifold")
    parser.add_argument("--samples", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--sampler", default="pc")
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    work = Path(args.work)
    test = load_observation_set(work / "observations", "test")
    methods = [m for m in METHODS if (work / m).is_dir()]
    for name, (lap, path) in final_models(work, methods).items():
        for n in args.samples:
            start = time.perf_counter()
            values = resample(path, test, n, args.sampler, args.steps)
            print(f"{name} (lap {lap}): {n} samples: " + ", ".join(f"{v:.4f}" for v in values)
                  + f" ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
