"""The sampler race: every registered posterior method at matched cost on held-out Fashion-MNIST.

For each corruption (75 % random masks, 40 % boxes, 2-px blur; ``sigma_y = 0.01``) the first
``--count`` *test* images are corrupted once (seed 0). Every posterior method in
``diffem.guidance.POSTERIORS`` that observes (unconditional ones around the shipped EM-MMPS prior,
``conditional`` with the shipped DiffEM model that serves the corruption) draws ``--samples``
posterior samples per observation at each budget of network evaluations + VJPs: the sampler
steps are the most that fit the budget (``diffem.posterior.steps_for_budget``; DDPM for all).
Every method's knobs (those its options declare with ``tune=``: DPS's ``zeta``, MMPS's solver
iterations ``k``, PiGDM's prior variance, DiffPIR's ``lambda``, DAPS's ODE steps) are tuned for each
corruption *and each budget* on *validation* observations (the train split's last ``--tune-count``
images, :func:`diffem.tuning.tune_method`), by the mean PSNR of one sample (``--tune-metric crps``: minus
the fair CRPS of two, which also punishes over-confidence): a knob that costs calls
(``k``, the ODE steps) is weighed against the steps it takes away at that budget. The chosen values
and the validation scores are kept with each row. ``--tune-count 0`` races the defaults instead
(MMPS with k = 1, DPS with the zeta in the prior's ``tuned.json``), as the app runs them.

Reported per method and budget: PSNR and SSIM of one sample and of the mean of the samples,
the PSNR of the mean minus MMPS's at the same budget, paired over the same observations, with its
standard error (``diffem.metrics.paired_difference``; the same for MMPS minus DPS), coverage of the per-pixel central 50 % / 90 % intervals (randomised PIT), CRPS (pixels in [0, 1]), spread-skill
ratio, the normalised residual ``||y - A x|| / (sigma_y sqrt(m))`` and seconds per image.
Output: a table section ``sampler_race`` in BENCHMARKS.md, ``docs/sampler_race.png`` (PSNR of the
mean against cost and its paired difference to MMPS with ± 1 s.e. bars, one column per corruption)
and the raw rows in ``benchmarks/results/sampler-race.json``. ``--store-tuned`` keeps the rows' knobs in the
prior's ``tuned.json`` by budget (:func:`diffem.tuning.write_tuned`): the app's Compare tab races each method
with them at equal cost.

Usage: python benchmarks/sampler_race.py [--count 8] [--samples 4] [--budgets 33 65 129] [--tune-count 8]
                                         [--versus benchmarks/results/sampler-race-untuned.json] [--no-write]
       python benchmarks/sampler_race.py --from-results benchmarks/results/sampler-race.json [--versus ...]
                                         [--store-tuned]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from common import ROOT, hardware, shown_path, write_section
from diffem import PriorBundle
from diffem.atomic import atomic_write_json
from diffem.data.observations import ObservationSet, make_observation_set
from diffem.data.sources import load_clean_data
from diffem.evaluation import draw_posterior_samples, posterior_report
from diffem.guidance import POSTERIORS
from diffem.metrics import PairedDifference, paired_difference, psnr
from diffem.operators import parse_corruption
from diffem.posterior import method_cost, steps_for_budget
from diffem.tuning import METRICS, knob_text, read_tuned, tune_method, validation_observations, write_tuned

PRIOR = ROOT / "checkpoints" / "em-mmps-fashion-mask75"
CONDITIONAL = {"mask": ROOT / "checkpoints" / "diffem-fashion-mask75",
               "box": ROOT / "checkpoints" / "diffem-fashion-mask75",
               "blur": ROOT / "checkpoints" / "diffem-fashion-blur2"}
CORRUPTIONS = {"mask": "mask:0.75", "box": "box:0.4", "blur": "blur:2"}
SIGMA_Y = 0.01
FIGURE = ROOT / "docs" / "sampler_race.png"
RESULTS = ROOT / "benchmarks" / "results" / "sampler-race.json"


def test_observations(corruption: str, count: int) -> ObservationSet:
    """The first ``count`` Fashion-MNIST test images, corrupted once with seed 0 (clean kept)."""
    clean = load_clean_data("fashion-mnist").test[:count]
    return make_observation_set(clean, parse_corruption(corruption, sigma_y=SIGMA_Y), seed=0, keep_clean=True)


def racers(conditional_available: bool) -> list[str]:
    """Every registered method that uses an observation (the conditional one if a model serves the corruption)."""
    names = [name for name, cls in POSTERIORS.items() if cls.observes]
    return [name for name in names if POSTERIORS[name].needs != "conditional" or conditional_available]


def race_one(bundle: PriorBundle, observations: ObservationSet, method: str, budget: int, samples: int,
             tuned: dict[str, Any], tuning: dict[str, Any] | None = None) -> dict[str, Any]:
    """One method at one budget: its report on the test observations, with the knobs ``tuning`` chose."""
    options = (tuning or {}).get("options") or None
    steps = steps_for_budget(method, options, budget)
    draws = draw_posterior_samples(bundle, observations, method, samples, steps, "ddpm", seed=0,
                                   batch_size=len(observations) * samples, options=options, tuned=tuned)
    assert observations.x is not None
    truth = observations.scaling.to_pixels(observations.x)
    report = posterior_report(draws, truth, observations.scaling)
    spent = method_cost(method, options, steps)
    assert (spent.network, spent.vjps) == (draws.cost.network, draws.cost.vjps)
    mean_pixels = observations.scaling.to_pixels(draws.samples).mean(dim=0)
    grids = (tuning or {}).get("grids", {})
    knobs = {field: record["options"][field] for field, record in grids.items()}
    validation = {field: record["grid"] for field, record in grids.items()}
    metric = next((record["validation"]["metric"] for record in grids.values()), None)
    return {"method": method, "budget": budget, "steps": steps, "cost": spent.total, "observations": len(observations),
            "samples": samples, "knobs": knobs, "validation_scores": validation, "tune_metric": metric, **report,
            "psnr_mean_images": psnr(mean_pixels, truth).tolist()}


def tuned_knobs(bundle: PriorBundle, validation: ObservationSet | None, method: str, budget: int,
                extend: int, metric: str) -> dict[str, Any]:
    """``method``'s knobs tuned at ``budget`` on the validation observations (nothing without them), the grid
    extended up to ``extend`` values past an edge that still wins."""
    if validation is None:
        return {}
    start = time.perf_counter()
    record = tune_method(bundle, validation, method, budget, sampler="ddpm", seed=0, batch_size=len(validation),
                         extend=extend, metric=metric)
    if record["grids"]:
        scores = {field: grid["grid"] for field, grid in record["grids"].items()}
        print(f"tuned {method} at {budget}: {record['options']} ({time.perf_counter() - start:.0f} s; {scores})",
              flush=True)
    return record


def resumed_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Rows of an earlier run's output (its JSON lines), by corruption."""
    results: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            results.setdefault(row.pop("corruption"), []).append(row)
    return results


