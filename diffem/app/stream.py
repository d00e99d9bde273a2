r"""Restorations as streams of frames for a page, and races of several methods on one observation.

A restoration draws ``S`` posterior samples at once (a batch) with a steppable sampler; after
each step the sampler's denoised estimate ``E[x | x_t, y]`` is the live preview. Sending a frame
to a browser costs far more than a sampler step of a 28x28 model on a CPU, so frames are
*throttled*: the first step, then at most one every ``frame_interval`` seconds, and the final
samples always. A race advances several methods round-robin, one step each in turn, so that
each is timed under the same load, and reports each one's own sampler seconds; :func:`lane_view` is a
lane as the page shows it, :func:`lane_note` its line.

Every sampler step runs on the compute thread (:mod:`.compute`), whichever thread asks for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..bundle import PriorBundle
import numpy as np

from ..posterior import method_cost, posterior_options, steps_for_budget
from ..restore import iterate_restoration
from ..tuning import knob_text, options_at_budget
from .catalog import operator_title
from .compute import computed_steps
from .observation import Observation
from .pictures import samples_mean_spread, strip
from .summary import RestorationSummary, number, percent, summarise

#: seconds between two streamed frames: about 8 frames a second look live and cost little
FRAME_INTERVAL = 0.12


@dataclass
class Frame:
    """``step`` of ``steps`` sampler steps (``steps + 1`` is the final denoising); ``estimate`` is the
    batch's current denoised estimate in the model's scale; ``seconds`` the sampler's time so far."""

    step: int
    steps: int
    estimate: Tensor
    seconds: float
    final: bool

    def status(self) -> str:
        if self.final:
            return f"done: {self.steps} steps in {self.seconds:.1f} s"
        return f"step {min(self.step, self.steps)} / {self.steps} · {self.seconds:.1f} s"


def sampler_frames(bundle: PriorBundle, observation: Observation | None, method: str, sampler: str, steps: int,
                   samples: int, seed: int, options: Any = None,
                   tuned: Mapping[str, Any] | None = None, sampler_options: Any = None) -> Iterator[Frame]:
    """Every sampler step as a :class:`Frame` (no throttling); ``observation`` None draws from the prior;
    ``options`` are the method's, ``tuned`` the prior's tuned options (:mod:`diffem.tuning`),
    ``sampler_options`` the sampler's."""
    y = None if observation is None else observation.y
    operator = None if observation is None else observation.operator
    seconds = 0.0
    started = time.perf_counter()
    for step in computed_steps(iterate_restoration(bundle, y, operator, method, samples, steps, sampler, seed,
                                                   options, tuned, sampler_options)):
        seconds += time.perf_counter() - started
        yield Frame(step.index, steps, step.denoised.detach(), seconds, step.final)
        started = time.perf_counter()  # the consumer's time (encoding, sending) is not the sampler's


def throttled(frames: Iterator[Frame], interval: float = FRAME_INTERVAL) -> Iterator[Frame]:
    """The first frame, then at most one every ``interval`` seconds of wall time, and always the final one."""
    last = None
    for frame in frames:
        now = time.perf_counter()
        if frame.final or last is None or now - last >= interval:
            last = now
            yield frame


@dataclass
class Lane:
    """One method of a race: the prior it uses, the method, its sampler steps and the frames so far."""

    prior: str
    method: str
    steps: int
    frames: Iterator[Frame]
    options: Any = None
    knobs: str = ""
    latest: Frame | None = None
    done: bool = False


def make_lane(bundle: PriorBundle, prior: str, observation: Observation, method: str, sampler: str, steps: int,
              samples: int, seed: int, options: Any = None, tuned: Mapping[str, Any] | None = None,
              budget: int | None = None, tuned_knobs: bool = False) -> Lane:
    """One lane of a race: ``samples`` posterior samples of ``observation`` by ``method``, at ``steps`` steps or,
    with a ``budget`` (network calls + VJPs a sample), at the most steps whose cost stays within it. With a budget
    and ``tuned_knobs``, the method's knobs (MMPS's k, DPS's zeta...) are those tuned for this prior and corruption
    at the recorded budget nearest it (:func:`diffem.tuning.options_at_budget`), where any were recorded."""
    tuned_at = None
    if budget is not None and tuned_knobs:
        options, tuned_at = options_at_budget(method, options, tuned, observation.operator.name, budget)
    lane_steps = steps if budget is None else steps_for_budget(method, options, budget)
    frames = sampler_frames(bundle, observation, method, sampler, lane_steps, samples, seed, options, tuned)
    knobs = knob_words(method, posterior_options(method, options, tuned, observation.operator.name), tuned_at,
                       budget is not None and tuned_knobs)
    return Lane(prior, method, lane_steps, frames, options, knobs)


