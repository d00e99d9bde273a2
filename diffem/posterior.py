r"""Choosing a posterior method by name: the one place the CLI, the app and ``eval`` build ``E[x | x_t, y]``.

Every method is one registered class (``diffem.guidance.POSTERIORS``), one file under
``diffem/guidance/``, with an ``Options`` dataclass:

- ``mmps``: moment matching around an unconditional prior (EM-MMPS's E-step);
- ``dps``: diffusion posterior sampling, guidance on the sampler's state (baseline);
- ``pigdm``: pseudo-inverse guidance; ``diffpir``: plug-and-play proximal step; ``ddnm``: null-space
  projection (exact data consistency); ``daps``: decoupled annealing;
- ``conditional``: a DiffEM conditional model, one network call a step;
- ``prior``: no observation (unconditional generation).

The API, for callers (``app.py``, ``diffem/cli.py``, ``restore``, benchmarks):

- ``make_posterior(bundle, method, operator, y, options, clamp=True, tuned=None)``: the posterior
  denoiser. ``options`` is the method's ``Options`` instance, a mapping of its fields, ``None``
  (defaults) or the legacy flat :class:`PosteriorOptions`. Estimates are clamped to the bundle's
  data range unless ``clamp=False`` (the one clamping policy: :mod:`diffem.denoisers.clamped`).
  ``tuned`` is the bundle's tuned options (:func:`diffem.tuning.read_tuned` of its folder, or
  ``PriorEntry.tuned`` in :mod:`diffem.registry`): fields left ``None`` (DPS's ``zeta``) take the
  value tuned for this method and operator.
- ``add_posterior_arguments(parser)``: ``--method`` and one flag ``--{method}-{field}`` per
  option of every registered method (bounds and choices checked by argparse);
  ``posterior_options_from_args(args, method)`` builds that method's ``Options`` back.
- ``describe_posterior_methods()``: for each method its summary, source, kind of model it needs,
  whether it observes, the cost of a step and a plain description of each option (name, type,
  default, min, max, choices, help) for generating app controls; ``posterior_options(method,
  values)`` builds ``Options`` from such controls' values.
- Cost: every posterior denoiser has ``.cost`` (``network`` evaluations and ``vjps`` so far);
  ``method_cost(method, options, steps)`` is a sampler run's cost before running it, and
  ``steps_for_budget`` the steps that fit a budget of network calls + VJPs (equal-cost races).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from .bundle import PriorBundle
from .guidance import POSTERIORS, Cost, PosteriorDenoiser, run_cost
from .guidance import steps_for_budget as _steps_for_budget
from .options import add_option_arguments, check_options, describe_options, options_from_namespace, \
    options_from_values
from .operators import LinearOperator, served_operators

#: the first methods in the order menus show them; any other registered method follows, sorted
PREFERRED_ORDER = ("mmps", "dps", "conditional", "prior")


def posterior_method_names() -> tuple[str, ...]:
    """Every registered posterior method, in menu order."""
    rest = sorted(name for name in POSTERIORS if name not in PREFERRED_ORDER)
    return tuple(name for name in PREFERRED_ORDER if name in POSTERIORS) + tuple(rest)


POSTERIOR_METHODS = posterior_method_names()


@dataclass(frozen=True)
class PosteriorOptions:
    """Legacy flat options (MMPS's and DPS's), kept for callers not yet on per-method ``Options``.

    A field the chosen method's ``Options`` also has is passed on; ``zeta=None`` means "the tuned value".
    """

    solver: str = "gmres"
    iterations: int = 1
    zeta: float | None = None
    reuse_products: bool = True  # False: MMPS spends k + 1 VJPs, as the official codes (cost reference)


def method_class(method: str) -> type[PosteriorDenoiser]:
    """The registered class of ``method``."""
    if method not in POSTERIORS:
        raise ValueError(f"unknown posterior method {method!r}; choose one of {', '.join(posterior_method_names())}")
    return POSTERIORS[method]


def posterior_options(method: str, values: Any = None, tuned: Mapping[str, Any] | None = None,
                      operator_name: str | None = None) -> Any:
    """``method``'s ``Options`` from an instance, a mapping, ``None`` or :class:`PosteriorOptions`.

    Fields still ``None`` are filled from ``tuned[method][operator_name]["options"]`` when present.
    """
    cls = method_class(method)
    if isinstance(values, PosteriorOptions):  # legacy flat options: the fields this method does not have are dropped
        names = {f.name for f in dataclasses.fields(cls.Options)}
        values = {k: v for k, v in dataclasses.asdict(values).items() if k in names}
    options = fill_tuned(method, options_from_values(cls.Options, values, method), tuned, operator_name)
    check_options(options)
    return options


def tuned_record(tuned: Mapping[str, Any] | None, method: str, operator_name: str | None) -> Mapping[str, Any]:
    """What ``tuned.json`` holds for ``method`` and the operator (``{}`` when nothing was tuned)."""
    return ((tuned or {}).get(method) or {}).get(operator_name or "") or {}


def fill_tuned(method: str, options: Any, tuned: Mapping[str, Any] | None, operator_name: str | None) -> Any:
    """``options`` with its ``None`` fields taken from the tuned record of ``method`` and the operator."""
    stored = tuned_record(tuned, method, operator_name).get("options", {})
    missing = {f.name: stored[f.name] for f in dataclasses.fields(options)
               if getattr(options, f.name) is None and f.name in stored}
    return dataclasses.replace(options, **missing) if missing else options


def make_posterior(bundle: PriorBundle, method: str, operator: LinearOperator | None, y: Tensor | None,
                   options: Any = None, clamp: bool = True,
                   tuned: Mapping[str, Any] | None = None) -> PosteriorDenoiser:
    """The denoiser a sampler should call for ``method`` with this prior and observation."""
    cls = method_class(method)
    check_model_kind(bundle, cls)
    if cls.observes:
        if operator is None or y is None:
            raise ValueError(f"{method} needs an observation and its operator")
        check_served(bundle, cls, operator)
    chosen = posterior_options(method, options, tuned, operator.name if operator is not None else None)
    data_range = (bundle.scaling.low, bundle.scaling.high) if clamp else None
    return cls.from_options(bundle.denoiser, operator if cls.observes else None, y if cls.observes else None,
                            chosen, clamp=data_range)


def check_model_kind(bundle: PriorBundle, cls: type[PosteriorDenoiser]) -> None:
    """A conditional method needs a conditional model and every other one an unconditional prior."""
    conditional = bundle.kind == "conditional"
    if cls.needs == "conditional" and not conditional:
        raise ValueError(f"{cls.name} sampling needs a conditional (DiffEM) model; this prior is "
                         f"{bundle.kind}: use one of {', '.join(methods_for('unconditional'))}")
    if cls.needs != "conditional" and conditional:
        raise ValueError(f"{cls.name} needs an unconditional prior; this is a conditional model: "
                         f"use {', '.join(methods_for('conditional'))}")


def check_served(bundle: PriorBundle, cls: type[PosteriorDenoiser], operator: LinearOperator) -> None:
    """A conditional model restores only the operators it was trained for (and what those serve)."""
    if cls.needs != "conditional" or not bundle.operators:
        return
    served = served_operators(bundle.operators)
    if operator.name not in served:
        raise ValueError(f"this conditional model serves {', '.join(served)}, not {operator.name}; "
                         f"use an unconditional prior with {', '.join(methods_for('unconditional', observes=True))}")


def methods_for(kind: str, observes: bool | None = None) -> tuple[str, ...]:
    """Method names usable with a model of ``kind`` (``unconditional``/``gaussian`` or ``conditional``)."""
    needs = "conditional" if kind == "conditional" else "unconditional"
    return tuple(name for name in posterior_method_names() if POSTERIORS[name].needs == needs
                 and (observes is None or POSTERIORS[name].observes == observes))


# --- generated interfaces ---------------------------------------------------------------------
def add_posterior_arguments(parser: argparse.ArgumentParser, methods: tuple[str, ...] | None = None,
                            default: str = "mmps") -> None:
    """``--method`` plus ``--{method}-{field}`` for every option of every (or the given) method."""
    names = methods or tuple(m for m in posterior_method_names() if POSTERIORS[m].observes)
    parser.add_argument("--method", default=default, choices=list(names),
                        help="posterior method: " + "; ".join(f"{m}: {POSTERIORS[m].summary}" for m in names))
    for name in names:
        cls = POSTERIORS[name]
        if dataclasses.fields(cls.Options):
            group = parser.add_argument_group(f"{name} options ({cls.source})")
            add_option_arguments(group, name, cls.Options)


def posterior_options_from_args(args: argparse.Namespace, method: str | None = None) -> Any:
    """The chosen method's ``Options`` from flags made by :func:`add_posterior_arguments`."""
    method = method or args.method
    return options_from_namespace(args, method, method_class(method).Options)


def describe_posterior_methods(kind: str | None = None) -> dict[str, dict[str, Any]]:
    """Plain descriptions (JSON-serialisable) of the methods usable with ``kind`` (all when ``None``)."""
    names = posterior_method_names() if kind is None else methods_for(kind)
    described = {}
    for name in names:
        cls = POSTERIORS[name]
        cost = cls.step_cost(cls.Options())
        described[name] = {
            "summary": cls.summary, "source": cls.source, "needs": cls.needs, "observes": cls.observes,
            "step_cost": {"network": cost.network, "vjps": cost.vjps}, "options": describe_options(cls.Options),
        }
    return described


def method_cost(method: str, options: Any, steps: int) -> Cost:
    """Network evaluations and VJPs of a sampler run of ``steps`` steps with ``method``."""
    return run_cost(method_class(method), posterior_options(method, options), steps)


def steps_for_budget(method: str, options: Any, budget: int) -> int:
    """The most steps (at least 1) whose run with ``method`` costs at most ``budget`` network calls + VJPs."""
    return _steps_for_budget(method_class(method), posterior_options(method, options), budget)
