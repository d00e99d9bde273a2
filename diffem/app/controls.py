"""The controls every endpoint of the page takes, in one order: the observation's and the methods'.

Each operator with a level (``mask``'s ``ratio``, ``blur``'s ``kernel_sigma``...) has a slider of its
own, whose range, step and default come from the operator class (:meth:`spec_parameter`): a new
operator gets its own control without an edit here. Endpoints take, after the prior: the picture,
the corruption, one level per :data:`LEVEL_OPERATORS` entry, the noise sigma, the seed, the
mask editor and an uploaded mask file (:class:`ObservationValues` names them). Likewise every
option of every posterior method (MMPS's solver and iterations, DPS's ``zeta``...) has a control
of its own, generated from the method's ``Options`` dataclass
(:func:`diffem.posterior.describe_posterior_methods`): :data:`METHOD_OPTIONS` fixes their order;
every option of every sampler (``pc``'s corrector steps...) likewise from the sampler's ``Options``
(:func:`diffem.samplers.describe_samplers`, :data:`SAMPLER_OPTIONS`).
The Train tab's import settings are generated the same way from
:class:`~diffem.imports.base.ImportSettings` (:data:`IMPORT_OPTIONS`), and its EM methods' options from
theirs (:data:`TRAINING_OPTIONS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..discovery import registered_options
from ..imports.base import ImportSettings
from ..jobs import DATA_SOURCES as JOB_DATA_SOURCES, JOB_METHODS
from ..operators import OPERATORS
from ..options import describe_options
from ..posterior import describe_posterior_methods
from ..samplers import describe_samplers
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


#: ``(owner, option description)`` rows: every option of every entry of a registry, in one fixed order
OptionTable = list[tuple[str, dict[str, Any]]]

#: every option of every posterior method, in menu order
METHOD_OPTIONS: OptionTable = [(method, option) for method, described in describe_posterior_methods().items()
                               for option in described["options"]]
#: every option of every sampler (``pc``'s corrector steps and step size), by sampler name
SAMPLER_OPTIONS: OptionTable = [(sampler, option) for sampler, described in describe_samplers().items()
                                for option in described["options"]]


def table_values(table: OptionTable, owner: str | None, chosen: dict[str, Any]) -> list[Any]:
    """Every control's value in ``table``: defaults, with ``chosen`` for ``owner``'s own options."""
    unknown = set(chosen) - {o["name"] for name, o in table if name == owner}
    if unknown:
        raise ValueError(f"{owner} has no option(s) {', '.join(sorted(unknown))}")
    return [chosen.get(option["name"], option["default"]) if name == owner else option["default"]
            for name, option in table]


def table_choice(table: OptionTable, owner: str, values: Sequence[Any]) -> dict[str, Any]:
    """``owner``'s options from the values of all the controls of ``table`` (whole numbers back to ``int``)."""
    if len(values) != len(table):
        raise InputError(f"Expected {len(table)} option controls, got {len(values)}.")
    return {option["name"]: typed_value(option, value) for (name, option), value in zip(table, values) if name == owner}


#: every option of every EM method the Train tab offers (DiffEM's training corruption...), read from their source
TRAINING_OPTIONS: OptionTable = [(method, dict(option)) for method in JOB_METHODS
                                 for option in registered_options("em/methods", "register_method")[method]]


def training_option_values(method: str | None = None, **chosen: Any) -> list[Any]:
    """Every training option control's value: defaults, with ``chosen`` for ``method``'s own options."""
    return table_values(TRAINING_OPTIONS, method, chosen)


def chosen_training_options(method: str, values: Sequence[Any]) -> dict[str, Any]:
    """``method``'s options from all the training option controls' values (an empty text is unset)."""
    return table_choice(TRAINING_OPTIONS, method, values)


#: every option of every data source the Train tab offers (the toy manifold's points...), read from their source
DATA_OPTIONS: OptionTable = [(source, dict(option)) for source in JOB_DATA_SOURCES
                             for option in registered_options("data/sources", "register_source")[source]]


def data_option_values(source: str | None = None, **chosen: Any) -> list[Any]:
    """Every data option control's value: defaults, with ``chosen`` for ``source``'s own options."""
    return table_values(DATA_OPTIONS, source, chosen)


def chosen_data_options(source: str, values: Sequence[Any]) -> dict[str, Any]:
    """``source``'s options from all the data option controls' values (an empty text is unset)."""
    return table_choice(DATA_OPTIONS, source, values)


def method_option_values(method: str | None = None, **chosen: Any) -> list[Any]:
    """Every method option control's value: defaults, with ``chosen`` for ``method``'s own options."""
    return table_values(METHOD_OPTIONS, method, chosen)


def chosen_options(method: str, values: Sequence[Any]) -> dict[str, Any]:
    """``method``'s options from all the method option controls' values."""
    return table_choice(METHOD_OPTIONS, method, values)


def sampler_option_values(sampler: str | None = None, **chosen: Any) -> list[Any]:
    """Every sampler option control's value: defaults, with ``chosen`` for ``sampler``'s own options."""
    return table_values(SAMPLER_OPTIONS, sampler, chosen)


def chosen_sampler_options(sampler: str, values: Sequence[Any]) -> dict[str, Any]:
    """``sampler``'s options from all the sampler option controls' values."""
    return table_choice(SAMPLER_OPTIONS, sampler, values)


def typed_value(option: dict[str, Any], value: Any) -> Any:
    """A control's value as its option's type: a number that may be unset comes as text, empty meaning unset;
    whole numbers of int options come back as ``int``."""
    if isinstance(value, str) and not value.strip() and (option["type"] != "str" or option["default"] is None):
        return None
    if isinstance(value, str) and option["type"] in ("int", "float"):
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
