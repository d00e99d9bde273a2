r"""The Compare tab's race: which lanes a page offers, the lanes a visitor's choices make, and their views.

A lane is ``"method · prior"``: one posterior method with one installed prior (or conditional model). The
lanes race on one observation and seed (:func:`diffem.app.stream.race`), each with its own observation
built at its prior's resolution, so that a 28x28 prior and a 32x32 one can race on the same picture. A lane
whose model does not restore the chosen corruption is left out with a line that says so, instead of
stopping the race; a race with no lane left is refused.

The defaults pit MMPS against DPS with the best prior learned from corrupted data (lowest recorded FD
relative to the clean-data reference, :func:`diffem.app.catalog.best_learned_prior`), and a conditional
model that serves that prior's own corruption, when one is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import PriorRegistry
from .catalog import best_learned_prior, starting_point
from .inputs import InputError, check_choice
from .observation import Observation
from .stream import Lane, lane_view, make_lane, race, skipped_note

SEPARATOR = " · "


def lane_choices(registry: PriorRegistry) -> list[str]:
    """``"method · prior"`` for every method of every installed prior (generation excluded)."""
    return [f"{method}{SEPARATOR}{name}" for name, entry in registry.entries.items() for method in entry.methods
            if method != "prior"]


def default_lanes(registry: PriorRegistry, slots: int) -> list[str]:
    """MMPS with the best learned prior against DPS with it and a conditional model serving its corruption;
    ``""`` fills the slots left."""
    choices = lane_choices(registry)
    best = best_learned_prior(list(registry.entries.values()))
    if best is None:
        return (choices[:2] + [""] * slots)[:slots]
    corruption = starting_point(best).corruption
    serving = [name for name in registry.names("conditional") if corruption in registry.entry(name).operators]
    wanted = [f"mmps{SEPARATOR}{best.name}", f"dps{SEPARATOR}{best.name}"]
    wanted += [f"conditional{SEPARATOR}{name}" for name in serving[:1]]
    return ([c for c in wanted if c in choices] + [""] * slots)[:slots]


@dataclass
class RacePlan:
    """The lanes to race by page slot, each with the observation it restores, and every slot's line so far
    (a skipped lane's reason; ``""`` elsewhere)."""

    lanes: dict[int, Lane] = field(default_factory=dict)
    observations: dict[int, Observation] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def first(self) -> tuple[Lane, Observation]:
        """The first lane and its observation: what the page shows as the race's input."""
        slot = min(self.lanes)
        return self.lanes[slot], self.observations[slot]


def plan_race(registry: PriorRegistry, choices: Sequence[str], corruption: str,
              observation_of: Callable[[str], Observation], sampler: str, steps: int, samples: int, seed: int,
              options_of: Callable[[str], Any], budget: int | None = None, tuned_knobs: bool = False) -> RacePlan:
    """The lanes of ``choices`` (one a slot, ``""`` for an empty one) on the observation ``observation_of(prior)``
    builds, ``samples`` samples each, at ``steps`` steps or, with a ``budget``, at the steps it buys;
    ``options_of(method)`` gives a method's options, whose knobs ``tuned_knobs`` replaces at a budget by those tuned
    for the lane's prior and corruption (:func:`~diffem.app.stream.make_lane`). A lane whose model does not restore
    ``corruption`` is skipped with its line; no lane left at all is an :class:`InputError`."""
    plan = RacePlan(notes=[""] * len(choices))
    offered = lane_choices(registry)
    for slot, choice in enumerate(choices):
        if not choice:
            continue
        method, _, prior = check_choice(choice, offered, "method to compare").partition(SEPARATOR)
        entry = registry.entry(prior)
        if corruption not in entry.operators:
            plan.notes[slot] = skipped_note(method, prior, entry.operators)
            continue
        plan.observations[slot] = observation_of(prior)
        plan.lanes[slot] = make_lane(registry.bundle(prior), prior, plan.observations[slot], method, sampler, steps,
                                     samples, seed, options_of(method), entry.tuned, budget, tuned_knobs)
    if not plan.lanes:
        raise InputError("Choose at least one method that restores this corruption")
    return plan


def race_views(registry: PriorRegistry, plan: RacePlan) -> Iterator[tuple[list[np.ndarray | None], list[str]]]:
    """Every slot's picture and line as the race goes (:func:`~diffem.app.stream.lane_view`); a finished lane's
    view is computed once."""
    finished: dict[int, tuple[np.ndarray | None, str]] = {}
    notes = list(plan.notes)
    for _ in race(list(plan.lanes.values())):
        pictures: list[np.ndarray | None] = [None] * len(notes)
        for slot, lane in plan.lanes.items():
            view = finished.get(slot) or lane_view(lane, registry.bundle(lane.prior), plan.observations[slot])
            if lane.done:
                finished[slot] = view
            pictures[slot], notes[slot] = view
        yield pictures, list(notes)
