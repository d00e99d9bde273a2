"""Ship the trained Fashion-MNIST priors: copy bundles out of the runs, write model cards and the report.

Reads the run folders of ``checkpoints/train.sh`` (their per-lap ``metrics.json``) and the JSON of
``benchmarks/fashion_eval.py`` (or ``benchmarks/fashion_cpu.py``; with several ``--eval`` files, each
model takes its figures from the first file that has them); writes ``checkpoints/<name>/`` (bundle, sample grid, ``README.md``
model card), ``checkpoints/fashion-features/``, the ``fashion`` section of BENCHMARKS.md and
``docs/fashion.png``. Nothing here is measured: every figure comes from those files.

    python checkpoints/ship.py --runs runs/fashion --eval benchmarks/results/fashion-h100.json

``--only NAME`` ships those models alone (no feature network, no report), e.g. the DiffEM prior
trained on the CPU by ``checkpoints/train-diffem-prior-cpu.sh``:

    python checkpoints/ship.py --runs runs/fashion-cpu --eval benchmarks/results/fashion-cpu.json \
        --only diffem-fashion-mask75-prior
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "checkpoints"))

from common import percent, shown_path, write_section  # noqa: E402
import train_queue  # noqa: E402  (checkpoints/, beside this script: the runs' names)
from diffem.atomic import atomic_directory  # noqa: E402
from diffem.em.laps import RunFolder, verify_folder  # noqa: E402
from diffem.em.seeding import HISTORY_FILE, history_entry  # noqa: E402


@dataclass(frozen=True)
class Shipped:
    name: str
    run: str
    part: str  # "prior" or "conditional"
    title: str
    corruption: str
    tags: tuple[str, ...]
    upper_bound: bool = False
    compute: str = ("on one GPU; the laps of the first GPU session (issue 4) ran while four other runs shared it, "
                    "about 4x slower each, and the later ones alone (`checkpoints/train_queue.py`, one run at a time)")
    why: str = ("the GPU budget of one session (30 minutes for all five runs) — a larger UNet or more laps "
                "would be better; every run resumes from its last lap (`bash checkpoints/train.sh`)")


SHIPPED = (
    Shipped("em-mmps-fashion-mask75", "em-mmps-mask", "prior",
            "EM-MMPS prior learned from 75 %-masked Fashion-MNIST", "mask 75 %", ("em-mmps", "inpainting")),
    Shipped("diffem-fashion-mask75", "diffem-mask", "conditional",
            "DiffEM conditional model learned from 75 %-masked Fashion-MNIST", "mask 75 %", ("diffem", "inpainting")),
    Shipped("diffem-fashion-mask75-prior", "diffem-mask-prior", "prior",
            "DiffEM unconditional prior, trained on the reconstructions of its conditional model (75 %-masked "
            "Fashion-MNIST)", "mask 75 %", ("diffem", "inpainting"),
            compute="on a 2-core x86_64 CPU, no GPU (`checkpoints/train-diffem-prior-cpu.sh`)",
            why=("no GPU was lent to the session that trained it, so it was trained on the CPU (issue 4's fallback): "
                 "reconstructions of a subset of the observations, short laps, and a warm start from the "
                 "conditional model; more laps or a GPU run (`checkpoints/train.sh`) would do better")),
    Shipped("diffem-fashion-blur2", "diffem-blur", "conditional",
            "DiffEM conditional model learned from blurred Fashion-MNIST", "blur sigma 2 px", ("diffem", "deblurring")),
    Shipped("reference-fashion-clean", "reference", "prior",
            "Reference prior trained on CLEAN Fashion-MNIST (upper bound, not an EM result)", "none (clean)",
            ("reference",), upper_bound=True),
)

#: eval JSON key -> (test corruption, sampler) for the posterior tables
POSTERIOR_ROWS = {
    "mmps_k1": ("mask 75 %", "MMPS (GMRES, k = 1)"),
    "mmps_k1_official_cost": ("mask 75 %", "MMPS (GMRES, k = 1, k + 1 VJPs as the official codes)"),
    "mmps_k3": ("mask 75 %", "MMPS (GMRES, k = 3)"),
    "dps": ("mask 75 %", "DPS"),
    "mmps_k1_blur": ("blur sigma 2 px", "MMPS (GMRES, k = 1)"),
    "conditional": (None, "conditional"),
    "conditional_mask:0.5": ("mask 50 % (not trained on)", "conditional"),
    "conditional_box:0.4": ("box 40 %", "conditional"),
}


def fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def posterior_table(entry: dict[str, Any], own_corruption: str) -> str:
    lines = ["| test observations | sampler | PSNR (1 sample) | SSIM (1 sample) | PSNR (mean of 8) | SSIM (mean of 8) "
             "| ms / image |", "|---|---|---|---|---|---|---|"]
    for key, (corruption, sampler) in POSTERIOR_ROWS.items():
        result = entry.get(key)
        if not isinstance(result, dict):
            continue
        sampler = sampler_words(sampler, result)
        if "error" in result:
            lines.append(f"| {corruption or own_corruption} | {sampler} | not supported by this eval run | | | | |")
            continue
        lines.append(f"| {corruption or own_corruption} | {sampler} | {fmt(result['psnr_single'])} | "
                     f"{fmt(result['ssim_single'], 3)} | {fmt(result['psnr_mean'])} | {fmt(result['ssim_mean'], 3)} | "
                     f"{fmt(1000 * result['seconds_per_image'], 1)} |")
    return "\n".join(lines)


def sampler_words(sampler: str, result: dict[str, Any]) -> str:
    """The sampler as a row names it; DPS with the zeta it ran at, tuned for the prior or not."""
    if sampler != "DPS":
        return sampler
    tuning = result.get("tuning")
    if not isinstance(tuning, dict):
        return "DPS (zeta 1, untuned)"
    return f"DPS (zeta {tuning['options']['zeta']:g}, tuned on {tuning['validation']['count']} validation observations)"


def lap_table(history: list[dict[str, Any]], config: dict[str, Any]) -> str:
    lines = [f"| lap | model | training loss | FD (features, {config.get('eval_samples', 1000):,} samples) | black share | "
             f"posterior PSNR ({config.get('eval_count', 256)} test obs.) | "
             "posterior SSIM | E-step s | M-step s |", "|---|---|---|---|---|---|---|---|---|"]
    for m in history:
        lines.append(f"| {m['lap']} | {m.get('model', '-')} | {fmt(m.get('final_loss'), 4)} | "
                     f"{fmt(m.get('frechet_features'), 1)} | {percent(m.get('black_share'))} | {fmt(m.get('posterior_psnr'))} | "
                     f"{fmt(m.get('posterior_ssim'), 3)} | {fmt(m.get('estep_seconds', m.get('fit_seconds')), 0)} | "
                     f"{fmt(m.get('mstep_seconds'), 0)} |")
    return "\n".join(lines)


def e_step_text(config: dict[str, Any]) -> str:
    method, steps = config.get("method"), config.get("sampler_steps")
    if method == "em-mmps":
        return f"E-steps of {steps} DDPM steps (MMPS, GMRES k = 1)"
    if method == "diffem":
        return f"E-steps of {steps} DDPM steps (the conditional model)"
    if method == "diffem-prior":
        start = ("the conditional model without its condition channels (its answer to an empty observation)"
                 if config.get("prior_init") == "conditional" else "a fresh network")
        return (f"one E-step, drawn once and reused by every lap: a reconstruction of each observation by the DiffEM "
                f"conditional model `{config.get('conditional')}` ({steps} DDPM steps); lap 1 starts from {start}")
    return "no E-step (clean data)"


def compute_seconds(history: list[dict[str, Any]]) -> float:
    keys = ("fit_seconds", "estep_seconds", "mstep_seconds")
    return sum(float(m.get(k, 0.0)) for m in history for k in keys)


def black_line(entry: dict[str, Any]) -> str:
    """The card's line on background speckle, where the evaluation measured the black share."""
    prior = entry.get("prior", {})
    if "black_share" not in prior:
        return ""
    return (f"- Black share (prior samples' pixels within two grey levels of black; speckle lowers it): "
            f"**{percent(prior['black_share'])}**, against {percent(prior.get('test_black_share'))} for the clean test images\n")


