"""Fashion-MNIST priors measured side by side on the CPU: issue 4's protocol, scaled to a 2-core machine.

For every prior given (a bundle folder, or a run folder: its last lap's prior):

- prior quality: Fréchet distance on the `fashion-features` network between ``--prior-samples``
  prior samples (``--fd-steps`` DDPM steps) and the 10,000 clean test images;
- posterior quality on the first ``--count`` held-out test observations (75 % masks): PSNR/SSIM
  of single MMPS samples (GMRES, k = 1) and of the mean of ``--samples``, and the wall time per
  image (batched).

A prior trained by ``diffem-prior --prior-init conditional`` also gets a row for its lap-1 starting point
(the conditional model told nothing, untrained), to show what its laps of training add.

Fewer samples and steps than `fashion_eval.py` (10,000 prior samples at 64 steps, 1,000
observations, on a GPU): a Fréchet distance on 1,000 samples is biased upwards against one on
10,000, so compare the rows of this table with each other, not with the GPU table. Results are kept in ``--out`` as they finish,
and a re-run skips the priors already measured with the same settings (``--fresh`` re-measures).

It needs the queue's observation set, the Gaussian lap 0 fitted to it (the EM runs' common start) and the
naive baseline trained on the observations as they are (missing pixels at 0, no E-step), the two ends every
learned prior is read against, made once (the naive baseline gets the CPU-trained DiffEM prior's M-step budget,
1,200 steps of batch 128, from scratch):

    python -m diffem make-observations --data fashion-mnist --corruption mask:0.75 --sigma-y 0.01 --seed 0 \
        --limit 30000 --out runs/fashion-cpu/obs-mask
    python -m diffem train --method em-mmps --observations runs/fashion-cpu/obs-mask \
        --out runs/fashion-cpu/gaussian-mask --laps 1 --time-limit 1 --estep-batch 8192 --eval-samples 0
    python -m diffem train --method naive --observations runs/fashion-cpu/obs-mask --out runs/fashion-cpu/naive-mask \
        --laps 1 --steps-per-lap 1200 --batch-size 128 --lr 3e-4 --lr-final 3e-5 --hflip --eval-count 16 \
        --eval-samples 0
    python benchmarks/fashion_cpu.py
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import hardware, percent, shown_path, write_section  # noqa: E402
from diffem.bundle import PriorBundle  # noqa: E402
from diffem.data.observations import load_observation_set  # noqa: E402
from diffem.em.laps import RunFolder  # noqa: E402
from diffem.em.networks import without_condition  # noqa: E402
from diffem.evaluation import evaluate_posterior, evaluate_prior  # noqa: E402
from diffem.features import load_feature_net  # noqa: E402

DEFAULT_PRIORS = (
    "gaussian-mask (lap 0)=runs/fashion-cpu/gaussian-mask",
    "naive-mask=runs/fashion-cpu/naive-mask",
    "em-mmps-mask=checkpoints/em-mmps-fashion-mask75",
    "diffem-mask-prior=checkpoints/diffem-fashion-mask75-prior",
    "reference=checkpoints/reference-fashion-clean",
)
REFERENCE = "reference"
COMMAND = "python benchmarks/fashion_cpu.py"


def prior_folder(path: Path) -> Path:
    """A bundle folder as given, or a run folder's last lap with a prior."""
    if (path / "diffem.json").is_file():
        return path
    if not path.is_dir():
        raise SystemExit(f"{path} does not exist: the module's docstring says how to make it")
    run = RunFolder(path)
    lap = run.last_lap_with("prior")
    if lap is None:
        raise SystemExit(f"{path} is neither a prior bundle nor a run with a complete lap")
    return run.lap_path(lap) / "prior"


def starting_point(folder: Path) -> PriorBundle | None:
    """The lap-1 start of a prior trained by ``diffem-prior --prior-init conditional`` (a bundle folder): its
    conditional model told nothing."""
    info = json.loads((folder / "diffem.json").read_text()).get("info", {})
    if info.get("method") != "diffem-prior" or info.get("prior_init") != "conditional":
        return None
    conditional = PriorBundle.from_pretrained(ROOT / info["conditional"], device="cpu")
    return PriorBundle(without_condition(conditional.denoiser), conditional.schedule, conditional.event_shape,
                       conditional.scaling, {"start_of": str(folder), "conditional": info["conditional"]})


def parse_priors(items: list[str]) -> dict[str, Path]:
    priors = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise SystemExit(f"--prior takes NAME=FOLDER, got {item!r}")
        priors[name] = ROOT / folder
    return priors


