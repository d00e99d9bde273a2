"""Learning a prior from your own masked images, measured where the truth is known (issue 18).

The masked colour shapes of ``examples/make_masked_shapes.py`` come with their clean images, which
training never sees. The held-out observations are restored with every prior and judged twice:
by what a user without clean images can measure (``heldout_pixel_psnr``: PSNR at 10 % of the
observed pixels, hidden from the model; :mod:`diffem.heldout`) and by the PSNR against the clean
images, known here only. Rows: EM-MMPS lap by lap (lap 0 is the Gaussian), a naive fill (each missing
pixel gets the mean colour of the image's observed pixels), and the clean reference (the same
network and budget trained on the clean images of the training rows).

    python benchmarks/own_data.py --count 512 --laps 4 --steps 300 --write
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import write_section  # noqa: E402
from diffem.bundle import PriorBundle  # noqa: E402
from diffem.data.observations import load_observation_set  # noqa: E402
from diffem.evaluation import draw_posterior_samples  # noqa: E402
from diffem.heldout import held_out_report, hide_observed_pixels  # noqa: E402
from diffem.imports.saving import held_out_rows  # noqa: E402
from diffem.metrics import psnr  # noqa: E402
from diffem.rng import make_generator  # noqa: E402


def diffem_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "diffem", *args], check=True, cwd=ROOT)


def image_names(folder: Path) -> list[str]:
    """The observed images' names in the order the import reads them (its rows)."""
    return sorted(p.name for p in (folder / "images").iterdir())


def clean_images(folder: Path, rows: np.ndarray) -> torch.Tensor:
    names = image_names(folder)
    pixels = [np.asarray(Image.open(folder / "clean" / names[row]), np.float32) / 255 for row in rows]
    return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2)


def naive_fill(observations: object) -> torch.Tensor:
    """Each missing pixel: the mean colour of the image's observed pixels (pixels in [0, 1])."""
    pixels = observations.scaling.to_pixels(observations.y)
    mask = observations.operator.mask.expand_as(pixels)
    mean = (pixels * mask).sum(dim=(2, 3), keepdim=True) / mask.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    return mask * pixels + (1 - mask) * mean


def judge(bundle_folder: Path, test: object, truth: torch.Tensor, steps: int) -> dict[str, float]:
    bundle = PriorBundle.from_pretrained(bundle_folder, device="cpu")
    held = hide_observed_pixels(test, make_generator(11))
    draws = draw_posterior_samples(bundle, held.reduced, "mmps", samples=1, steps=steps, seed=3)
    heldout = held_out_report(draws.samples[0], test, held)
    full = draw_posterior_samples(bundle, test, "mmps", samples=1, steps=steps, seed=3)
    clean_psnr = float(psnr(test.scaling.to_pixels(full.samples[0]), truth).mean())
    return {"heldout_pixel_psnr": heldout["heldout_pixel_psnr"], "clean_psnr": clean_psnr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=512)
    parser.add_argument("--laps", type=int, default=4)
    parser.add_argument("--steps", type=int, default=300, help="M-step steps per lap")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--sampler-steps", type=int, default=32)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "own-data")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    work = args.work
    data = work / "shapes"
    if not (data / "clean").is_dir():
        subprocess.run([sys.executable, str(ROOT / "examples" / "make_masked_shapes.py"), "--out", str(data),
                        "--count", str(args.count), "--clean", "--seed", "5"], check=True)
    observations = work / "observations"
    if not (observations / "observations.json").is_file():
        diffem_cli("import-observations", "folder", "--images", str(data / "images"), "--masks", str(data / "masks"),
                   "--out", str(observations))
    train_rows, test_rows = held_out_rows(args.count, 0.1, 0)
    clean_train = work / "clean-train"
    if not clean_train.is_dir():
        clean_train.mkdir()
        names = image_names(data)
        for row in train_rows:
            Image.open(data / "clean" / names[row]).save(clean_train / names[row])
    training = ["--laps", str(args.laps), "--steps-per-lap", str(args.steps), "--batch-size", "32", "--preset",
                args.preset, "--sampler-steps", str(args.sampler_steps), "--eval-count", "32", "--eval-samples", "16",
                "--device", "cpu", "--quiet", "--resume"]
    diffem_cli("train", "--method", "em-mmps", "--observations", str(observations), "--out", str(work / "em-mmps"),
               *training)
    reference_set = work / "reference-observations"
    if not (reference_set / "observations.json").is_file():
        diffem_cli("make-observations", "--data", f"folder:{clean_train}", "--corruption", "mask:0.5", "--size", "32",
                   "--channels", "3", "--out", str(reference_set))
    diffem_cli("train", "--method", "reference", "--observations", str(reference_set), "--out", str(work / "reference"),
               *training)
    test = load_observation_set(observations, "test")
    truth = clean_images(data, test_rows)
    rows = []
    for lap in range(args.laps + 1):
        figures = judge(work / "em-mmps" / "laps" / f"lap-{lap:04d}" / "prior", test, truth, args.sampler_steps)
        rows.append((f"EM-MMPS lap {lap}" + (" (the Gaussian)" if lap == 0 else ""), figures))
        print(rows[-1], flush=True)
    held = hide_observed_pixels(test, make_generator(11))
    filled = naive_fill(held.reduced)
    naive_heldout = held_out_report(test.scaling.to_model(filled), test, held)["heldout_pixel_psnr"]
    rows.append(("naive fill (mean observed colour)", {
        "heldout_pixel_psnr": naive_heldout, "clean_psnr": float(psnr(naive_fill(test), truth).mean())}))
    rows.append((f"clean reference, lap {args.laps}", judge(work / "reference" / "laps" / f"lap-{args.laps:04d}" / "prior",
                                                             test, truth, args.sampler_steps)))
    minutes = (time.perf_counter() - started) / 60
    lines = [f"{args.count} masked 32x32 colour shapes (50 % of pixels missing, a box in one image of three; "
             f"`examples/make_masked_shapes.py --seed 5`), {len(test_rows)} held out. EM-MMPS: {args.laps} laps of "
             f"{args.steps} M-step steps, `{args.preset}` UNet, E-step MMPS k = 1 with DDPM {args.sampler_steps} steps, "
             "trained on the observations alone. Each prior restores the held-out observations (MMPS, 1 sample, "
             f"{args.sampler_steps} steps). Held-out pixel PSNR: at 10 % of the observed pixels, hidden from the "
             "model (what a user can measure); clean PSNR: against the clean images (known only because the data is "
             "synthetic). The clean reference trains on the clean images of the training rows that the "
             "`folder:` source keeps for training (it holds every 10th back). "
             f"{minutes:.0f} minutes in all on this machine.", "",
             "| prior | held-out pixel PSNR (dB) | clean PSNR (dB) |", "|---|---|---|"]
    lines += [f"| {name} | {f['heldout_pixel_psnr']:.2f} | {f['clean_psnr']:.2f} |" for name, f in rows]
    text = "\n".join(lines)
    print(text)
    (work / "results.json").write_text(json.dumps(rows, indent=2))
    if args.write:
        write_section("own-data", text, f"python benchmarks/own_data.py --count {args.count} --laps {args.laps} "
                                        f"--steps {args.steps} --write")


if __name__ == "__main__":
    main()
