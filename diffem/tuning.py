r"""Tuning a posterior method's knobs (step size, solver iterations...) per prior and operator, on validation observations.

DPS's ``zeta`` (and any other method option) depends on the prior and the operator. It is chosen
by a small grid search on the mean PSNR of one posterior sample per observation, on *validation*
observations: the last ``count`` images of the clean data's train split (never the test split,
which the evaluation and the sampler race use), corrupted with a fixed seed.

The result is stored with the prior, in ``tuned.json`` next to the bundle's ``diffem.json``::

    {"dps": {"mask": {"options": {"zeta": 3.0}, "psnr": 18.1, "grid": {"0.3": 15.2, ...},
                      "validation": {...how it was measured...},
                      "budgets": {"129": {"options": {"zeta": 10.0}, "psnr": 19.0, "grids": {...}}, ...}}}}

:func:`read_tuned` reads it back (the registry's ``PriorEntry.tuned``), and
:func:`diffem.posterior.make_posterior` fills options left ``None`` from the record tuned at a step count.
The records under ``budgets`` were tuned at a cost of network calls + VJPs a sample: an equal-cost race (the
app's Compare tab) runs each method with the knobs tuned at the budget nearest its own
(:func:`knobs_at_budget`, nearest on a log scale), whatever a knob's default.

A method declares the knobs to tune in its options, ``option(..., tune=grid)`` (DPS's ``zeta``, MMPS's
``k``, PiGDM's ``v``, DiffPIR's ``lambda``, DAPS's ODE steps); :func:`tune_method` tunes them all.
With a ``budget`` of network calls + VJPs per sample, each value runs the most sampler steps that
fit it, so a knob that costs calls is weighed against the steps it takes away: the sampler race
(``benchmarks/sampler_race.py``) tunes every method this way at each of its budgets.

Usage: ``python -m diffem.tuning --prior checkpoints/NAME --corruption mask:0.75 [--count 32]
[--method mmps dps] [--budget 33 65 129]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write_json
from .bundle import PriorBundle
from .data.observations import ObservationSet, make_observation_set
from .data.sources import load_clean_data
from .evaluation import draw_posterior_samples, evaluate_posterior
from .metrics import crps
from .operators import parse_corruption
from .options import field_type, knob_symbols, tuning_grids
from .posterior import method_class, method_cost, posterior_options, steps_for_budget, tuned_record

TUNED_FILE = "tuned.json"
#: what a tuner can maximise (:func:`validation_score`)
METRICS = {"psnr": "mean PSNR of one posterior sample per observation",
           "crps": "minus the fair CRPS of two posterior samples per observation (pixels in [0, 1])"}
#: posterior samples per validation observation for the CRPS
CRPS_SAMPLES = 2
#: values tried past a grid's edge at most (the sampler race's ``--tune-extend``): MMPS's k kept rising to 11
EXTEND = 8
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


def write_tuned(folder: str | os.PathLike[str], method: str, operator_name: str, record: dict[str, Any],
                budget: int | None = None) -> Path:
    """Store ``record`` for ``method`` and ``operator_name`` in the bundle folder, keeping the rest: as the record
    tuned at a step count, or with ``budget`` as the one tuned at that cost a sample (under ``budgets``)."""
    tuned = read_tuned(folder)
    kept = tuned.setdefault(method, {}).get(operator_name) or {}
    if budget is None:
        tuned[method][operator_name] = {**record, **({"budgets": kept["budgets"]} if "budgets" in kept else {})}
    else:
        tuned[method][operator_name] = {**kept, "budgets": {**kept.get("budgets", {}), str(budget): record}}
    path = Path(folder) / TUNED_FILE
    atomic_write_json(path, tuned)
    return path


def budget_records(tuned: Mapping[str, Any] | None, method: str,
                   operator_name: str | None) -> dict[int, dict[str, Any]]:
    """``method``'s knobs tuned for the operator at each recorded budget (a key that is not a whole number, or a
    record without options, is passed over)."""
    records = tuned_record(tuned, method, operator_name).get("budgets") or {}
    return {int(key): dict(record["options"]) for key, record in records.items()
            if str(key).isdigit() and int(key) > 0 and isinstance(record, dict) and record.get("options")}


def knobs_at_budget(tuned: Mapping[str, Any] | None, method: str, operator_name: str | None,
                    budget: int) -> tuple[dict[str, Any], int] | None:
    """The knobs tuned for ``method`` and the operator at the recorded budget nearest ``budget`` (on a log scale;
    the smaller on a tie), and that budget; None when none was recorded."""
    records = budget_records(tuned, method, operator_name)
    if not records:
        return None
    nearest = min(records, key=lambda recorded: (abs(math.log(recorded / budget)), recorded))
    return records[nearest], nearest


def options_at_budget(method: str, options: Any, tuned: Mapping[str, Any] | None, operator_name: str | None,
                      budget: int) -> tuple[Any, int | None]:
    """``method``'s options (:func:`~diffem.posterior.posterior_options`) with its knobs set to those tuned at the
    recorded budget nearest ``budget``, and that budget; the options as given, and None, when none was tuned."""
    chosen = posterior_options(method, options, tuned, operator_name)
    found = knobs_at_budget(tuned, method, operator_name, budget)
    if found is None:
        return chosen, None
    knobs, recorded = found
    names = {f.name for f in dataclasses.fields(chosen)}
    return posterior_options(method, dataclasses.replace(chosen, **{k: v for k, v in knobs.items() if k in names})), \
        recorded


def knob_text(method: str, options: Any) -> str:
    """``k = 4`` for MMPS, ``zeta = 10`` for DPS...: the values of the knobs ``method`` declares, from a mapping or
    its options; ``""`` for a method without knobs."""
    values = options if isinstance(options, Mapping) else dataclasses.asdict(posterior_options(method, options))
    symbols = knob_symbols(method_class(method).Options)
    return ", ".join(f"{symbol} = {values[name]:.3g}" for name, symbol in symbols.items() if values.get(name) is not None)


def validation_observations(corruption: str, count: int, sigma_y: float = 0.01, data: str = "fashion-mnist",
                            seed: int = VALIDATION_SEED) -> ObservationSet:
    """The last ``count`` clean train images, corrupted once by ``corruption`` (model scale, clean kept)."""
    clean = load_clean_data(data).train[-count:]
    operator = parse_corruption(corruption, sigma_y=sigma_y)
    info = {"split": f"train[-{count}:]", "data": data, "corruption": corruption, "seed": seed}
    return make_observation_set(clean, operator, seed, keep_clean=True, info=info)


def knob_field(method: str, field: str) -> tuple[type, dict[str, Any]]:
    """``(int or float, metadata)`` of ``method``'s option ``field``: a tuned knob is a number."""
    options_class = method_class(method).Options
    found = [f for f in dataclasses.fields(options_class) if f.name == field]
    if not found:
        raise ValueError(f"{method} has no option {field!r}")
    base, _ = field_type(options_class, found[0])
    if base not in (int, float):
        raise ValueError(f"{method}'s option {field!r} is a {base.__name__}, not a number to tune")
    return base, dict(found[0].metadata)


