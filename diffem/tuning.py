r"""Tuning a posterior method's step size per prior and operator, on validation observations.

DPS's ``zeta`` (and any other method option) depends on the prior and the operator. It is chosen
by a small grid search on the mean PSNR of one posterior sample per observation, on *validation*
observations: the last ``count`` images of the clean data's train split (never the test split,
which the evaluation and the sampler race use), corrupted with a fixed seed.

The result is stored with the prior, in ``tuned.json`` next to the bundle's ``diffem.json``::

    {"dps": {"mask": {"options": {"zeta": 3.0}, "psnr": 18.1, "grid": {"0.3": 15.2, ...},
                      "validation": {...how it was measured...}}}}

:func:`read_tuned` reads it back (the registry's ``PriorEntry.tuned``), and
:func:`diffem.posterior.make_posterior` fills options left ``None`` from it.

Usage: ``python -m diffem.tuning --prior checkpoints/NAME --corruption mask:0.75 [--count 32]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write_json
from .bundle import PriorBundle
from .data.observations import ObservationSet, make_observation_set
from .data.sources import load_clean_data
from .evaluation import evaluate_posterior
from .operators import parse_corruption

TUNED_FILE = "tuned.json"
#: DPS's default grid, log-spaced (extended past its ends while the score improves)
DEFAULT_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
#: the validation observations' seed (different from every observation set's default of 0)
VALIDATION_SEED = 1009


def read_tuned(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The tuned options stored in a bundle folder (empty when none were tuned)."""
    path = Path(folder) / TUNED_FILE
    if not path.is_file():
        return {}
    try:
        tuned = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(tuned, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return tuned


def write_tuned(folder: str | os.PathLike[str], method: str, operator_name: str, record: dict[str, Any]) -> Path:
    """Store ``record`` for ``method`` and ``operator_name`` in the bundle folder, keeping the rest."""
    tuned = read_tuned(folder)
    tuned.setdefault(method, {})[operator_name] = record
    path = Path(folder) / TUNED_FILE
    atomic_write_json(path, tuned)
    return path


def validation_observations(corruption: str, count: int, sigma_y: float = 0.01, data: str = "fashion-mnist",
                            seed: int = VALIDATION_SEED) -> ObservationSet:
    """The last ``count`` clean train images, corrupted once by ``corruption`` (model scale, clean kept)."""
    clean = load_clean_data(data).train[-count:]
    operator = parse_corruption(corruption, sigma_y=sigma_y)
    info = {"split": f"train[-{count}:]", "data": data, "corruption": corruption, "seed": seed}
    return make_observation_set(clean, operator, seed, keep_clean=True, info=info)


def grid_search(bundle: PriorBundle, validation: ObservationSet, method: str = "dps", field: str = "zeta",
                grid: Sequence[float] = DEFAULT_GRID, steps: int = 64, sampler: str = "ddpm", seed: int = 0,
                batch_size: int = 64, fixed: dict[str, Any] | None = None, extend: int = 3) -> dict[str, Any]:
    """Mean single-sample PSNR on ``validation`` for each value of ``field``; the best value wins.

    When the best value is the grid's largest or smallest, the grid is extended past it by the
    ratio of its last two values, up to ``extend`` times, while the score still improves. A value
    whose samples are not finite scores ``-inf``. Returns the record :func:`write_tuned` stores.
    """
    scores: dict[float, float] = {}

    def score(value: float) -> float:
        if value not in scores:
            options = {**(fixed or {}), field: value}
            result = evaluate_posterior(bundle, validation, method, count=len(validation), samples=1, steps=steps,
                                        sampler=sampler, seed=seed, batch_size=batch_size, options=options)
            scores[value] = result["psnr_single"] if math.isfinite(result["psnr_single"]) else -math.inf
        return scores[value]

    values = sorted(float(v) for v in grid)
    for value in values:
        score(value)
    for _ in range(extend):
        best = max(scores, key=scores.get)
        ordered = sorted(scores)
        if best == ordered[-1] and len(ordered) > 1:
            candidate = best * best / ordered[-2]
        elif best == ordered[0] and len(ordered) > 1:
            candidate = best * best / ordered[1]
        else:
            break
        if score(candidate) <= scores[best]:
            break
    best = max(scores, key=scores.get)
    return {
        "options": {**(fixed or {}), field: best}, "psnr": scores[best],
        "grid": {repr(value): scores[value] for value in sorted(scores)},
        "validation": {**validation.info, "count": len(validation), "steps": steps, "sampler": sampler,
                       "seed": seed, "metric": "mean PSNR of one posterior sample per observation"},
    }


def tune(prior: str, corruption: str, method: str = "dps", field: str = "zeta",
         grid: Sequence[float] = DEFAULT_GRID, count: int = 32, steps: int = 64, sampler: str = "ddpm",
         sigma_y: float = 0.01, data: str = "fashion-mnist", device: str | None = None,
         write: bool = True) -> dict[str, Any]:
    """Tune ``field`` of ``method`` for the bundle folder ``prior`` and store it there (``tuned.json``)."""
    bundle = PriorBundle.from_pretrained(prior, device=device)
    validation = validation_observations(corruption, count, sigma_y, data)
    record = grid_search(bundle, validation, method, field, grid, steps, sampler)
    if write:
        write_tuned(prior, method, validation.operator.name, record)
    return record


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m diffem.tuning", description=__doc__.splitlines()[0])
    parser.add_argument("--prior", required=True, help="a bundle folder (tuned.json is written there)")
    parser.add_argument("--corruption", required=True, help="e.g. mask:0.75, box:0.4, blur:2")
    parser.add_argument("--method", default="dps")
    parser.add_argument("--field", default="zeta", help="the option to tune")
    parser.add_argument("--grid", type=float, nargs="+", default=list(DEFAULT_GRID))
    parser.add_argument("--count", type=int, default=32, help="validation observations (train split's last N)")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--sampler", default="ddpm")
    parser.add_argument("--sigma-y", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    record = tune(args.prior, args.corruption, args.method, args.field, args.grid, args.count, args.steps,
                  args.sampler, args.sigma_y, write=not args.no_write)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
