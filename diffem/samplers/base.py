r"""Steppable diffusion samplers on the variance-exploding schedule.

A sampler integrates the reverse process from ``x_1 = mu + sigma_max z`` down to ``sigma_min``
on the time grid ``t_i = 1 - i / N`` (geometric noise levels), calling a denoiser
``d(x_t, sigma)`` once per step, and applies the denoiser once more at ``sigma_min`` at the end.
Any posterior denoiser (MMPS, DPS, conditional, ...) can stand in for ``d``. A posterior method
that acts on the state rather than on the estimate (DPS's guidance step on ``x_t``, DAPS) has a
``transition(sampler, x_t, sigma_t, sigma_s, generator) -> (x_s, denoised)`` method, which the
sampler calls for each step in place of ``update(d(x_t))`` (:meth:`Sampler.transition`); the
final denoising at ``sigma_min`` is always a plain call, so no guidance jump lands on the sample.

A sampler's own settings (``pc``'s corrector steps and step size) are its ``Options``, a frozen
dataclass of :func:`diffem.options.option` fields, as a posterior method's are: the CLI's
``--{sampler}-{option}`` flags and the app's controls are generated from it
(:func:`describe_samplers`), and :func:`sampler_options` checks what a caller gives. A sampler
without settings keeps the empty :class:`NoOptions`.

Sampling is an iterator: :meth:`Sampler.iterate` yields a :class:`SamplerStep` after every step
(its index, ``x_t`` and the current denoised estimate, the "x0 prediction" that a live preview
should show), so an app can stream; :meth:`Sampler.sample` runs it to the end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..denoisers.base import Denoiser
from ..options import NoOptions, check_options, describe_options, options_from_values
from ..rng import randn
from ..schedule import VESchedule

SAMPLERS: dict[str, type["Sampler"]] = {}

#: Guard against requests that would run for hours (e.g. a typo of 10^6 steps in the app).
MAX_STEPS = 10_000


def register_sampler(cls: type["Sampler"]) -> type["Sampler"]:
    """Class decorator: make a sampler available by its ``name``."""
    if cls.name in SAMPLERS:
        raise ValueError(f"sampler name {cls.name!r} is registered twice")
    SAMPLERS[cls.name] = cls
    return cls


@dataclass
class SamplerStep:
    """The state after one step: ``index`` runs from 1 to ``total``; the last one is final.

    ``sigma`` is the noise level at which ``denoised`` was computed; ``x_t`` is the new state.
    """

    index: int
    total: int
    sigma: float
    x_t: Tensor
    denoised: Tensor

    @property
    def final(self) -> bool:
        return self.index == self.total


class Sampler(ABC):
    """Base class: subclasses give one reverse step :meth:`update` from ``sigma_t`` to ``sigma_s``."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, schedule: VESchedule, steps: int = 64, options: Any = None) -> None:
        if isinstance(steps, bool) or int(steps) != steps or not 1 <= int(steps) <= MAX_STEPS:
            raise ValueError(f"steps must be an integer between 1 and {MAX_STEPS}, got {steps}")
        self.schedule = schedule
        self.steps = int(steps)
        self.options = sampler_options(self.name, options)

    @abstractmethod
    def update(self, denoiser: Denoiser, x_t: Tensor, denoised: Tensor, sigma_t: Tensor, sigma_s: Tensor,
               generator: torch.Generator | None) -> Tensor:
        """``x_s`` from ``x_t`` and ``denoised = d(x_t, sigma_t)``."""

    def transition(self, denoiser: Denoiser, x_t: Tensor, sigma_t: Tensor, sigma_s: Tensor,
                   generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``(x_s, denoised)`` for one step: the denoiser's own ``transition`` if it has one."""
        own = getattr(denoiser, "transition", None)
        if own is not None:
            return own(self, x_t, sigma_t, sigma_s, generator)
        denoised = denoiser(x_t, sigma_t.expand(x_t.shape[0]))
        return self.update(denoiser, x_t, denoised, sigma_t, sigma_s, generator), denoised

    @torch.no_grad()
    def iterate(self, denoiser: Denoiser, shape: Sequence[int], generator: torch.Generator | None = None,
                mean: Tensor | None = None, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32) -> Iterator[SamplerStep]:
        """Yield after each of the ``steps`` reverse steps, then once more for the final denoising."""
        like = torch.empty(0, device=device, dtype=dtype)
        sigmas = self.schedule.sigma_grid(self.steps, dtype=torch.float64).to(device=device, dtype=dtype)
        x = sigmas[0] * randn(shape, generator, like)
        if mean is not None:
            x = x + mean.to(device=device, dtype=dtype)
        batch = x.shape[0]
        total = self.steps + 1
        for i in range(self.steps):
            sigma_t, sigma_s = sigmas[i], sigmas[i + 1]
            x, denoised = self.transition(denoiser, x, sigma_t, sigma_s, generator)
            yield SamplerStep(i + 1, total, float(sigma_t), x, denoised)
        final = denoiser(x, sigmas[-1].expand(batch))
        yield SamplerStep(total, total, float(sigmas[-1]), final, final)

    def sample(self, denoiser: Denoiser, shape: Sequence[int], generator: torch.Generator | None = None,
               mean: Tensor | None = None, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> Tensor:
        """Run :meth:`iterate` to the end and return the final sample."""
        step = None
        for step in self.iterate(denoiser, shape, generator=generator, mean=mean, device=device, dtype=dtype):
            pass
        assert step is not None
        return step.denoised


def sampler_class(name: str) -> type[Sampler]:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known samplers: {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[name]


def sampler_options(name: str, values: Any = None) -> Any:
    """Sampler ``name``'s ``Options`` from an instance, a mapping of some of its fields or ``None`` (the defaults)."""
    options = options_from_values(sampler_class(name).Options, values, f"sampler {name}")
    check_options(options)
    return options


def make_sampler(name: str, schedule: VESchedule, steps: int = 64, options: Any = None) -> Sampler:
    """A sampler by registry name (``ddpm``, ``ddim``, ``pc``...) with its options (instance, mapping or None)."""
    return sampler_class(name)(schedule, steps, options)


def describe_samplers() -> dict[str, dict[str, Any]]:
    """``{name: {summary, options}}`` for every registered sampler, its options described for CLI flags and
    app controls (:func:`diffem.options.describe_options`)."""
    return {name: {"summary": cls.summary, "options": describe_options(cls.Options)}
            for name, cls in sorted(SAMPLERS.items())}