def next_candidate(scores: dict[float, float], integer: bool, low: float | None, high: float | None) -> float | None:
    """The value past the grid's edge when the best score sits on that edge: one more step of the edge's own
    spacing (a ratio for a float knob, log-spaced; a difference for an integer one). None inside the bounds' reach."""
    ordered = sorted(scores)
    best = max(scores, key=scores.get)
    if len(ordered) < 2 or best not in (ordered[0], ordered[-1]):
        return None
    neighbour = ordered[-2] if best == ordered[-1] else ordered[1]
    candidate = best + (best - neighbour) if integer else best * best / neighbour
    if (low is not None and candidate < low) or (high is not None and candidate > high):
        return None
    return candidate


def validation_score(bundle: PriorBundle, validation: ObservationSet, method: str, metric: str, steps: int,
                     sampler: str, seed: int, batch_size: int, options: dict[str, Any]) -> float:
    """The tuning score of one setting, higher is better: the mean PSNR of one sample per observation, or minus
    the fair CRPS of two (pixels in [0, 1]), which also punishes too narrow a spread."""
    if metric == "psnr":
        return evaluate_posterior(bundle, validation, method, count=len(validation), samples=1, steps=steps,
                                  sampler=sampler, seed=seed, batch_size=batch_size, options=options)["psnr_single"]
    assert validation.x is not None, "tuning needs the clean validation images"
    draws = draw_posterior_samples(bundle, validation, method, CRPS_SAMPLES, steps, sampler, seed, batch_size, options)
    pixels = validation.scaling.to_pixels
    return -float(crps(pixels(draws.samples), pixels(validation.x), fair=True).mean())