def difference(rows: list[dict[str, Any]], method: str, other: str, budget: int) -> PairedDifference | None:
    """PSNR of the mean, ``method`` minus ``other`` at ``budget``, paired over the same observations
    (None when either row is missing or was measured before per-image PSNRs were kept)."""
    by = {(r["method"], r["budget"]): r for r in rows}
    if (method, budget) not in by or (other, budget) not in by:
        return None
    a, b = (by[(name, budget)].get("psnr_mean_images") for name in (method, other))
    return paired_difference(a, b) if a and b and len(a) == len(b) >= 2 else None


def versus_mmps(rows: list[dict[str, Any]], row: dict[str, Any]) -> str:
    if row["method"] == "mmps":
        return "ref."
    gap = difference(rows, row["method"], "mmps", row["budget"])
    return str(gap) if gap is not None else "n/a"


def table(results: dict[str, list[dict[str, Any]]], tuned: dict[str, Any]) -> str:
    lines = []
    for name, rows in results.items():
        sizes = sorted({(r["observations"], r["samples"]) for r in rows})
        size = ", ".join(f"{n} test observations x {k} samples" for n, k in sizes)
        lines += [f"**{CORRUPTIONS[name]}** ({size}; {tuning_words(rows, tuned, name)})", "",
                  "| method | budget | knobs | steps | PSNR 1 / mean | mean - MMPS's (± s.e.) | SSIM 1 / mean "
                  "| cover 50 / 90 % (pixels counted) | CRPS | spread-skill | residual | s / image |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in sorted(rows, key=lambda r: (r["budget"], -r["psnr_mean"])):
            lines.append(
                f"| {row['method']} | {row['budget']} | {knob_words(row)} | {row['steps']} "
                f"| {row['psnr_single']:.2f} / {row['psnr_mean']:.2f} "
                f"| {versus_mmps(rows, row)} | {row['ssim_single']:.3f} / {row['ssim_mean']:.3f} "
                f"| {row.get('coverage_50', float('nan')):.2f} / {row.get('coverage_90', float('nan')):.2f} "
                f"({row.get('coverage_pixels', float('nan')):.0%}) "
                f"| {row.get('crps', float('nan')):.4f} | {row.get('spread_skill', float('nan')):.2f} "
                f"| {row['normalised_residual']:.2f} | {row['seconds_per_image']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def tuning_metric(results: dict[str, list[dict[str, Any]]]) -> str:
    """What the rows' knobs were tuned for (one metric for the whole race)."""
    metrics = {r["tune_metric"] for rows in results.values() for r in rows if r.get("tune_metric")}
    return " / ".join(sorted(metrics)) or "nothing tuned"


def knob_words(row: dict[str, Any]) -> str:
    """``k = 2`` for MMPS's solver iterations, ``zeta = 10`` and so on: the knobs this row was tuned to."""
    return knob_text(row["method"], row.get("knobs") or {}) or "-"


def tuning_words(rows: list[dict[str, Any]], tuned: dict[str, Any], name: str) -> str:
    """How the rows' knobs were chosen, for a table's title."""
    if any(row.get("knobs") for row in rows):
        return "knobs tuned at each budget on validation observations"
    zeta = tuned.get("dps", {}).get(name, {}).get("options", {}).get("zeta")
    return f"default knobs: MMPS k = 1, DPS zeta = {zeta} from the prior's tuned.json"


def mmps_versus_dps(results: dict[str, list[dict[str, Any]]]) -> str:
    """Issue 16's target: MMPS at least 1 dB above the tuned DPS at equal cost (PSNR of the mean)."""
    lines = []
    for name, rows in results.items():
        for budget in sorted({r["budget"] for r in rows}):
            gap = difference(rows, "mmps", "dps", budget)
            if gap is not None:
                lines.append(f"- {CORRUPTIONS[name]}, budget {budget}: MMPS - DPS = {gap} dB over {gap.count} "
                             f"observations ({'met' if gap.mean >= 1 else 'MISSED'}"
                             f"{'' if abs(gap.mean - 1) >= 2 * gap.stderr else ', within 2 s.e. of the target'})")
    return "\n".join(lines)


def summary(results: dict[str, list[dict[str, Any]]], tuned: dict[str, Any]) -> str:
    """The tables, then MMPS against the tuned DPS: what the run prints and the section holds."""
    return (table(results, tuned) + "\nMMPS against the tuned DPS at equal cost (target: +1 dB):\n\n"
            + mmps_versus_dps(results))


def versus_saved(results: dict[str, list[dict[str, Any]]], saved: dict[str, list[dict[str, Any]]]) -> str:
    """A table of this race's PSNR of the mean minus a saved race's (e.g. the defaults', ``--tune-count 0``), method
    by method, paired over the same observations: what the knobs bought. Rows in only one of the two are left out."""
    lines = ["| corruption | method | budget | knobs | PSNR of the mean, this - saved (± s.e.) | CRPS this / saved |",
             "|---|---|---|---|---|---|"]
    for name, rows in results.items():
        earlier = {(r["method"], r["budget"]): r for r in saved.get(name, [])}
        for row in sorted(rows, key=lambda r: (r["method"], r["budget"])):
            other = earlier.get((row["method"], row["budget"]))
            mine, theirs = row.get("psnr_mean_images"), (other or {}).get("psnr_mean_images")
            if not row.get("knobs") or not mine or not theirs or len(mine) != len(theirs):
                continue
            lines.append(f"| {CORRUPTIONS[name]} | {row['method']} | {row['budget']} | {knob_words(row)} "
                         f"| {paired_difference(mine, theirs)} | {row['crps']:.4f} / {other['crps']:.4f} |")
    return "\n".join(lines)


def dodged(budgets: list[int], index: int, methods: int) -> list[float]:
    """Budgets nudged apart on the log axis, a little per method, so error bars at one budget do not overlap."""
    return [budget * 2 ** (0.045 * (index - (methods - 1) / 2)) for budget in budgets]


def plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Top row: PSNR of the posterior mean against cost. Bottom row: the same minus MMPS's, paired over the same
    observations, with error bars of ± 1 standard error (what says whether two methods differ)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(results), figsize=(4.4 * len(results), 7.4), dpi=120, squeeze=False,
                                sharex=True)
    methods = sorted({r["method"] for rows in results.values() for r in rows})
    colours = {method: f"C{index}" for index, method in enumerate(methods)}
    for column, (name, rows) in enumerate(results.items()):
        level, gap = axes[0][column], axes[1][column]
        for index, method in enumerate(methods):
            mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["budget"])
            if not mine:
                continue
            budgets = [r["budget"] for r in mine]
            level.plot(budgets, [r["psnr_mean"] for r in mine], marker="o", color=colours[method], label=method)
            paired = [(budget, difference(rows, method, "mmps", budget)) for budget in budgets]
            paired = [(budget, d) for budget, d in paired if d is not None]
            if paired and method != "mmps":
                gap.errorbar(dodged([b for b, _ in paired], index, len(methods)), [d.mean for _, d in paired],
                             yerr=[d.stderr for _, d in paired], marker="o", markersize=4, capsize=3,
                             color=colours[method], label=method)
        count = max(r["observations"] for r in rows)
        level.set_title(f"{CORRUPTIONS[name]} ({count} test observations)")
        level.set_ylabel("PSNR of the posterior mean (dB)")
        gap.axhline(0.0, color=colours.get("mmps", "black"), linewidth=1.2)
        gap.set_ylabel("minus MMPS's (line), paired (dB, ± 1 s.e.)")
        gap.set_xlabel("network evaluations + VJPs")
        for axis in (level, gap):
            axis.set_xscale("log", base=2)
            axis.grid(alpha=0.3)
    shown = {label: handle for axis in axes[0] for handle, label in zip(*axis.get_legend_handles_labels())}
    figure.legend(list(shown.values()), list(shown), loc="lower center", ncol=len(shown), fontsize=8, frameon=False)
    tuned = any(r.get("knobs") for rows in results.values() for r in rows)
    figure.suptitle("Posterior samplers at matched cost, " + ("each method's knob tuned at each budget on validation "
                    "observations" if tuned else "default knobs"), fontsize=10)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="held-out test observations per corruption")
    parser.add_argument("--samples", type=int, default=4, help="posterior samples per observation")
    parser.add_argument("--budgets", type=int, nargs="+", default=[33, 65, 129])
    parser.add_argument("--corruptions", nargs="+", default=list(CORRUPTIONS), choices=list(CORRUPTIONS))
    parser.add_argument("--methods", nargs="+", help="a subset of the registered methods")
    parser.add_argument("--tune-count", type=int, default=8,
                        help="validation observations the knobs are tuned on at each budget (0: race the defaults)")
    parser.add_argument("--tune-metric", default="psnr", choices=list(METRICS),
                        help="what the knobs maximise on validation: " + "; ".join(f"{k}: {v}" for k, v in METRICS.items()))
    parser.add_argument("--tune-extend", type=int, default=8,
                        help="values tried past a grid's edge while the edge still wins (MMPS's k: one more each)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the raw results here (as the saved results file)")
    parser.add_argument("--resume", type=Path, help="rows already measured: JSON lines printed by an earlier run "
                                                    "(each with its corruption); those are not run again")
    parser.add_argument("--from-results", type=Path, metavar="JSON",
                        help=f"measure nothing: rebuild the table and figure from saved results (e.g. "
                             f"{shown_path(RESULTS)}), stamped with the command, hardware and date that measured them")
    parser.add_argument("--versus", type=Path, metavar="JSON",
                        help="saved results of another race (e.g. --tune-count 0, the defaults) to compare with, "
                             "paired per method and budget; printed, and added to the section")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--store-tuned", action="store_true",
                        help=f"keep the rows' tuned knobs (measured, or --from-results's) in {shown_path(PRIOR)}'s "
                             "tuned.json, by budget: the knobs the app's Compare tab runs at equal cost")
    return parser.parse_args()


