r"""Options of an extension (a posterior method, an observation importer): a dataclass whose fields
carry their own bounds and help.

Every posterior method and every importer declares ``Options``, a frozen dataclass; each field is
made with :func:`option`, whose metadata holds ``help``, ``low``/``high`` (inclusive bounds) and
``choices``, and optionally ``tune``: the candidate values a tuner searches for the field
(:mod:`diffem.tuning`; the sampler race tunes every such field at each budget). From that one
declaration this module derives

- :func:`describe_options`: a plain description per field (name, type, default, min, max,
  choices, help) that a Gradio page turns into controls;
- :func:`add_option_arguments` / :func:`options_from_namespace`: argparse flags
  ``--{prefix}-{field}`` (underscores as dashes; ``--{field}`` with an empty prefix) and the
  options built back from parsed args;
- :func:`check_options`: one validation of bounds and choices for every caller.

A field annotated ``T | None`` whose default is ``None`` means "not given": the method fills it
in (e.g. DPS's tuned ``zeta``, :mod:`diffem.tuning`). A field annotated ``T`` with a ``None``
default must be given: its flag is required.

No heavy import here: ``--help`` builds its flags from this module without loading torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from typing import Any

#: the Python types an option may have (``T | None`` allowed)
OPTION_TYPES = (bool, int, float, str)


def option(default: Any, help: str, low: float | None = None, high: float | None = None,
           choices: Sequence[str] | None = None, unset: str | None = None,
           tune: Sequence[float] | None = None, symbol: str | None = None) -> Any:
    """A dataclass field with the metadata that CLI flags and app controls are generated from.

    ``unset`` says what a ``None`` default means (e.g. "the tuned value"); ``tune`` marks the field as
    the method's knob to tune, with the grid to start from (:func:`tuning_grids`); ``symbol`` is its short
    name where tables and notes show a tuned value (``k``, ``zeta``; :func:`knob_symbols`).
    """
    metadata = {"help": help, "low": low, "high": high, "choices": tuple(choices) if choices else None,
                "unset": unset, "tune": tuple(tune) if tune else None, "symbol": symbol}
    return dataclasses.field(default=default, metadata=metadata)


def field_type(options_class: type, field: dataclasses.Field) -> tuple[type, bool]:
    """``(base type, optional)`` of a field annotated ``T`` or ``T | None``."""
    hints = typing.get_type_hints(options_class)
    hint = hints[field.name]
    arguments = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = type(None) in typing.get_args(hint)
    base = arguments[0] if optional else hint
    if base not in OPTION_TYPES:
        raise TypeError(f"{options_class.__name__}.{field.name}: option type {hint} is not one of bool, int, float, str")
    return base, optional


def describe_options(options_class: type) -> list[dict[str, Any]]:
    """``[{name, type, optional, default, min, max, choices, help, unset}]`` for each field of ``options_class``."""
    described = []
    for field in dataclasses.fields(options_class):
        base, optional = field_type(options_class, field)
        meta = field.metadata
        described.append({
            "name": field.name, "type": base.__name__, "optional": optional, "default": field.default,
            "min": meta.get("low"), "max": meta.get("high"),
            "choices": list(meta["choices"]) if meta.get("choices") else None, "help": meta.get("help", ""),
            "unset": meta.get("unset"),
        })
    return described


def tuning_grids(options_class: type) -> dict[str, tuple[float, ...]]:
    """``{field: starting grid}`` of the fields of ``options_class`` declared with ``tune``, in declaration order."""
    return {field.name: field.metadata["tune"] for field in dataclasses.fields(options_class)
            if field.metadata.get("tune")}


def knob_symbols(options_class: type) -> dict[str, str]:
    """``{field: short name}`` of the fields :func:`tuning_grids` gives (the declared ``symbol``, else the name)."""
    return {field.name: field.metadata.get("symbol") or field.name for field in dataclasses.fields(options_class)
            if field.metadata.get("tune")}


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of an extension that has none."""


def options_from_values(options_class: type, values: Any, owner: str) -> Any:
    """``options_class`` from an instance of it, a mapping of some of its fields (``None`` values: the defaults)
    or ``None``; a field it does not have is refused, naming ``owner`` ("mmps", "sampler pc"). Not yet checked
    against the bounds (:func:`check_options`)."""
    if isinstance(values, options_class):
        return values
    if values is not None and not isinstance(values, Mapping):
        raise TypeError(f"options for {owner} must be {options_class.__qualname__}, a mapping or None, "
                        f"got {type(values).__name__}")
    given = dict(values or {})
    names = {f.name for f in dataclasses.fields(options_class)}
    if set(given) - names:
        raise ValueError(f"{owner} has no option(s) {', '.join(sorted(set(given) - names))}; "
                         f"its options: {', '.join(sorted(names)) or 'none'}")
    return options_class(**{key: value for key, value in given.items() if value is not None})