def measure(bundle: PriorBundle, test: Any, features: torch.nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    prior = evaluate_prior(bundle, test, args.prior_samples, args.fd_steps, seed=0, features=features)
    posterior = evaluate_posterior(bundle, test, "mmps", args.count, args.samples, args.steps, seed=0,
                                   batch_size=args.count)
    return {"prior": prior, "mmps_k1": posterior, "seconds": time.perf_counter() - start}


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("prior_samples", "fd_steps", "count", "samples", "steps")}


def table(results: dict[str, Any]) -> str:
    reference = results.get(REFERENCE, {}).get("prior", {}).get("frechet_features")
    lines = ["| prior | bundle | FD | FD / reference | black share | MMPS k = 1 PSNR (1 sample) | SSIM (1 sample) | "
             "PSNR (mean) | SSIM (mean) | ms / image |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in results.items():
        fd = entry["prior"]["frechet_features"]
        post = entry["mmps_k1"]
        ratio = f"{fd / reference:.2f}x" if reference else "-"
        lines.append(f"| {name} | `{entry['path']}` | {fd:.1f} | {ratio} | {percent(entry['prior'].get('black_share'))} | "
                     f"{post['psnr_single']:.2f} | "
                     f"{post['ssim_single']:.3f} | {post['psnr_mean']:.2f} | {post['ssim_mean']:.3f} | "
                     f"{1000 * post['seconds_per_image']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", action="append", help="NAME=FOLDER (repeatable; default: the Gaussian lap 0, "
                        "the naive baseline and the shipped unconditional priors)")
    parser.add_argument("--observations", default="runs/fashion-cpu/obs-mask", help="observation set (test split)")
    parser.add_argument("--features", default="checkpoints/fashion-features")
    parser.add_argument("--prior-samples", type=int, default=1000)
    parser.add_argument("--fd-steps", type=int, default=32, help="DDPM steps of the prior samples")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fashion-cpu.json")
    parser.add_argument("--fresh", action="store_true", help="re-measure priors already in --out")
    parser.add_argument("--no-starting-points", dest="starting_points", action="store_false",
                        help="leave out the lap-1 start of diffem-prior runs warm-started from their conditional model")
    parser.add_argument("--section", default="fashion-cpu")
    parser.add_argument("--note", default="", help="a remark kept with the results (e.g. what else ran meanwhile)")
    args = parser.parse_args()
    priors = parse_priors(args.prior or list(DEFAULT_PRIORS))
    test = load_observation_set(ROOT / args.observations, "test")
    features = load_feature_net(str(ROOT / args.features), "cpu")
    saved = json.loads(args.out.read_text()) if args.out.is_file() and not args.fresh else {}
    results: dict[str, Any] = saved.get("models", {}) if saved.get("settings") == settings_of(args) else {}
    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"settings": settings_of(args), "device": hardware(),
                                        "date": datetime.date.today().isoformat(), "command": COMMAND, "note": args.note,
                                        "models": results}, indent=2) + "\n")

    order = []
    for name, path in priors.items():
        folder = prior_folder(path)
        start = starting_point(folder) if args.starting_points else None
        candidates = [(name, shown_path(folder), lambda folder=folder: PriorBundle.from_pretrained(folder, device="cpu"))]
        if start is not None:
            candidates.insert(0, (f"{name} (lap-1 start)", f"{start.info['conditional']} without its condition",
                                  lambda start=start: start))
        for key, where, load in candidates:
            order.append(key)
            if results.get(key, {}).get("path") == where:
                print(f"{key}: kept from {args.out}")
                continue
            results[key] = {"path": where, **measure(load(), test, features, args)}
            save()
            print(f"{key}: {json.dumps(results[key])[:300]}", flush=True)
    results = {key: results[key] for key in order}
    save()
    minutes = sum(entry["seconds"] for entry in results.values()) / 60
    test_share = next((entry["prior"].get("test_black_share") for entry in results.values()), None)
    body = f"""Unconditional Fashion-MNIST priors measured side by side on this CPU (`benchmarks/fashion_cpu.py`):
Fréchet distance (`fashion-features`) between {args.prior_samples:,} prior samples ({args.fd_steps} DDPM steps) and the
10,000 clean test images; MMPS (GMRES, k = 1, {args.steps} steps) on the first {args.count} held-out 75 %-masked
test observations, {args.samples} samples each (PSNR/SSIM of one sample and of their mean; ms / image batched by
{args.count}). {args.prior_samples:,} samples bias the FD upwards against the GPU table's 10,000: compare these rows
with each other. Black share: the prior samples' pixels within two grey levels of black, which background speckle
lowers (`diffem.metrics.black_share`; the clean test images: {percent(test_share)}). {minutes:.0f} minutes of
measurement. Results: `{shown_path(args.out)}`. {args.note}

{table(results)}
"""
    write_section(args.section, body, COMMAND)


if __name__ == "__main__":
    main()