def model_card(item: Shipped, run: RunFolder, lap: int, entry: dict[str, Any], evaluation: dict[str, Any]) -> str:
    config = run.config() or {}
    history = run.history()
    fd = entry.get("prior", {}).get("frechet_features")
    settings = evaluation["settings"]
    tags = "\n".join(f"- {t}" for t in ("diffusion", "expectation-maximization", "inverse-problems", *item.tags))
    kind = "conditional model q(x | y)" if item.part == "conditional" else "unconditional prior"
    peers = [f"`{key}` {other['prior']['frechet_features']:.1f}" for key, other in evaluation["models"].items()
             if key != item.run and isinstance(other.get("prior"), dict) and "frechet_features" in other["prior"]]
    peer_line = ("- Measured the same way, on the same machine: " + ", ".join(peers) + "\n") if fd is not None and peers else ""
    note_line = f"- Note: {evaluation['note']}\n" if evaluation.get("note") else ""
    warning = ("\n> **Upper bound.** This prior was trained on the clean training images behind the "
               "observations. It is the yardstick for the EM priors, never an EM result.\n" if item.upper_bound else "")
    prior_line = (f"- Fréchet distance (feature network, {settings['prior_samples']:,} prior samples vs the "
                  f"10,000 clean test images, {settings.get('fd_steps', settings['steps'])} DDPM steps): **{fmt(fd, 1)}**\n"
                  f"{black_line(entry)}" if fd is not None else
                  "- Prior quality: a conditional model has no unconditional samples; its per-lap FD below is for "
                  "posterior samples of held-out test observations (the aggregate posterior).\n")
    load = ("bundle = PriorBundle.from_pretrained(\"checkpoints/{0}\")\n"
            "# python -m diffem restore --prior checkpoints/{0} --method {1} --image IMAGE.png "
            "--corruption CORRUPTION --out OUT").format(
                item.name, "conditional" if item.part == "conditional" else "mmps")
    return f"""---
library_name: diffem
license: mit
datasets:
- zalando-datasets/fashion_mnist
tags:
{tags}
---

# {item.name}: {item.title}
{warning}
A diffem {kind} for 28x28 grey Fashion-MNIST images on the [-2, 2] scale, a `small` diffusers
UNet2DModel (1.1 M parameters) inside an EDM-preconditioned denoiser (VE schedule, sigma 1e-3 to 100).

## Training
- Data: the first {config.get('observations_limit') or 30000:,} Fashion-MNIST training images, seen only through their corruption
  ({item.corruption}, sigma_y = 0.01, one fixed corruption per image, seed 0); the held-out test set
  serves evaluation only.
- Method: `{config.get('method')}`, lap {lap} of a run with laps of {config.get('steps_per_lap')} Adam steps
  (batch {config.get('batch_size')}, lr {config.get('lr')} -> {config.get('lr_final')}, EMA {config.get('ema_decay')}
  with warm-up, gradient clip {config.get('clip')}, {'bf16 autocast' if config.get('precision') == 'bf16' else 'fp32'}{', random horizontal flips' if config.get('hflip') else ''}),
  {e_step_text(config)}.
  Lap 0 is the closed-form Gaussian EM fit (rank 64 + diagonal).
{'- Fresh corruptions in the M-step: ' + json.dumps(config.get('train_corruption')) + ' (a mask family: random pixels 30-95 %, boxes, strokes), so the model also serves box masks and drawn masks.' + chr(10) if config.get('train_corruption') else ''}- Compute: {compute_seconds(history) / 60:.0f} minutes summed over laps, {item.compute}.
- Why this size: {item.why}.

## Quality (measured on {evaluation['device']}, {evaluation.get('date', '')})
{prior_line}{peer_line}{note_line}
Posterior samples of the first {settings['count']:,} held-out test observations, {settings['steps']} DDPM steps,
{settings['samples']} samples each; ms / image is the batched wall time (batch {settings['count']}):

{posterior_table(entry, item.corruption)}

Per lap (from the run's `metrics.json`; FD on {config.get('eval_samples', 1000):,} samples, {config.get('sampler_steps', 32)}-step sampler):

{lap_table(history, config)}

![samples](samples.png)

## Use
```python
from diffem import PriorBundle
{load}
```
Command that measured the tables: `{evaluation.get('command', 'python benchmarks/fashion_eval.py')}`.
"""


