"""A GPU session's first half-minute (issue 19): does the queue's M-step and E-step run here, and how fast?

Runs, on the GPU when there is one, the shipped runs' network (``small`` UNet, 28x28 grey) with
random data: ``--steps`` M-step steps of batch 256 in fp32 and in ``--precision``, then 4 E-step
steps (MMPS, GMRES k = 1, ``analytic-ddpm``) on a batch of ``--estep-batch`` 75 %-masked images,
the network in fp32 and in ``--precision`` (``train --estep-precision``), and the same with k = 2
in ``--precision``: how a draw of EM-MMPS's E-step (``train_queue.EM_MMPS_ESTEP``) compares with
k = 1 at the queue's common step count.
Prints images per second for each, and the TFLOP/s that makes with the network's operation count
(``torch.utils.flop_counter``: forward, and forward + backward for a training step; an MMPS step is
about a forward and its VJP), against ``PEAK_TFLOPS``. Exits 1 if anything is not finite or raises,
so that ``tools/gpu_session.sh`` falls back to fp32 rather than lose the session to a broken bf16 path.

    python3 tools/gpu_smoke.py --precision bf16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffem.denoisers import AutocastDenoiser  # noqa: E402
from diffem.em.mstep import TrainSettings, train_denoiser  # noqa: E402
from diffem.em.networks import new_denoiser  # noqa: E402
from diffem.guidance import MMPSDenoiser  # noqa: E402
from diffem.operators import RandomMask  # noqa: E402
from diffem.samplers import make_sampler  # noqa: E402
from diffem.schedule import VESchedule  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checkpoints"))
from train_queue import COMMON, EM_MMPS_ESTEP  # noqa: E402

SHAPE = (1, 28, 28)
#: a bf16 8192^3 matrix product on the device's H200 (the device tool's KINDS.md, 2026-10-28): the ceiling
PEAK_TFLOPS = 788.0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def flops_per_image() -> tuple[float, float]:
    """Floating-point operations of the network per image: a forward pass, and a forward + backward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    denoiser = new_denoiser(SHAPE, 0, seed=0, preset="small")
    x, sigma = torch.randn(8, *SHAPE), torch.ones(8)
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        denoiser(x, sigma)
    with FlopCounterMode(display=False) as training:
        denoiser(x, sigma).square().mean().backward()
    return forward.get_total_flops() / 8, training.get_total_flops() / 8


def rate_words(per_second: float, flops: float) -> str:
    tflops = per_second * flops / 1e12
    return f"{per_second:,.0f} images/s, {tflops:.1f} TFLOP/s ({tflops / PEAK_TFLOPS:.1%} of {PEAK_TFLOPS:.0f})"


def mstep_rate(device: torch.device, precision: str, steps: int) -> float:
    """M-step images per second (the first step, which builds kernels, not counted)."""
    data = torch.randn(1024, *SHAPE, device=device).clamp(-1, 1)
    denoiser = new_denoiser(SHAPE, 0, seed=0, preset="small").to(device)
    train_denoiser(denoiser, data, VESchedule(), TrainSettings(steps=1, batch_size=256, precision=precision),
                   torch.Generator(device).manual_seed(0), progress=False)
    synchronize(device)
    start = time.perf_counter()
    _, losses = train_denoiser(denoiser, data, VESchedule(), TrainSettings(steps=steps, batch_size=256,
                                                                          precision=precision),
                               torch.Generator(device).manual_seed(1), progress=False)
    synchronize(device)
    if not all(torch.isfinite(torch.tensor(losses))):
        raise FloatingPointError(f"{precision} M-step losses are not finite: {losses}")
    return steps * 256 / (time.perf_counter() - start)


def estep_rate(device: torch.device, batch: int, precision: str = "fp32", iterations: int = 1) -> float:
    """E-step observation-steps per second (MMPS with ``iterations`` GMRES steps, one VJP each); ``bf16``: the
    network under autocast, as ``train --estep-precision bf16`` runs it (the solve stays fp32)."""
    prior = new_denoiser(SHAPE, 0, seed=0, preset="small").to(device).eval()
    prior = AutocastDenoiser(prior) if precision == "bf16" else prior
    generator = torch.Generator(device).manual_seed(2)
    operator = RandomMask(0.01, 0.75).draw(batch, SHAPE, generator, device=device)
    y = operator.observe(torch.rand(batch, *SHAPE, device=device, generator=generator) * 2 - 1, generator)
    sampler = make_sampler("analytic-ddpm", VESchedule(), 4)
    mmps = MMPSDenoiser(prior, operator, y, iterations=iterations)
    sampler.sample(mmps, (batch, *SHAPE), generator=generator, device=device)
    synchronize(device)
    start = time.perf_counter()
    draws = sampler.sample(mmps, (batch, *SHAPE), generator=generator, device=device)
    synchronize(device)
    if not bool(torch.isfinite(draws).all()):
        raise FloatingPointError("E-step samples are not finite")
    return batch * (sampler.steps + 1) / (time.perf_counter() - start)


def flag(arguments: tuple[str, ...], name: str) -> int:
    """The whole number that follows ``name`` in a ``train`` argument list of the queue."""
    return int(arguments[arguments.index(name) + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--estep-batch", type=int, help="default: the queue's 8192 on a GPU (about 64 GiB: 7.9 MiB "
                                                          "an image, measured on the CPU), 256 on a CPU rehearsal")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.estep_batch = args.estep_batch or (8192 if device.type == "cuda" else 256)
    print(f"device {torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}")
    forward, training = flops_per_image()
    print(f"small UNet, 28x28: {forward / 1e9:.3f} GFLOP a forward pass, {training / 1e9:.3f} forward + backward")
    for precision in dict.fromkeys(("fp32", args.precision)):
        rate = mstep_rate(device, precision, args.steps)
        print(f"M-step {precision} (batch 256): {rate_words(rate, training)}", flush=True)
    for precision in dict.fromkeys(("fp32", args.precision)):
        rate = estep_rate(device, args.estep_batch, precision)
        print(f"E-step MMPS k = 1, network {precision} (batch {args.estep_batch}, observation-steps): "
              f"{rate_words(rate, training)}", flush=True)
    # the queue's EM-MMPS E-step against k = 1 at the steps every other run uses (a draw: steps + 1 calls)
    k, steps = flag(EM_MMPS_ESTEP, "--iterations"), flag(EM_MMPS_ESTEP, "--sampler-steps")
    before = flag(COMMON, "--sampler-steps")
    queued = estep_rate(device, args.estep_batch, args.precision, iterations=k)
    print(f"E-step MMPS k = {k}, network {args.precision}: {queued:,.0f} observation-steps/s; a {steps}-step draw "
          f"takes {(steps + 1) / queued / ((before + 1) / rate):.2f}x the time of a {before}-step k = 1 draw",
          flush=True)


if __name__ == "__main__":
    main()