def measure(args: argparse.Namespace) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Race every method at every budget on every corruption, each tuned there first: the rows by corruption,
    and the prior's tuned.json (what fills a knob the race left unset)."""
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    prior = PriorBundle.from_pretrained(PRIOR, device=device)
    results = resumed_rows(args.resume) if args.resume else {}
    tuned = read_tuned(PRIOR)
    for name in args.corruptions:
        observations = test_observations(CORRUPTIONS[name], args.count)
        validation = (validation_observations(CORRUPTIONS[name], args.tune_count, SIGMA_Y)
                      if args.tune_count > 0 else None)
        conditional = PriorBundle.from_pretrained(CONDITIONAL[name], device=device) if name in CONDITIONAL else None
        rows = results.setdefault(name, [])
        for method in racers(conditional is not None):
            if args.methods and method not in args.methods:
                continue
            bundle = conditional if POSTERIORS[method].needs == "conditional" else prior
            for budget in args.budgets:
                if any(r["method"] == method and r["budget"] == budget for r in rows):
                    continue
                tuning = tuned_knobs(bundle, validation, method, budget, args.tune_extend, args.tune_metric)
                row = race_one(bundle, observations, method, budget, args.samples, tuned, tuning)
                rows.append(row)
                print(json.dumps({"corruption": name, **row}), flush=True)
    return results, tuned