def quality_record(item: Shipped, entry: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Any] | None:
    """What the app says of the bundle's quality (``info["quality"]``): its FD beside the clean-data
    reference's, or for a conditional model its PSNR beside MMPS with the reference; None without one."""
    settings, models = evaluation["settings"], evaluation["models"]
    reference = models.get("reference", {})
    where = f"{evaluation['device']}, {evaluation.get('date', '')}"
    fd, reference_fd = entry.get("prior", {}).get("frechet_features"), reference.get("prior", {}).get("frechet_features")
    if fd is not None and reference_fd:
        return {"frechet": round(fd, 2), "reference_frechet": round(reference_fd, 2),
                "measured": f"{settings['prior_samples']:,} samples, {where}"}
    psnr = entry.get("conditional", {}).get("psnr_mean")
    if psnr is None:
        return None
    record = {"psnr": round(psnr, 2), "measured": where,
              "task": f"{item.corruption} test images (mean of {settings['samples']} samples, "
                      f"{settings['count']:,} observations)"}
    reference_psnr = reference.get("mmps_k1", {}).get("psnr_mean")
    return record | ({"reference_psnr": round(reference_psnr, 2)} if reference_psnr is not None else {})


def copy_bundle(source: Path, target: Path, pictures: Path, card: str, quality: dict[str, Any] | None,
                history: list[dict[str, Any]]) -> None:
    """Replace ``target`` whole (atomically) by the bundle folder with its quality record, the lap's
    pictures, a model card and the run's per-lap figures (which a run started from it keeps)."""
    with atomic_directory(target) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        entries = [history_entry(metrics) for metrics in history]
        (staging / HISTORY_FILE).write_text(json.dumps(entries, indent=1) + "\n")
        if quality is not None:
            config = json.loads((staging / "diffem.json").read_text())
            config.setdefault("info", {})["quality"] = quality
            (staging / "diffem.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        for picture in ("samples.png", "reconstructions.png"):
            if (pictures / picture).is_file():
                shutil.copy2(pictures / picture, staging / picture)
        (staging / "README.md").write_text(card)


def ship_features(runs: Path, out: Path) -> None:
    config = json.loads((runs / "features" / "config.json").read_text())
    accuracy = config["info"]["test_accuracy"]
    copy_bundle(runs / "features", out / "fashion-features", runs / "features", f"""---
library_name: diffem
license: mit
datasets:
- zalando-datasets/fashion_mnist
tags:
- image-classification
- evaluation
---

# fashion-features: the feature network behind diffem's Fréchet distances

## What it is
A small CNN classifier (width {config['width']}) trained for {config['info']['epochs']} epochs on the clean
Fashion-MNIST training images (`python -m diffem train-features`). Test accuracy: **{accuracy:.4f}** on
the 10,000 test images. Its penultimate features replace Inception's in the Fréchet distances of
BENCHMARKS.md and the model cards. It is used for evaluation only, never for training a prior.

## Use
```python
from diffem.features import load_feature_net
features = load_feature_net("checkpoints/fashion-features", "cpu")
```
""")


#: issue 19's "clean black backgrounds, as the reference's are": a black share of at least this share of the reference's
BLACK_TARGET = 0.9


def prior_targets(models: dict[str, Any]) -> str:
    """Issue 19's rows that need figures an evaluation may lack: DiffEM's prior FD, the black shares."""
    met = {True: "met", False: "missed"}
    reference = models["reference"]["prior"]
    rows = []
    prior = models.get("diffem-mask-prior", {}).get("prior", {})
    if "frechet_features" in prior:
        ratio = prior["frechet_features"] / reference["frechet_features"]
        rows.append(f"| DiffEM prior FD within 1.3x of the reference (issue 19) | {ratio:.2f}x | {met[ratio <= 1.3]} |")
    for key, label in (("em-mmps-mask", "EM-MMPS"), ("diffem-mask-prior", "DiffEM prior")):
        black = models.get(key, {}).get("prior", {}).get("black_share")
        if black is not None and reference.get("black_share"):
            ratio = black / reference["black_share"]
            rows.append(f"| {label} samples' black share >= {100 * BLACK_TARGET:.0f} % of the reference's "
                        f"({percent(reference['black_share'])}) | {percent(black)} | {met[ratio >= BLACK_TARGET]} |")
    return "".join(row + "\n" for row in rows)


def targets(models: dict[str, Any], runs: Path) -> str:
    """Issues 4's and 19's targets, checked against the measured figures."""
    em, reference, conditional = models["em-mmps-mask"], models["reference"], models["diffem-mask"]["conditional"]
    met = {True: "met", False: "missed"}
    ratio = em["prior"]["frechet_features"] / reference["prior"]["frechet_features"]
    gain = em["mmps_k1"]["psnr_single"] - em["dps"]["psnr_single"]
    dps = "tuned DPS" if "tuning" in em["dps"] else "untuned DPS (zeta 1)"
    speed = em["mmps_k1"]["seconds_per_image"] / conditional["seconds_per_image"]
    official = em.get("mmps_k1_official_cost", {}).get("seconds_per_image")
    official_row = (f"| conditional >= 2.5x faster per image than MMPS k = 1 as the official codes spend it "
                    f"(k + 1 VJPs) | {official / conditional['seconds_per_image']:.2f}x | "
                    f"{met[official / conditional['seconds_per_image'] >= 2.5]} |\n" if official else "")
    gap = em["mmps_k1"]["psnr_single"] - conditional["psnr_single"]
    family = {m["lap"]: m for m in RunFolder(runs / "diffem-mask").history()}
    own = {m["lap"]: m for m in RunFolder(runs / "diffem-mask-own").history()}
    common = max(set(family) & set(own))
    return f"""| target | measured | |
|---|---|---|
| EM-MMPS prior FD within 3x of the reference | {ratio:.2f}x | {met[ratio <= 3]} |
| EM-MMPS prior FD within 1.5x of the reference (issue 19) | {ratio:.2f}x | {met[ratio <= 1.5]} |
{prior_targets(models)}| MMPS PSNR >= {dps} + 1 dB at equal steps (64) | {gain:+.2f} dB | {met[gain >= 1]} |
| conditional >= 2.5x faster per image than MMPS k = 1 (64 steps) | {speed:.2f}x | {met[speed >= 2.5]} |
{official_row}| conditional PSNR within 1 dB of MMPS k = 1 (single samples) | {-gap:+.2f} dB | {met[abs(gap) <= 1]} |

Cost of the wider mask family on the observed corruption (75 % masks), at equal laps ({common}):
posterior PSNR on 256 test observations {family[common]['posterior_psnr']:.2f} dB (family) vs
{own[common]['posterior_psnr']:.2f} dB (own masks only); FD of the aggregate posterior
{family[common]['frechet_features']:.1f} vs {own[common]['frechet_features']:.1f}."""


#: the EM-MMPS paper's CIFAR-10 FID after 32 laps, by mask ratio (its Table 1)
PAPER_FID = {0.25: 5.88, 0.5: 6.76, 0.75: 13.18}


def evaluated_lap(entry: dict[str, Any]) -> int:
    """The lap a model's evaluation read (as recorded, or from its lap folder's name; 0 for the Gaussian)."""
    if isinstance(entry.get("lap"), int):
        return entry["lap"]
    folder = Path(entry.get("path") or "lap-0000").parent.name
    return int(folder.removeprefix("lap-")) if folder.startswith("lap-") and folder[4:].isdigit() else 0


def ladder_table(models: dict[str, Any], reference: float | None) -> str:
    """FD against the mask ratio (the EM-MMPS paper's Table 1 shape), beside the paper's CIFAR-10 trend."""
    rows = ["| mask ratio | EM-MMPS lap | FD (10,000 samples) | ratio to reference | paper: CIFAR-10 FID, 32 laps |",
            "|---|---|---|---|---|"]
    for ratio, key in train_queue.ladder_runs():
        paper = PAPER_FID.get(ratio)
        fd = models.get(key, {}).get("prior", {}).get("frechet_features")
        if fd is None:
            continue
        against = f"{fd / reference:.2f}x" if reference else "-"
        rows.append(f"| {ratio * 100:.0f} % | {evaluated_lap(models[key])} | {fmt(fd, 1)} | {against} | "
                    f"{fmt(paper) if paper else '-'} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def report(runs: Path, evaluation: dict[str, Any], command: str, source: Path) -> None:
    import fashion_figure  # benchmarks/: the figure from the model cards just written, two panels

    fashion_figure.main()
    models = evaluation["models"]
    rows = ["| prior | lap | FD (10,000 samples) | ratio to reference | black share |", "|---|---|---|---|---|"]
    reference = models.get("reference", {}).get("prior", {}).get("frechet_features")
    for key, label in (("gaussian-mask", "Gaussian (lap 0, mask 75 %)"),
                       ("naive-mask", "naive: trained on the observations as they are (mask 75 %)"),
                       ("em-mmps-mask", "EM-MMPS (mask 75 %)"),
                       ("diffem-mask-prior", "DiffEM prior from its reconstructions (mask 75 %)"),
                       ("reference", "clean-data reference")):
        entry = models.get(key, {})
        if not entry:
            continue
        fd = entry.get("prior", {}).get("frechet_features")
        ratio = f"{fd / reference:.2f}x" if fd and reference else "-"
        black = percent(entry.get("prior", {}).get("black_share"))
        rows.append(f"| {label} | {evaluated_lap(entry)} | {fmt(fd, 1)} | {ratio} | {black} |")
    ladder = ladder_table(models, reference)
    own = {"gaussian-mask": "mask 75 %", "diffem-mask": "mask 75 %", "diffem-mask-own": "mask 75 %",
           "diffem-blur": "blur sigma 2 px"}
    tables = [f"### {key}\n\n{posterior_table(entry, own.get(key, 'mask 75 %'))}" for key, entry in models.items()]
    body = f"""Fashion-MNIST priors of `checkpoints/train.sh` (30,000 training observations, small UNet; the laps of the
first GPU session ran five at once on one GPU, later laps one run at a time, `checkpoints/train_queue.py`),
evaluated by `benchmarks/fashion_eval.py`: {evaluation['settings']['prior_samples']:,}
prior samples against the 10,000 clean test images (Fréchet distance on the `fashion-features` network),
and {evaluation['settings']['count']:,} held-out test observations x {evaluation['settings']['samples']} posterior samples at
{evaluation['settings']['steps']} DDPM steps. Per-lap curves: `docs/fashion.png`. Results: `{shown_path(source)}`.

{chr(10).join(rows)}

{ladder}

{targets(models, runs)}

{(chr(10) * 2).join(tables)}
"""
    write_section("fashion", body, command, measured_on=f"GPU {evaluation['device']} (device machine)",
                  date=evaluation.get("date"))


def load_evaluations(files: list[Path]) -> dict[str, dict[str, Any]]:
    """Each model's evaluation file (its ``device``, ``settings``, ``date`` and ``command``): the first that has it."""
    chosen: dict[str, dict[str, Any]] = {}
    for file in files:
        evaluation = json.loads(file.read_text())
        for key in evaluation["models"]:
            chosen.setdefault(key, evaluation)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "fashion")
    parser.add_argument("--eval", type=Path, action="append",
                        help="evaluation JSON (repeatable; default: benchmarks/results/fashion-h100.json)")
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints")
    parser.add_argument("--only", nargs="+", choices=[item.name for item in SHIPPED],
                        help="ship these models alone (no feature network, no BENCHMARKS report)")
    args = parser.parse_args()
    files = args.eval or [ROOT / "benchmarks" / "results" / "fashion-h100.json"]
    evaluations = load_evaluations(files)
    for item in SHIPPED:
        if args.only and item.name not in args.only:
            continue
        run = RunFolder(args.runs / item.run)
        lap = run.last_lap_with(item.part)
        if lap is None:
            raise SystemExit(f"{run.root} has no complete lap with a {item.part}")
        if item.run not in evaluations:
            raise SystemExit(f"no evaluation of {item.run} in {', '.join(map(str, files))}")
        folder = run.lap_path(lap)
        problem = verify_folder(folder)
        if problem is not None:
            raise SystemExit(f"{folder} is not complete: {problem}")
        evaluation = evaluations[item.run]
        entry = evaluation["models"][item.run]
        card = model_card(item, run, lap, entry, evaluation)
        copy_bundle(folder / item.part, args.out / item.name, folder, card, quality_record(item, entry, evaluation),
                    run.history())
        print(f"shipped {item.name} (lap {lap})")
    if not args.only:
        ship_features(args.runs, args.out)
        report(args.runs, json.loads(files[0].read_text()), "python checkpoints/ship.py", files[0])


if __name__ == "__main__":
    main()
