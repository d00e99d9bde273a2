r"""The M-step: fit a denoiser to (pseudo-)clean samples by denoising score matching.

Minimises ``E[ (1/sigma^2 + 1) ||d(x + sigma z, sigma[, c]) - x||^2 ]`` with ``t ~ Beta(3, 3)``
(:func:`diffem.denoisers.denoising_loss`) by Adam with gradient-norm clipping, a learning rate
decaying linearly from ``lr`` to ``lr_final``, and an exponential moving average (EMA) of the
weights, which is what the lap keeps. The EMA decay warms up as ``min(decay, (1 + n) / (10 + n))``
after ``n`` updates (as ``diffusers``' ``EMAModel`` without ``inv_gamma``): with a constant 0.999
a 1000-step lap would keep 0.999^1000 = 37 % of its starting weights. ``precision="bf16"``
runs the forward pass under ``torch.autocast`` (GPU path; the weights and the EMA stay fp32);
``compile=True`` trains through ``torch.compile`` of the network (GPU path).

Data parallel over ``P`` processes (:mod:`diffem.em.processes`): every process draws the same
global batch of ``B`` (indices, flips, ``sigma``, ``z``) and computes the loss on its slice of
``B / P``; DDP averages the gradients, which is the gradient of the global batch's mean loss.
EM-MMPS and DiffEM restart the optimiser and the EMA every lap and warm-start from the previous
lap's EMA weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from ..denoisers import EDMDenoiser, denoising_loss, draw_noise
from ..schedule import VESchedule
from .processes import Processes

#: maps the indices of a batch (and its clean samples) to the condition channels of that batch
ConditionFn = Callable[[Tensor, Tensor], Tensor]

PRECISIONS = ("fp32", "bf16")


def warmup_ema(decay: float) -> Callable[[list[Tensor], list[Tensor], Any], None]:
    """An ``AveragedModel`` ``multi_avg_fn``: EMA with decay ``min(decay, (1 + n) / (10 + n))``."""
    updates = 0

    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], _: Any) -> None:
        nonlocal updates
        updates += 1
        weight = 1.0 - min(decay, (1 + updates) / (10 + updates))
        floats = [(a, c) for a, c in zip(averaged, current) if torch.is_floating_point(a)]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], weight)
        for a, c in zip(averaged, current):
            if not torch.is_floating_point(a):
                a.copy_(c)

    return update


@dataclass
class TrainSettings:
    steps: int = 1000
    batch_size: int = 256
    lr: float = 2e-4
    lr_final: float | None = None
    ema_decay: float = 0.999
    clip: float = 1.0
    hflip: bool = False
    precision: str = "fp32"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch size must be positive, got {self.steps}, {self.batch_size}")
        if not 0 < self.lr < 1 or not 0 <= self.ema_decay < 1:
            raise ValueError(f"need 0 < lr < 1 and 0 <= ema_decay < 1, got {self.lr}, {self.ema_decay}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_denoiser(denoiser: EDMDenoiser, data: Tensor, schedule: VESchedule, settings: TrainSettings,
                   generator: torch.Generator, condition: ConditionFn | None = None, progress: bool = True,
                   description: str = "M-step", processes: Processes | None = None) -> tuple[EDMDenoiser, list[float]]:
    """Train ``denoiser`` in place on ``data`` (on its device); return its EMA copy and the losses.

    ``settings.batch_size`` is the global batch, shared out over ``processes``. The losses are the
    means over consecutive chunks of 50 steps (over all processes).
    """
    device = next(denoiser.parameters()).device
    processes = processes or Processes(device)
    local = processes.local_batch(settings.batch_size)
    data = data.to(device)
    denoiser.train()
    model = processes.prepare(denoiser)
    if settings.compile:
        model = torch.compile(model)
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=settings.lr)
    lr_final = settings.lr if settings.lr_final is None else settings.lr_final
    scheduler = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1.0, end_factor=lr_final / settings.lr, total_iters=settings.steps)
    ema = AveragedModel(denoiser, multi_avg_fn=warmup_ema(settings.ema_decay), use_buffers=True)
    losses: list[float] = []
    running = torch.zeros((), device=device)
    bar = tqdm(range(settings.steps), desc=description, disable=not progress, leave=False)
    for step in bar:
        index, x, noise = global_batch(data, schedule, settings, generator, flip=condition is None)
        x, noise, index = x[local], (noise[0][local], noise[1][local]), index[local]
        cond = condition(index, x) if condition is not None else None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.precision == "bf16"):
            loss = denoising_loss(model, x, schedule, cond=cond, noise=noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(denoiser.parameters(), settings.clip)
        optimizer.step()
        scheduler.step()
        ema.update_parameters(denoiser)
        running += loss.detach()
        if (step + 1) % 50 == 0 or step + 1 == settings.steps:
            chunk = (step % 50) + 1
            losses.append(float(processes.mean(running)) / chunk)
            running.zero_()
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    processes.release()
    averaged = copy.deepcopy(ema.module).eval()
    return averaged, losses


def global_batch(data: Tensor, schedule: VESchedule, settings: TrainSettings, generator: torch.Generator,
                 flip: bool) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
    """Indices, samples (randomly flipped with ``settings.hflip`` and ``flip``) and ``(sigma, z)`` of one global batch."""
    device = data.device
    index = torch.randint(0, data.shape[0], (settings.batch_size,), generator=generator,
                          device=generator.device).to(device)
    x = data[index]
    if settings.hflip and flip:
        flips = torch.rand(x.shape[0], generator=generator, device=generator.device).to(device) < 0.5
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
    return index, x, draw_noise(x, schedule, generator)
