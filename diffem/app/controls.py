"""The observation controls every endpoint of the page takes, in one order.

Each operator with a level (``mask``'s ``ratio``, ``blur``'s ``kernel_sigma``...) has a slider of its
own, whose range, step and default come from the operator class (:meth:`spec_parameter`): a new
operator gets its own control without an edit here. Endpoints take, after the prior: the picture,
the corruption, one level per :data:`LEVEL_OPERATORS` entry, the noise sigma, the seed and the
mask editor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..operators import OPERATORS
from .catalog import operator_title
from .inputs import check_float

#: operators with a level to set, each with its own slider
LEVEL_OPERATORS = [name for name, cls in OPERATORS.items() if cls.spec_parameter() is not None]
#: how many observation controls an endpoint takes: picture, corruption, levels..., sigma_y, seed, editor
OBSERVATION_INPUTS = 2 + len(LEVEL_OPERATORS) + 3


def observation_controls(picture: Any, corruption: str | None, level: float | None = None, sigma_y: float = 0.01,
                         seed: int = 0, editor: Any = None) -> tuple[Any, ...]:
    """The controls' values: ``level`` for the chosen corruption's slider, defaults on the others."""
    levels = [level if name == corruption and level is not None else OPERATORS[name].spec_parameter().default
              for name in LEVEL_OPERATORS]
    return (picture, corruption, *levels, sigma_y, seed, editor)


def chosen_level(corruption: str, levels: Sequence[Any]) -> float | None:
    """The level of the chosen corruption, from its own slider, checked against its class's range."""
    parameter = OPERATORS[corruption].spec_parameter()
    if parameter is None:
        return None
    value = levels[LEVEL_OPERATORS.index(corruption)]
    return check_float(value, parameter.low, parameter.high, f"{operator_title(corruption)} ({parameter.name})")