def grid_search(bundle: PriorBundle, validation: ObservationSet, method: str = "dps", field: str = "zeta",
                grid: Sequence[float] | None = None, steps: int = 64, sampler: str = "ddpm", seed: int = 0,
                batch_size: int = 64, fixed: dict[str, Any] | None = None, extend: int = 3,
                budget: int | None = None, metric: str = "psnr") -> dict[str, Any]:
    """The validation score (:func:`validation_score`, ``metric`` of :data:`METRICS`) for each value of ``field``;
    the best value wins (the record's ``psnr`` holds that score, negative for ``crps``).

    ``grid`` defaults to the field's declared one (``option(..., tune=...)``). When the best value is
    the grid's largest or smallest, the grid is extended past it (:func:`next_candidate`), up to
    ``extend`` times, while the score still improves. With ``budget``, every value runs the most
    sampler steps whose network calls + VJPs fit it (``steps`` is unused), so a knob that costs
    calls (MMPS's k, DAPS's ODE steps) is weighed against the steps it takes away; a value that
    cannot fit one step scores ``-inf``, as does one whose samples are not finite. Returns the record
    :func:`write_tuned` stores.
    """
    kind, meta = knob_field(method, field)
    grid = grid if grid is not None else meta.get("tune")
    if not grid:
        raise ValueError(f"no grid for {method}'s {field!r}: give one or declare option(..., tune=...)")
    if metric not in METRICS:
        raise ValueError(f"unknown tuning metric {metric!r}; choose one of {', '.join(METRICS)}")
    scores: dict[float, float] = {}
    ran: dict[float, int] = {}

    def score(value: float) -> float:
        if value not in scores:
            options = {**(fixed or {}), field: value}
            run = steps if budget is None else steps_for_budget(method, options, budget)
            if budget is not None and method_cost(method, options, run).total > budget:
                scores[value] = -math.inf
                return scores[value]
            measured = validation_score(bundle, validation, method, metric, run, sampler, seed, batch_size, options)
            scores[value] = measured if math.isfinite(measured) else -math.inf
            ran[value] = run
        return scores[value]

    for value in sorted(kind(v) for v in grid):
        score(value)
    for _ in range(extend):
        candidate = next_candidate(scores, kind is int, meta.get("low"), meta.get("high"))
        if candidate is None:
            break
        best_before = max(scores.values())
        if score(kind(candidate)) <= best_before:
            break
    best = max(scores, key=scores.get)
    how = {"budget": budget, "steps": {repr(value): ran[value] for value in sorted(ran)}} if budget else {"steps": steps}
    return {
        "options": {**(fixed or {}), field: best}, "psnr": scores[best],
        "grid": {repr(value): scores[value] for value in sorted(scores)},
        "validation": {**validation.info, "count": len(validation), **how, "sampler": sampler,
                       "seed": seed, "metric": METRICS[metric]},
    }


def tune_method(bundle: PriorBundle, validation: ObservationSet, method: str, budget: int | None = None,
                steps: int = 64, sampler: str = "ddpm", seed: int = 0, batch_size: int = 64,
                fixed: dict[str, Any] | None = None, extend: int = 3, metric: str = "psnr") -> dict[str, Any]:
    """Every knob ``method`` declares (``option(..., tune=...)``), one after another, each at the best values of
    those before it: ``{"options", "psnr", "grids": {field: grid search record}}``. A method without knobs
    returns ``fixed`` untouched, ``psnr`` None, and evaluates nothing."""
    chosen, grids, psnr_best = dict(fixed or {}), {}, None
    for field in tuning_grids(method_class(method).Options):
        record = grid_search(bundle, validation, method, field, steps=steps, sampler=sampler, seed=seed,
                             batch_size=batch_size, fixed=chosen, extend=extend, budget=budget, metric=metric)
        chosen, psnr_best, grids[field] = record["options"], record["psnr"], record
    return {"options": chosen, "psnr": psnr_best, "grids": grids}


