"""Installed priors in plain words, and the settings each one should start from.

A visitor reads, for each prior: what it learned from (which images, seen through which
corruption, by which method), how good it is (its Fréchet distance as a multiple of the
clean-data reference's, or for a conditional model its restoration PSNR beside the reference
prior's, when the bundle's ``info["quality"]`` records them) and what it can restore. A prior
starts from the corruption it was trained on (``diffem-fashion-blur2`` from blur 2.0 px), since a
model asked for another level restores worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..discovery import registered_constants
from ..operators import OPERATORS
from ..registry import PriorEntry
from ..tuning import budget_records

#: how each clean data source is named to a visitor: its class's ``title``, read from the source (no import)
DATASETS = {name: title for name, title in registered_constants("data/sources", "register_source", "title").items()
            if title}
#: how each EM method is named to a visitor: its class's ``title``, read from the source (no import)
METHODS = {name: title for name, title in registered_constants("em/methods", "register_method", "title").items()
           if title}
#: what each EM method calls its laps, where it does not call them EM laps
LAP_WORDS = registered_constants("em/methods", "register_method", "lap_words")


@dataclass(frozen=True)
class StartingPoint:
    """The corruption controls a prior starts from."""

    corruption: str | None
    amount: float | None
    method: str


def operator_title(name: str) -> str:
    cls = OPERATORS.get(name)
    return (cls.title or name) if cls else name


def corruption_words(corruption: dict[str, Any] | str | None) -> str:
    """``{"name": "mask", "ratio": 0.75}`` as "75 %-masked (random pixels missing)"."""
    if not isinstance(corruption, dict) or corruption.get("name") not in OPERATORS:
        return "corrupted"
    name = corruption["name"]
    parameter = OPERATORS[name].spec_parameter()
    value = corruption.get(parameter.name) if parameter else None
    if name == "mask" and value is not None:
        return f"{value * 100:.0f} %-masked ({operator_title(name)})"
    if name == "blur" and value is not None:
        return f"blurred ({value:g}-pixel Gaussian blur)"
    if parameter is not None and value is not None:
        return f"corrupted by {operator_title(name)} ({parameter.name} {value:g})"
    return f"corrupted by {operator_title(name)}"


def shape_words(event_shape: Sequence[int]) -> str:
    """``(3, 32, 32)`` as "32x32 colour", ``(1, 28, 28)`` as "28x28 grey", ``(2,)`` as "2-D points"."""
    if len(event_shape) != 3:
        return f"{event_shape[0]}-D points"
    channels, height, width = event_shape
    return f"{width}x{height} " + ("grey" if channels == 1 else "colour")


def imported_words(entry: PriorEntry, imported: dict[str, Any]) -> str:
    """What an imported set was: its upload or source, the pictures' size, and their own masks or kernels."""
    source = imported.get("upload") or imported.get("dataset") or \
        (Path(str(imported["file"])).name if imported.get("file") else "a folder of images and masks")
    operator = entry.config.get("info", {}).get("corruption", {})
    corrupted = "its own blur kernel" if isinstance(operator, dict) and operator.get("name") == "kernel-blur" \
        else "its own mask"
    return f"imported observations ({source}, {shape_words(entry.event_shape)}, each with {corrupted})"


def learned_from(entry: PriorEntry) -> str:
    info = entry.config.get("info", {})
    imported = info.get("data", {}).get("imported") if isinstance(info.get("data"), dict) else None
    data = DATASETS.get(str(info.get("data", {}).get("data", "")).partition(":")[0], "images")
    if isinstance(imported, dict):
        method = METHODS.get(str(info.get("method")), f"by {info.get('method', 'an unknown method')}")
        what = "as a Gaussian fit (EM's starting point)" if entry.kind == "gaussian" else f"{method}{laps_words(info)}"
        return f"only {imported_words(entry, imported)}, {what}"
    if is_upper_bound(entry):
        return f"the clean {data}: an upper bound for comparison, not learned from corrupted data"
    if entry.kind == "gaussian":
        return f"{corruption_words(info.get('corruption'))} {data}, as a Gaussian fit (EM's starting point)"
    method = METHODS.get(str(info.get("method")), f"by {info.get('method', 'an unknown method')}")
    return f"only {corruption_words(info.get('corruption'))} {data}, {method}{laps_words(info)}"


def laps_words(info: dict[str, Any]) -> str:
    """", 3 EM laps" (in the method's own words for its laps), or nothing when the bundle records no lap."""
    if not isinstance(info.get("lap"), int):
        return ""
    return f", {info['lap']} {LAP_WORDS.get(str(info.get('method'))) or 'EM laps'}"