def knob_words(method: str, options: Any, tuned_at: int | None, asked: bool) -> str:
    """A lane's knobs (``k = 4``) and where they come from: tuned at a budget, or the Restore tab's when tuned knobs
    were asked for and this prior and corruption have none; ``""`` for a method without knobs."""
    text = knob_text(method, options)
    if not text or not asked:
        return text
    if tuned_at is not None:
        return f"{text} (tuned at {tuned_at} calls + VJPs)"
    return f"{text} (the Restore tab's: none tuned at a cost for this prior and corruption)"


def race(lanes: Sequence[Lane], interval: float = FRAME_INTERVAL) -> Iterator[list[Lane]]:
    """Advance every lane one step in turn until all are done; yield the lanes at most every ``interval`` s."""
    last = None
    while not all(lane.done for lane in lanes):
        for lane in lanes:
            if lane.done:
                continue
            try:
                lane.latest = next(lane.frames)
            except StopIteration:
                lane.done = True
            else:
                lane.done = lane.latest.final
            if lane.done:
                close_frames(lane)
        now = time.perf_counter()
        if last is None or now - last >= interval or all(lane.done for lane in lanes):
            last = now
            yield list(lanes)


def lane_note(lane: Lane, summary: RestorationSummary | None) -> str:
    """A lane's line: its method and prior, then its step (``summary`` None while it runs) or, once done, its
    cost a sample, time, PSNR/SSIM of the mean, interval coverage and residual."""
    head = f"**{lane.method}** · {lane.prior}"
    if lane.latest is None:
        return head
    if summary is None:
        return f"{head}: {lane.latest.status()}"
    figures = summary.figures
    cost = method_cost(lane.method, lane.options, lane.steps)
    parts = [f"{lane.steps} steps" + (f", {lane.knobs}" if lane.knobs else "") +
             f", {cost.network} network calls + {cost.vjps} VJPs a sample, {figures['seconds']:.2f} s"]
    if "psnr_mean" in figures:
        parts.append(f"PSNR of the mean {number(figures['psnr_mean'])} dB, SSIM {number(figures['ssim_mean'], 3)}")
    if "coverage_90" in figures:
        parts.append(f"50 % / 90 % interval coverage {percent(figures['coverage_50'])} / "
                     f"{percent(figures['coverage_90'])} (calibrated: 50 % / 90 %)")
    parts.append(f"residual {number(figures['residual'])}")
    return f"{head}: " + "; ".join(parts)


def close_frames(lane: Lane) -> None:
    """Let a done lane's sampler go now (its frames stop after the final one), not when it is collected."""
    close = getattr(lane.frames, "close", None)
    if close is not None:
        close()


def skipped_note(method: str, prior: str, operators: Sequence[str]) -> str:
    """The line of a lane left out of a race: its model does not restore the corruption."""
    return f"**{method}** · {prior}: skipped, it restores only " + ", ".join(operator_title(n) for n in operators)


def lane_view(lane: Lane, bundle: PriorBundle, observation: Observation) -> tuple[np.ndarray | None, str]:
    """A lane as the page shows it: its samples so far and its line; once done, its samples, their mean and their
    std map, and its figures (:func:`lane_note`). A finished lane's view does not change: compute it once."""
    if lane.latest is None:
        return None, lane_note(lane, None)
    if not lane.done:
        return strip(bundle.scaling.to_pixels(lane.latest.estimate).cpu()), lane_note(lane, None)
    summary = summarise(bundle, observation, lane.latest.estimate, lane.latest.seconds, lane.steps)
    return samples_mean_spread(summary.samples, summary.mean, summary.spread), lane_note(lane, summary)


def release_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