def tune(prior: str, corruption: str, method: str = "dps", field: str | None = None,
         grid: Sequence[float] | None = None, count: int = 32, steps: int = 64, sampler: str = "ddpm",
         sigma_y: float = 0.01, data: str = "fashion-mnist", device: str | None = None,
         write: bool = True, budget: int | None = None, metric: str = "psnr", extend: int = EXTEND) -> dict[str, Any]:
    """Tune ``field`` of ``method`` (every declared knob when ``field`` is None) for the bundle folder ``prior``,
    at ``steps`` or at a ``budget`` of network calls + VJPs, and store it there (``tuned.json``; a budget's record
    beside the others tuned at a budget, :func:`write_tuned`)."""
    check_tunable(method, field)
    bundle = PriorBundle.from_pretrained(prior, device=device)
    validation = validation_observations(corruption, count, sigma_y, data)
    return tune_loaded(bundle, validation, prior if write else None, method, field, grid, steps, sampler, budget,
                       metric, extend)


def check_tunable(method: str, field: str | None) -> None:
    """Refuse, before anything is loaded, to tune every knob of a method that declares none."""
    if field is None and not tuning_grids(method_class(method).Options):
        raise ValueError(f"{method} declares no knob to tune (no option of it has tune=...)")


def tune_loaded(bundle: PriorBundle, validation: ObservationSet, folder: str | None, method: str, field: str | None,
                grid: Sequence[float] | None, steps: int, sampler: str, budget: int | None, metric: str,
                extend: int) -> dict[str, Any]:
    """:func:`tune` on a loaded prior and validation set, stored in ``folder`` (nothing stored when None)."""
    if field is None:
        record = tune_method(bundle, validation, method, budget, steps, sampler, batch_size=len(validation),
                             extend=extend, metric=metric)
    else:
        record = grid_search(bundle, validation, method, field, grid, steps, sampler, batch_size=len(validation),
                             extend=extend, budget=budget, metric=metric)
    if folder is not None:
        write_tuned(folder, method, validation.operator.name, record, budget)
    return record


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m diffem.tuning", description=__doc__.splitlines()[0])
    parser.add_argument("--prior", required=True, help="a bundle folder (tuned.json is written there)")
    parser.add_argument("--corruption", required=True, help="e.g. mask:0.75, box:0.4, blur:2")
    parser.add_argument("--method", nargs="+", default=["dps"], help="one or more posterior methods (default: dps)")
    parser.add_argument("--field", default=None,
                        help="the option to tune (default: every option the method declares with tune=...)")
    parser.add_argument("--grid", type=float, nargs="+", help="values to try (default: the option's declared grid)")
    parser.add_argument("--count", type=int, default=32, help="validation observations (train split's last N)")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--budget", type=int, nargs="+",
                        help="network calls + VJPs per sample, one or more: at each, every value runs the steps that "
                             "fit (instead of --steps), and the record is kept as that budget's")
    parser.add_argument("--extend", type=int, default=EXTEND,
                        help="at most this many values past a grid's edge while the score still rises")
    parser.add_argument("--sampler", default="ddpm")
    parser.add_argument("--metric", default="psnr", choices=list(METRICS),
                        help="; ".join(f"{name}: {words}" for name, words in METRICS.items()))
    parser.add_argument("--sigma-y", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.grid and not args.field:
        parser.error("--grid needs --field")
    if any(budget < 1 for budget in args.budget or ()):
        parser.error("--budget must be at least 1 network call a sample")
    torch.set_num_threads(args.threads)
    records: dict[str, Any] = {}
    try:
        for method in args.method:
            check_tunable(method, args.field)
        bundle = PriorBundle.from_pretrained(args.prior)
        validation = validation_observations(args.corruption, args.count, args.sigma_y)
        for method in args.method:
            for budget in args.budget or [None]:
                record = tune_loaded(bundle, validation, None if args.no_write else args.prior, method, args.field,
                                     args.grid, args.steps, args.sampler, budget, args.metric, args.extend)
                records.setdefault(method, {})["steps" if budget is None else str(budget)] = record
                print(f"{method} at {budget or args.steps} {'units' if budget else 'steps'}: {record['options']}",
                      file=sys.stderr, flush=True)
    except (ValueError, OSError) as error:  # a bad name, option, corruption or folder: one line, exit code 2
        parser.error(str(error).splitlines()[0])
    print(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
