"""The controls every endpoint of the page takes, in one order: the observation's and the methods'.

Each operator with a level (``mask``'s ``ratio``, ``blur``'s ``kernel_sigma``...) has a slider of its
own, whose range, step and default come from the operator class (:meth:`spec_parameter`): a new
operator gets its own control without an edit here. Endpoints take, after the prior: the picture,
the corruption, one level per :data:`LEVEL_OPERATORS` entry, the noise sigma, the seed, the
mask editor and an uploaded mask file (:class:`ObservationValues` names them). Likewise every
option of every posterior method (MMPS's solver and iterations, DPS's ``zeta``...) has a control
of its own, generated from the method's ``Options`` dataclass
(:func:`diffem.posterior.describe_posterior_methods`): :data:`METHOD_OPTIONS` fixes their order.
The Train tab's import settings are generated the same way from
:class:`~diffem.imports.base.ImportSettings` (:data:`IMPORT_OPTIONS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..imports.base import ImportSettings
from ..operators import OPERATORS
from ..options import describe_options
from ..posterior import describe_posterior_methods
from .catalog import operator_title
from .inputs import InputError, as_number, check_float, check_int

#: operators with a level to set, each with its own slider
LEVEL_OPERATORS = [name for name, cls in OPERATORS.items() if cls.spec_parameter() is not None]
#: how many observation controls an endpoint takes: picture, corruption, levels..., sigma_y, seed, editor, mask file
OBSERVATION_INPUTS = 2 + len(LEVEL_OPERATORS) + 4


@dataclass(frozen=True)
class ObservationValues:
    """The observation controls' values by name (``levels`` in :data:`LEVEL_OPERATORS` order)."""

    picture: Any
    corruption: str | None
    levels: tuple[Any, ...]
    sigma_y: Any
    seed: Any
    editor: Any
    mask_file: Any

    @classmethod
    def unpack(cls, controls: Sequence[Any]) -> "ObservationValues":
        if len(controls) != OBSERVATION_INPUTS:
            raise InputError(f"Expected {OBSERVATION_INPUTS} observation controls, got {len(controls)}.")
        picture, corruption, *rest = controls
        *levels, sigma_y, seed, editor, mask_file = rest
        return cls(picture, corruption, tuple(levels), sigma_y, seed, editor, mask_file)


def observation_controls(picture: Any, corruption: str | None, level: float | None = None, sigma_y: float = 0.01,
                         seed: int = 0, editor: Any = None, mask_file: Any = None) -> tuple[Any, ...]:
    """The controls' values: ``level`` for the chosen corruption's slider, defaults on the others."""
    levels = [level if name == corruption and level is not None else OPERATORS[name].spec_parameter().default
              for name in LEVEL_OPERATORS]
    return (picture, corruption, *levels, sigma_y, seed, editor, mask_file)


def chosen_level(corruption: str, levels: Sequence[Any]) -> float | None:
    """The level of the chosen corruption, from its own slider, checked against its class's range."""
    parameter = OPERATORS[corruption].spec_parameter()
    if parameter is None:
        return None
    value = levels[LEVEL_OPERATORS.index(corruption)]
    return check_float(value, parameter.low, parameter.high, f"{operator_title(corruption)} ({parameter.name})")


#: ``(method, option description)`` for every option of every posterior method, in menu order
METHOD_OPTIONS = [(method, option) for method, described in describe_posterior_methods().items()
                  for option in described["options"]]


def method_option_values(method: str | None = None, **chosen: Any) -> list[Any]:
    """Every method option control's value: defaults, with ``chosen`` for ``method``'s own options."""
    unknown = set(chosen) - {o["name"] for m, o in METHOD_OPTIONS if m == method}
    if unknown:
        raise ValueError(f"{method} has no option(s) {', '.join(sorted(unknown))}")
    return [chosen.get(option["name"], option["default"]) if name == method else option["default"]
            for name, option in METHOD_OPTIONS]


def chosen_options(method: str, values: Sequence[Any]) -> dict[str, Any]:
    """``method``'s options from all the option controls' values (whole numbers back to ``int``)."""
    options = {}
    for (name, option), value in zip(METHOD_OPTIONS, values, strict=True):
        if name != method:
            continue
        options[option["name"]] = typed_value(option, value)
    return options


def typed_value(option: dict[str, Any], value: Any) -> Any:
    """A control's value as its option's type: a number that may be unset comes as text, empty meaning unset;
    whole numbers of int options come back as ``int``."""
    if isinstance(value, str) and option["type"] in ("int", "float"):
        if not value.strip():
            return None
        value = as_number(value, option["name"].replace("_", " ").capitalize())
    if option["type"] == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


#: every import setting's description (:func:`diffem.options.describe_options`), in the order of its controls
IMPORT_OPTIONS = describe_options(ImportSettings)


def chosen_import_settings(values: Sequence[Any]) -> ImportSettings:
    """:class:`ImportSettings` from the import controls' values; an empty optional control means unset."""
    if len(values) != len(IMPORT_OPTIONS):
        raise InputError(f"Expected {len(IMPORT_OPTIONS)} import settings, got {len(values)}.")
    chosen = {option["name"]: setting_value(option, value) for option, value in zip(IMPORT_OPTIONS, values)}
    return ImportSettings(**chosen)


def setting_value(option: dict[str, Any], value: Any) -> Any:
    """One control's value checked against its option's type, bounds and choices."""
    what = option["name"].replace("_", " ").capitalize()
    if value is None or value == "":
        if option["default"] is None:
            return None
        raise InputError(f"{what} must be given.")
    if option["choices"]:
        if value not in option["choices"]:
            raise InputError(f"{what} must be one of {', '.join(option['choices'])}, got {value!r}.")
        return value
    low, high = option["min"], option["max"]
    if option["type"] == "int":
        return check_int(value, int(low), int(high), what)
    if option["type"] == "float":
        return check_float(value, low, high, what)
    return str(value)