def check_options(options: Any) -> None:
    """Raise ``ValueError`` naming the first field outside its bounds or choices."""
    owner = type(options).__qualname__
    check_values(dataclasses.asdict(options), describe_options(type(options)), lambda name: f"{owner}.{name}")


def check_values(values: Mapping[str, Any], described: Sequence[Mapping[str, Any]],
                 where_of: Any = str) -> None:
    """Raise ``ValueError`` naming (``where_of(field)``) the first value outside its option's bounds or choices;
    ``described`` as :func:`describe_options` gives it, ``values`` holding every field."""
    for entry in described:
        value = values.get(entry["name"])
        where = where_of(entry["name"])
        if value is None:
            if not entry["optional"]:
                raise ValueError(f"{where} must be given")
            continue
        if entry["choices"] and value not in entry["choices"]:
            raise ValueError(f"{where} must be one of {', '.join(entry['choices'])}, got {value!r}")
        if entry["type"] in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{where} must be a finite number, got {value!r}")
            if entry["type"] == "int" and int(value) != value:
                raise ValueError(f"{where} must be an integer, got {value!r}")
            if entry["min"] is not None and value < entry["min"]:
                raise ValueError(f"{where} must be at least {entry['min']}, got {value!r}")
            if entry["max"] is not None and value > entry["max"]:
                raise ValueError(f"{where} must be at most {entry['max']}, got {value!r}")


def flag_name(method: str, field: str) -> str:
    """The argparse flag of ``field`` of ``method``'s options, e.g. ``--mmps-solver`` (``--field`` if no method)."""
    return (f"--{method}-{field}" if method else f"--{field}").replace("_", "-")


def option_dest(method: str, field: str) -> str:
    """The attribute that :func:`add_described_arguments` parses ``field`` of ``method``'s options into."""
    return flag_name(method, field)[2:].replace("-", "_")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _bounded(base: type, entry: Mapping[str, Any]) -> Any:
    """An argparse ``type`` that parses ``base`` and checks the bounds of ``entry``."""
    def parse(text: str) -> Any:
        try:
            value = _parse_bool(text) if base is bool else base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {base.__name__}") from None
        low, high = entry["min"], entry["max"]
        if base in (int, float) and ((low is not None and value < low) or (high is not None and value > high)
                                     or not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text!r} must lie in [{low}, {high}]")
        return value
    parse.__name__ = base.__name__
    return parse


def add_option_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, method: str,
                         options_class: type) -> None:
    """One flag per field of ``options_class``; unset flags parse as ``None`` (the method's default).

    A field that must be given (annotated ``T``, default ``None``) gets a required flag."""
    add_described_arguments(parser, method, describe_options(options_class))


#: an option's type by the name :func:`describe_options` gives it
TYPES_BY_NAME = {kind.__name__: kind for kind in OPTION_TYPES}


def add_described_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, method: str,
                            described: Sequence[Mapping[str, Any]], required_flags: bool = True,
                            help_prefix: str | None = None) -> None:
    """One flag per described option (:func:`describe_options`, or the same read from the source by
    :func:`diffem.discovery.registered_options`); unset flags parse as ``None``.

    An option that must be given gets a required flag unless ``required_flags`` is false (when the
    flags of several registry entries share one parser, and only the chosen one's are needed);
    ``help_prefix`` starts each help text (the method's name by default)."""
    for entry in described:
        base = TYPES_BY_NAME[entry["type"]]
        must = entry["default"] is None and not entry["optional"]
        default = (entry["unset"] or "unset") if entry["default"] is None else entry["default"]
        prefix = method if help_prefix is None else help_prefix
        text = (f"{prefix}: {entry['help']}" if prefix else entry["help"]).replace("%", "%%")  # argparse formats help
        parser.add_argument(flag_name(method, entry["name"]), dest=option_dest(method, entry["name"]), default=None,
                            type=_bounded(base, entry), choices=entry["choices"], required=must and required_flags,
                            metavar=None if entry["choices"] else entry["name"].upper() if base is str else base.__name__.upper(),
                            help=f"{text} ({'; '.join(limits_words(entry, None if must else default))})")


def limits_words(entry: Mapping[str, Any], default: Any) -> list[str]:
    """``["from 0 to 8", "default: 1"]`` for an option's help: its bounds and its default, those it has."""
    low, high = entry["min"], entry["max"]
    words = []
    if low is not None and high is not None:
        words.append(f"from {low} to {high}")
    elif low is not None:
        words.append(f"at least {low}")
    elif high is not None:
        words.append(f"at most {high}")
    if default is not None:
        words.append(f"default: {default}")
    return words or ["required"]


def options_from_namespace(args: argparse.Namespace, method: str, options_class: type) -> Any:
    """``options_class`` with the fields given on the command line, the defaults elsewhere."""
    given = {f.name: getattr(args, option_dest(method, f.name), None) for f in dataclasses.fields(options_class)}
    options = options_class(**{name: value for name, value in given.items() if value is not None})
    check_options(options)
    return options