def save_results(path: Path, results: dict[str, list[dict[str, Any]]], tuned: dict[str, Any], command: str) -> None:
    """The raw rows (per-image PSNRs included, which the paired differences and error bars need), with provenance."""
    record = {"command": command, "device": hardware(), "date": datetime.date.today().isoformat(),
              "tuned": tuned, "rows": results}
    atomic_write_json(path, record)


def report(results: dict[str, list[dict[str, Any]]], tuned: dict[str, Any], command: str,
           measured_on: str | None = None, date: str | None = None, versus: Path | None = None) -> None:
    """The BENCHMARKS.md section and docs/sampler_race.png."""
    plot(results, FIGURE)
    text = summary(results, tuned)
    if versus is not None:
        text += "\n\n" + versus_text(results, versus)
    body = ("Held-out Fashion-MNIST **test** observations: the first test images of each corruption "
            "(a CPU-sized subset of the 256 the issue asks for; sizes in each table's title), "
            f"`sigma_y = {SIGMA_Y}`; unconditional methods around `em-mmps-fashion-mask75`, `conditional` with "
            "`diffem-fashion-mask75` (masks, boxes) or `diffem-fashion-blur2` (blur). Budget = network evaluations "
            "+ VJPs of one sampler run (DDPM; steps = the most that fit). Knobs: each method's declared knobs "
            "(MMPS's solver iterations k, DPS's zeta, PiGDM's prior variance v, DiffPIR's lambda, DAPS's ODE steps) "
            "tuned for each corruption and budget on validation observations (the train split's last images, "
            f"`diffem.tuning.tune_method`: {tuning_metric(results)}; a knob that costs calls leaves fewer steps), "
            "the chosen values in the `knobs` column. PSNR/SSIM of one sample and of the mean; "
            "`mean - MMPS's` = the PSNR of the mean minus MMPS's at the same budget, image by image on the same "
            "observations, averaged, ± its standard error over the observations (`diffem.metrics.paired_difference`: "
            "the spread between images cancels, the samplers' noise stays in); "
            "coverage of the per-pixel central 50 %/90 % intervals by the randomised PIT (ties within half a grey "
            "level of the 8-bit truth split at random, over the pixels where a sample is off the truth by more: "
            "`diffem.metrics.calibration`, the share of pixels counted in the table; 0.50/0.90 when calibrated, "
            "whatever the number of samples S, and all S on one side of the truth still cover "
            "max(0, 1 - (S + 1)(1 - p)/2): 0 / 0.75 with 4 samples); CRPS on pixels in [0, 1]; spread-skill "
            "(1 = calibrated); residual = `||y - A x|| / (sigma_y sqrt(m))` (1 = fits y as the truth does). "
            "Estimates clamped to the data range. Figure: `docs/sampler_race.png` (top: PSNR of the mean; bottom: "
            "the paired difference to MMPS with ± 1 s.e. bars). Raw rows, per-image PSNRs included: "
            f"`{shown_path(RESULTS)}` (`--from-results` rebuilds this section and the figure from them).\n\n" + text)
    write_section("sampler_race", body, command, measured_on, date)


