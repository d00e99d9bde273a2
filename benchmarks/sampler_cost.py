"""Cost of one step of each posterior sampler, in units of one denoiser call.

Same 28x28 UNet (the ``small`` preset, ~1.1M parameters), same batch, same observation
(75 % random mask). For batch 1 and 16 it times: one denoiser call (no gradient), one VJP
through the denoiser (ratio ``r``), one DDPM step with MMPS (k = 1, 3, 5; CG and GMRES), DPS,
and a conditional model (same UNet with 2 more input channels), and azula 0.11.1's
``MMPSDenoiser`` on the same denoiser (``pip install --no-deps azula==0.11.1``; it spends
``k + 1`` VJPs), and our MMPS made to spend ``k + 1`` VJPs too (``reuse_products=False``, the
official codes' cost). Target: MMPS at most ``1.15 (1 + k r)``, below azula at every ``k``;
conditional at most 1.1. It also reports issue 4's speed ratio per step: MMPS k = 1 (GMRES) over
the conditional step, at our cost and at the official cost, and one step of the other registered
posterior methods (PiGDM, DiffPIR, DDNM, DAPS) at their default options.

Measurements are interleaved: each round times every row once, in a freshly shuffled order, and
a row's figure is its median over the rounds, so background load on a shared machine hits every
row alike instead of whichever rows happened to run while it lasted.

Usage: python benchmarks/sampler_cost.py [--batches 1 16] [--rounds 30] [--no-write]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable

import torch

from common import write_section
from diffem import ConditionalPosteriorDenoiser, DPSDenoiser, EDMDenoiser, MMPSDenoiser, VESchedule
from diffem.guidance import DAPSDenoiser, DDNMDenoiser, DiffPIRDenoiser, PiGDMDenoiser
from diffem.backbones import make_unet
from diffem.operators import RandomMask
from diffem.samplers import DDPMSampler

SHAPE = (1, 28, 28)
SCHEDULE = VESchedule(1e-3, 1e2)
ITERATIONS = (1, 3, 5)
OFFICIAL = "MMPS gmres k=1 at k+1 VJPs (official cost)"


def azula_mmps(denoiser: EDMDenoiser, operator: RandomMask, y: torch.Tensor, iterations: int, solver: str):
    """azula's MMPSDenoiser wrapped around our denoiser, or None when azula is not installed."""
    try:
        from azula.denoise import Denoiser, DiracPosterior
        from azula.guidance import MMPSDenoiser as AzulaMMPS
        from azula.linalg.covariance import IsotropicCovariance
        from azula.noise import VESchedule as AzulaVE
    except ImportError:
        return None

    class Adapter(Denoiser):
        def __init__(self) -> None:
            super().__init__()
            self.inner = denoiser
            self._schedule = AzulaVE(SCHEDULE.sigma_min, SCHEDULE.sigma_max)

        @property
        def schedule(self) -> AzulaVE:
            return self._schedule

        def forward(self, x_t: torch.Tensor, t: torch.Tensor, **kwargs: object) -> DiracPosterior:
            sigma = self._schedule.sigma(t).expand(x_t.shape[0])
            return DiracPosterior(mean=self.inner(x_t, sigma))

    flat_a = lambda x: operator.forward(x).flatten(1)  # noqa: E731
    guided = AzulaMMPS(Adapter(), y.flatten(1), flat_a, IsotropicCovariance(torch.tensor(operator.sigma_y**2)),
                       solver=solver, iterations=iterations)
    return lambda x_t, t: guided(x_t, t).mean


