"""Evaluate the Fashion-MNIST runs of `checkpoints/train.sh` (issue 4's protocol), writing JSON.

- prior quality: Fréchet distance on the feature network's features between N prior samples
  and the 10,000 clean test images, for every unconditional prior (EM-MMPS, DiffEM's prior from
  the ``diffem-mask-prior`` run, the reference, the naive prior trained on the observations as they
  are, the Gaussian lap 0, and the corruption ladder's EM-MMPS runs at 25 / 50 / 90 % masks);
- posterior quality on the first M held-out test observations: PSNR/SSIM of single samples and
  of the mean of 8, with MMPS (k = 1, 3), DPS and conditional sampling at equal steps, and the
  wall time per image (batched, on the machine it runs on); MMPS k = 1 also as the official codes
  spend it (``k + 1`` VJPs: ``mmps_k1_official_cost``), the cost reference for the speed target.
  DPS runs at the step size ``zeta`` tuned for the prior judged, on validation observations (the
  train split's last ``--tune-count`` images: :func:`diffem.tuning.tune`), as the app does.

    python benchmarks/fashion_eval.py --runs runs/fashion --out results.json
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffem.atomic import atomic_write_json  # noqa: E402
from diffem.bundle import PriorBundle  # noqa: E402
from diffem.data.observations import load_observation_set  # noqa: E402
from diffem.em.laps import RunFolder  # noqa: E402
from diffem.evaluation import evaluate_posterior, evaluate_prior  # noqa: E402
from diffem.features import load_feature_net  # noqa: E402
from diffem.operators import parse_corruption  # noqa: E402
from diffem.data.observations import make_observation_set  # noqa: E402
from diffem.posterior import PosteriorOptions  # noqa: E402
from diffem.tuning import tune  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "checkpoints"))
import train_queue  # noqa: E402  (the queue of the runs judged here: one list of names)

#: the runs that learn a prior, each with the observation set (obs-NAME) whose test split it is judged on: the
#: 75 % runs, the naive and clean-data ends, and the corruption ladder (EM-MMPS at 25 / 50 / 90 % masks)
PRIOR_RUNS = train_queue.prior_runs()
#: every observation set a run of the queue trains on
OBSERVATION_SETS = tuple(train_queue.OBSERVATION_SETS)
#: each set's corruption (``mask`` -> ``mask:0.75``)
OBSERVATION_SPECS = dict(train_queue.OBSERVATION_SETS)
FEATURES = ROOT / "checkpoints" / "fashion-features"
#: the yardstick, evaluated from its shipped checkpoint when this session did not train it
SHIPPED_FALLBACK = {"reference": ROOT / "checkpoints" / "reference-fashion-clean"}


def last_bundle(run: RunFolder, part: str) -> Path | None:
    lap = run.last_lap_with(part)
    return None if lap is None else run.lap_path(lap) / part


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="runs/fashion")
    parser.add_argument("--out", required=True)
    parser.add_argument("--prior-samples", type=int, default=10000)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--tune-count", type=int, default=8, help="validation observations DPS's zeta is tuned on")
    parser.add_argument("--skip", nargs="*", default=[], help="run names to leave out")
    parser.add_argument("--features", help="the feature network (default: RUNS/features, else the shipped one)")
    args = parser.parse_args()
    runs = Path(args.runs)
    start = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    features = load_feature_net(args.features or (runs / "features" if (runs / "features").is_dir() else FEATURES),
                                device)
    tests = {name: load_observation_set(runs / f"obs-{name}", "test") for name in OBSERVATION_SETS
             if (runs / f"obs-{name}").is_dir()}
    if not tests:
        raise SystemExit(f"fashion_eval: no observation set (obs-NAME) under {runs}: nothing was trained to evaluate")
    clean = tests.get("mask") or next(iter(tests.values()))  # the clean test images are the same in every set
    extra_tests = {}
    for spec in ("mask:0.5", "box:0.4"):
        extra = make_observation_set(clean.x[: args.count], parse_corruption(spec, 0.01), seed=7, keep_clean=True)
        extra_tests[spec] = extra
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                               "date": datetime.date.today().isoformat(), "command": " ".join(["python", *sys.argv]),
                               "settings": vars(args), "models": {}}

    def record(key: str, value: Any) -> None:
        results["models"][key] = value
        atomic_write_json(Path(args.out), results)  # a run stopped at its deadline keeps what was measured
        print(key, json.dumps(value)[:400], flush=True)

    def posterior(bundle: PriorBundle, test: Any, method: str, iterations: int = 1,
                  reuse_products: bool = True, tuned: dict[str, Any] | None = None) -> dict[str, Any]:
        options = PosteriorOptions("gmres", iterations, reuse_products=reuse_products)
        return evaluate_posterior(bundle, test, method, args.count, args.samples, args.steps, seed=0,
                                  batch_size=args.count, options=options, tuned=tuned)

    def tuned_dps(path: str, observations: str) -> dict[str, Any]:
        """DPS's zeta tuned for the prior at ``path`` and the corruption of the set ``observations``, in tuned.json's
        layout (not written: a run's lap folder is not a shipped bundle)."""
        record = tune(path, OBSERVATION_SPECS[observations], field="zeta", count=args.tune_count, steps=args.steps,
                      device=device, write=False)  # one knob's record: ship.py names its validation count
        return {"dps": {tests[observations].operator.name: record}}

    def prior(bundle: PriorBundle, test: Any) -> dict[str, Any]:
        return evaluate_prior(bundle, test, args.prior_samples, args.steps, seed=0, features=features)

    skip = set(args.skip)
    first = runs / "em-mmps-mask" / "laps" / "lap-0000" / "prior"  # absent when the run started from a checkpoint
    if "gaussian-mask" not in skip and (first / "diffem.json").is_file():
        gaussian = PriorBundle.from_pretrained(first, device=device)
        record("gaussian-mask", {"prior": prior(gaussian, clean), "mmps_k1": posterior(gaussian, clean, "mmps")})
    priors: dict[str, PriorBundle] = {}
    for name, corruption in PRIOR_RUNS:  # every prior's FD and MMPS first: what each model card needs
        path = last_bundle(RunFolder(runs / name), "prior") or SHIPPED_FALLBACK.get(name)
        if path is None or name in skip or corruption not in tests:
            continue
        bundle = priors[name] = PriorBundle.from_pretrained(path, device=device)
        record(name, {"path": str(path), "lap": bundle.info.get("lap"), "prior": prior(bundle, tests[corruption]),
                      "mmps_k1": posterior(bundle, tests[corruption], "mmps", 1)})
    for name, corruption in (("diffem-mask", "mask"), ("diffem-mask-own", "mask"), ("diffem-blur", "blur")):
        run = RunFolder(runs / name)
        path = last_bundle(run, "conditional")
        if path is None or name in skip or corruption not in tests:
            continue
        bundle = PriorBundle.from_pretrained(path, device=device)
        entry = {"path": str(path), "lap": bundle.info.get("lap"),
                 "conditional": posterior(bundle, tests[corruption], "conditional")}
        if corruption == "mask":
            for spec, test in extra_tests.items():
                try:
                    entry[f"conditional_{spec}"] = posterior(bundle, test, "conditional")
                except ValueError as error:
                    entry[f"conditional_{spec}"] = {"error": str(error)}
        record(name, entry)
    if "em-mmps-mask" in priors:  # then the EM-MMPS prior's other samplers and its blur test
        entry, bundle = dict(results["models"]["em-mmps-mask"]), priors["em-mmps-mask"]
        entry["mmps_k1_official_cost"] = posterior(bundle, clean, "mmps", 1, reuse_products=False)
        entry["mmps_k3"] = posterior(bundle, clean, "mmps", 3)
        tuned = tuned_dps(entry["path"], "mask")
        entry["dps"] = posterior(bundle, clean, "dps", tuned=tuned) | {"tuning": tuned["dps"][clean.operator.name]}
        if "blur" in tests:
            entry["mmps_k1_blur"] = posterior(bundle, tests["blur"], "mmps", 1)
        record("em-mmps-mask", entry)
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