def quality_words(entry: PriorEntry) -> str | None:
    """The recorded quality figure with its reference, or None when the bundle records none."""
    quality = entry.config.get("info", {}).get("quality")
    if not isinstance(quality, dict):
        return None
    where = f" ({quality['measured']})" if quality.get("measured") else ""
    if "frechet" in quality and "reference_frechet" in quality:
        ratio = quality["frechet"] / quality["reference_frechet"]
        return (f"Fréchet distance {quality['frechet']:.1f}, **{ratio:.2f}x** the clean-data reference's "
                f"{quality['reference_frechet']:.1f} (1x would match it; lower is better){where}")
    if "psnr" in quality:
        against = (f", against {quality['reference_psnr']:.1f} dB for MMPS with the clean-data prior"
                   if "reference_psnr" in quality else "")
        return f"restores {quality.get('task', 'its test observations')} at **{quality['psnr']:.1f} dB** PSNR{against}{where}"
    return None


def frechet_ratio(entry: PriorEntry) -> float | None:
    """The recorded Fréchet distance over the reference's (None when not recorded)."""
    quality = entry.config.get("info", {}).get("quality", {})
    if isinstance(quality, dict) and "frechet" in quality and quality.get("reference_frechet"):
        return float(quality["frechet"]) / float(quality["reference_frechet"])
    return None


def is_upper_bound(entry: PriorEntry) -> bool:
    info = entry.config.get("info", {})
    return bool(info.get("upper_bound")) or info.get("method") == "reference"


def best_learned_prior(entries: Sequence[PriorEntry]) -> PriorEntry | None:
    """The unconditional prior learned from corrupted data with the lowest recorded Fréchet ratio
    (priors without a figure come after those with one, in the given order)."""
    learned = [e for e in entries if e.kind != "conditional" and not is_upper_bound(e)]
    ranked = sorted(learned, key=lambda e: (frechet_ratio(e) is None, frechet_ratio(e) or 0.0))
    return ranked[0] if ranked else None


def restores_words(entry: PriorEntry) -> str:
    titles = [operator_title(name) for name in entry.operators]
    if entry.kind == "conditional":
        return "only what it was trained for: " + ", ".join(titles)
    samplers = [method for method in entry.methods if method != "prior"]
    return "any corruption (" + ", ".join(titles) + ") with " + ", ".join(samplers) + ", and it draws new images"


def tuned_words(entry: PriorEntry) -> str | None:
    """The options tuned for this prior on validation observations (DPS's step size...), if any."""
    parts = [f"{method} {', '.join(f'{k} {v:g}' for k, v in record['options'].items())} for {operator}"
             for method, operators in sorted(entry.tuned.items()) for operator, record in sorted(operators.items())
             if isinstance(record, dict) and record.get("options")]
    return "; ".join(parts) if parts else None


def budget_words(entry: PriorEntry) -> str | None:
    """Which methods and corruptions have knobs tuned at a cost (the Compare tab's equal-cost race), and at which."""
    found = {(method, operator): sorted(budget_records(entry.tuned, method, operator))
             for method, operators in sorted(entry.tuned.items()) if isinstance(operators, dict)
             for operator in sorted(operators)}
    methods = sorted({method for (method, _), budgets in found.items() if budgets})
    if not methods:
        return None
    operators = sorted({operator for (_, operator), budgets in found.items() if budgets})
    budgets = sorted({budget for recorded in found.values() for budget in recorded})
    return (f"{', '.join(methods)} for {', '.join(operators)} at {', '.join(map(str, budgets))} "
            "network calls + VJPs a sample")


def describe(entry: PriorEntry) -> str:
    """A markdown paragraph: learned from, how good, restores, and its tuned options."""
    lines = [f"**{entry.name}**: learned from {learned_from(entry)}."]
    quality = quality_words(entry)
    if quality:
        lines.append(f"Quality: {quality}.")
    lines.append(f"Restores {restores_words(entry)}.")
    tuned = tuned_words(entry)
    if tuned:
        lines.append(f"Tuned on validation observations: {tuned}.")
    at_cost = budget_words(entry)
    if at_cost:
        lines.append(f"Knobs tuned at a cost, which Compare uses at equal cost: {at_cost}.")
    return " ".join(lines)


def starting_point(entry: PriorEntry) -> StartingPoint:
    """The prior's own corruption and level when it serves it, else its first operator's default."""
    corruption = entry.config.get("info", {}).get("corruption")
    operators = entry.operators
    method = entry.methods[0]
    if isinstance(corruption, dict) and corruption.get("name") in operators:
        name = corruption["name"]
        parameter = OPERATORS[name].spec_parameter()
        amount = corruption.get(parameter.name) if parameter else None
        return StartingPoint(name, float(amount) if amount is not None else None, method)
    name = "mask" if "mask" in operators else (operators[0] if operators else None)
    parameter = OPERATORS[name].spec_parameter() if name else None
    return StartingPoint(name, parameter.default if parameter else None, method)