def interleaved_medians(runs: dict[str, Callable[[], object]], rounds: int, seed: int = 0,
                        warmup: int = 2) -> dict[str, float]:
    """Median seconds of each run over ``rounds`` rounds, every round in a new shuffled order."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    order = list(runs)
    shuffler = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in order}
    for _ in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            begin = time.perf_counter()
            runs[name]()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - begin)
    return {name: statistics.median(times[name]) for name in runs}


def measure(batch: int, rounds: int) -> dict[str, float]:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    prior = EDMDenoiser(make_unet(1, 28, preset="small")).eval()
    conditional = EDMDenoiser(make_unet(1, 28, condition_channels=2, preset="small"), condition_channels=2).eval()
    operator = RandomMask(sigma_y=0.01, ratio=0.75).draw(batch, SHAPE, generator)
    y = operator.observe(torch.randn(batch, *SHAPE, generator=generator), generator)
    x_t = 3.0 * torch.randn(batch, *SHAPE, generator=generator)
    t = torch.tensor(0.6)
    sigma_t = SCHEDULE.sigma(t)
    sigma_s = SCHEDULE.sigma(torch.tensor(0.59))
    sigma = sigma_t.expand(batch)
    sampler = DDPMSampler(SCHEDULE, 100)

    def step(denoiser) -> Callable[[], object]:  # one sampler step: the method's transition (denoiser call + update)
        def run() -> None:
            with torch.no_grad():
                sampler.transition(denoiser, x_t, sigma_t, sigma_s, generator)
        return run

    def plain_call() -> None:
        with torch.no_grad():
            prior(x_t, sigma)

    x_grad = x_t.clone().requires_grad_(True)
    out = prior(x_grad, sigma)
    v = torch.randn_like(out)
    runs: dict[str, Callable[[], object]] = {
        "denoiser call": plain_call,
        "one VJP (r)": lambda: torch.autograd.grad(out, x_grad, v, retain_graph=True),
    }
    for solver in ("cg", "gmres"):
        for k in ITERATIONS:
            runs[f"MMPS {solver} k={k}"] = step(MMPSDenoiser(prior, operator, y, solver=solver, iterations=k))
            peer = azula_mmps(prior, operator, y, k, solver)
            if peer is not None:
                def run_peer(peer=peer) -> None:
                    with torch.no_grad():
                        sampler.update(None, x_t, peer(x_t, t), sigma_t, sigma_s, generator)
                runs[f"azula MMPS {solver} k={k}"] = run_peer
    runs[OFFICIAL] = step(MMPSDenoiser(prior, operator, y, solver="gmres", iterations=1, reuse_products=False))
    runs["DPS"] = step(DPSDenoiser(prior, operator, y))
    runs["conditional"] = step(ConditionalPosteriorDenoiser(conditional, operator, y))
    runs["PiGDM"] = step(PiGDMDenoiser(prior, operator, y))
    runs["DiffPIR"] = step(DiffPIRDenoiser(prior, operator, y))
    runs["DDNM"] = step(DDNMDenoiser(prior, operator, y))
    runs["DAPS (1 ODE step, 50 Langevin)"] = step(DAPSDenoiser(prior, operator, y))
    return interleaved_medians(runs, rounds)


def table(all_results: dict[int, dict[str, float]]) -> str:
    batches = sorted(all_results)
    header = "| what | " + " | ".join(f"batch {b}: ms | ratio | target" for b in batches) + " |"
    lines = [header, "|---|" + "---|---|---|" * len(batches)]
    names = list(all_results[batches[0]])
    for name in names:
        cells = []
        for b in batches:
            res = all_results[b]
            base = res["denoiser call"]
            r = res["one VJP (r)"] / base
            ratio = res[name] / base
            target = ""
            if name.startswith("MMPS") and name != OFFICIAL:
                k = int(name.rsplit("=", 1)[1])
                bound = 1.15 * (1 + k * r)
                peer = res.get(name.replace("MMPS", "azula MMPS"))
                ok = ratio <= bound and (peer is None or res[name] < peer)
                target = f"<= {bound:.2f}{' and < azula' if peer else ''}: {'met' if ok else 'MISSED'}"
            elif name == "conditional":
                target = f"<= 1.10: {'met' if ratio <= 1.1 else 'MISSED'}"
            cells.append(f"{res[name] * 1e3:.2f} | {ratio:.2f} | {target}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_ratios(all_results: dict[int, dict[str, float]]) -> str:
    """Issue 4's speed target (conditional >= 2.5x faster than MMPS k = 1 at equal steps), per step."""
    lines = []
    for batch, res in sorted(all_results.items()):
        ours = res["MMPS gmres k=1"] / res["conditional"]
        official = res[OFFICIAL] / res["conditional"]
        lines.append(f"- batch {batch}: a conditional step is {ours:.2f}x faster than our MMPS k = 1 step "
                     f"(forward + 1 VJP) and {official:.2f}x faster than MMPS k = 1 at the official cost (forward + 2 VJPs).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (each times every row once)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {batch: measure(batch, args.rounds) for batch in args.batches}
    text = table(results) + "\n\nSpeed ratio per step, issue 4's target >= 2.5x:\n\n" + speed_ratios(results)
    print(text)
    if not args.no_write:
        body = ("One DDPM step of each posterior sampler on a 28x28 `small` UNet (1.1M parameters), "
                "75 % random mask; ratio = time / one denoiser call (no gradient); r = one VJP / one denoiser call. "
                f"Each figure is the median of {args.rounds} interleaved rounds (every round times every row once, "
                "in a new shuffled order), so background load hits every row alike.\n\n" + text)
        write_section("sampler_cost", body, "python benchmarks/sampler_cost.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