def saved_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The rows of a results file (``save_results``), by corruption in the race's order."""
    saved = json.loads(path.read_text())
    return {name: saved["rows"][name] for name in CORRUPTIONS if name in saved["rows"]}  # the file sorts its keys


def versus_text(results: dict[str, list[dict[str, Any]]], path: Path) -> str:
    """What ``--versus`` adds: a line naming the saved race, then :func:`versus_saved`'s table."""
    saved = json.loads(path.read_text())
    return (f"Tuned knobs (`--versus`) against `{shown_path(path)}` (`{saved['command']}`, {saved['date']}; same test observations "
            "and seeds), PSNR of the mean paired over the observations:\n\n" + versus_saved(results, saved_rows(path)))


def store_tuned(results: dict[str, list[dict[str, Any]]], command: str, date: str) -> list[str]:
    """Keep each row's tuned knobs in the race prior's ``tuned.json``, as the records tuned at its budget
    (:func:`diffem.tuning.write_tuned`): what the app's Compare tab runs at equal cost. The conditional model and
    the methods without knobs have nothing to keep. Returns what was stored."""
    stored = []
    for name, rows in results.items():
        operator_name = parse_corruption(CORRUPTIONS[name], sigma_y=SIGMA_Y).name
        for row in rows:
            if not row.get("knobs") or POSTERIORS[row["method"]].needs == "conditional":
                continue
            record = {"options": row["knobs"], "validation_scores": row["validation_scores"],
                      "metric": row["tune_metric"], "tuned_by": f"{command} ({date})"}
            write_tuned(PRIOR, row["method"], operator_name, record, row["budget"])
            stored.append(f"{row['method']} {operator_name} {row['budget']}: {knob_words(row)}")
    return stored


