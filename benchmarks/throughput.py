"""Throughput of the pieces EM spends its time in, per UNet preset: images per second of one
denoiser call, one MMPS step (GMRES, k = 1), one conditional step and one training step.

    python benchmarks/throughput.py --presets tiny small base --batch 256 [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from diffem.denoisers import denoising_loss
from diffem.em.networks import new_denoiser, schedule_for
from diffem.guidance import ConditionalPosteriorDenoiser, MMPSDenoiser
from diffem.operators import parse_corruption


def timed(fn, device: torch.device, repeats: int = 10) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def measure(preset: str, batch: int, device: torch.device) -> dict[str, float]:
    shape = (1, 28, 28)
    schedule = schedule_for(shape)
    prior = new_denoiser(shape, 0, 0, preset).to(device)
    conditional = new_denoiser(shape, 2, 0, preset).to(device)
    operator = parse_corruption("mask:0.75").draw(batch, shape, None, device)
    x = torch.randn(batch, *shape, device=device)
    y = operator.observe(x)
    sigma = torch.full((batch,), 1.0, device=device)
    mmps = MMPSDenoiser(prior, operator, y, "gmres", 1)
    cond = ConditionalPosteriorDenoiser(conditional, operator, y)
    optimizer = torch.optim.Adam(prior.parameters(), lr=1e-4)

    def train_step() -> None:
        loss = denoising_loss(prior, x, schedule)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with torch.no_grad():
        plain = timed(lambda: prior(x, sigma), device)
    results = {
        "parameters": sum(p.numel() for p in prior.parameters()),
        "denoiser_img_per_s": batch / plain,
        "mmps_img_per_s": batch / timed(lambda: mmps(x, sigma), device),
        "conditional_img_per_s": batch / timed(lambda: cond(x, sigma), device),
        "train_img_per_s": batch / timed(train_step, device),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    for preset in args.presets:
        print(json.dumps({"preset": preset, "batch": args.batch, "device": str(device),
                          **measure(preset, args.batch, device)}))


if __name__ == "__main__":
    main()