def measuring_arguments(argv: list[str]) -> list[str]:
    """The command line without ``--resume FILE``: resumed rows are those the same command measured (seeded)."""
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--resume":
            skip = True
        elif not argument.startswith("--resume="):
            kept.append(argument)
    return kept


def main() -> None:
    args = parse_arguments()
    if args.from_results:
        saved = json.loads(args.from_results.read_text())
        rows = saved_rows(args.from_results)
        if args.store_tuned:
            print("\n".join(store_tuned(rows, saved["command"], saved["date"])))
        if args.no_write:  # only print: e.g. a variant's results beside the shipped race (--versus)
            print(summary(rows, saved["tuned"]))
            if args.versus:
                print("\n" + versus_text(rows, args.versus))
            return
        report(rows, saved["tuned"], saved["command"], saved["device"], saved["date"], args.versus)
        return
    command = "python benchmarks/sampler_race.py " + " ".join(measuring_arguments(sys.argv[1:]))
    results, tuned = measure(args)
    if args.json:
        save_results(args.json, results, tuned, command)
    if args.store_tuned:
        print("\n".join(store_tuned(results, command, datetime.date.today().isoformat())))
    print(summary(results, tuned))
    if args.versus:
        print("\n" + versus_text(results, args.versus))
    if not args.no_write:
        save_results(RESULTS, results, tuned, command)
        report(results, tuned, command, versus=args.versus)


if __name__ == "__main__":
    main()
