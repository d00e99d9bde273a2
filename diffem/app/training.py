"""The Train tab's logic, without Gradio: its form as a :class:`~diffem.jobs.JobRequest`, an import's summary,
and a run's per-lap figures as a table and as plots.

A job trains either on a built-in source (``data`` + ``corruption``) or, with Data *imported*, on the observation
set imported for its run name (:meth:`~diffem.jobs.JobManager.imported_folder`). The per-lap table shows only the
figures some lap has: a run on clean test data has Fréchet distances and posterior PSNR, an imported run (no
clean images) its held-out figures (:mod:`diffem.heldout`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..jobs import LIMITS as JOB_LIMITS, JobRequest
from .catalog import shape_words
from .controls import chosen_data_options, chosen_training_options
from .inputs import check_int
from .summary import percent

#: the Train tab's form, in the order of its controls (a reloaded page gets a running job's settings back)
FORM_FIELDS = ("name", "method", "data", "corruption", "laps", "steps_per_lap", "observations_limit", "batch_size",
               "preset", "sampler_steps", "gaussian_iterations", "eval_count", "eval_samples")
#: the form less its data source: what "Import and train" takes after the upload and the import settings
TRAINING_FIELDS = tuple(field for field in FORM_FIELDS if field not in ("data", "corruption"))
#: the "Data" choice that trains on the set imported for the run name (to resume an imported run)
IMPORTED_DATA = "imported"
#: the form's whole numbers and their labels
NUMBER_TITLES = {"laps": "Laps", "steps_per_lap": "Steps per lap", "observations_limit": "Observations",
                 "batch_size": "Batch size", "sampler_steps": "E-step sampler steps",
                 "gaussian_iterations": "Gaussian EM iterations", "eval_count": "Test restorations per lap",
                 "eval_samples": "Prior samples per lap"}
#: the defaults the form shows
REQUEST_DEFAULTS = JobRequest(name="defaults", method="em-mmps")


def training_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The form's settings other than the data source, numbers checked against the job's limits."""
    numbers = {key: check_int(values[key], *JOB_LIMITS[key], title) for key, title in NUMBER_TITLES.items()}
    return {"name": str(values["name"]), "method": str(values["method"]), "preset": str(values["preset"]), **numbers}


def training_form(form: Sequence[Any], fields: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's ``fields`` by name, and the chosen method's options from the option controls that follow them."""
    values = dict(zip(fields, form[:len(fields)], strict=True))
    return values, chosen_training_options(str(values["method"]), form[len(fields):])


def job_request(values: dict[str, Any], options: dict[str, Any], imported_folder: Callable[[str], Path],
                data_values: Sequence[Any]) -> JobRequest:
    """The job the form's ``values``, method ``options`` and data option controls (``data_values``: every
    :data:`~.controls.DATA_OPTIONS` control's) describe; Data *imported* trains on the set imported for the run
    name (``imported_folder(name)``)."""
    settings = training_settings(values) | {"method_options": options}
    if values["data"] == IMPORTED_DATA:
        source = {"data": None, "corruption": None, "observations": str(imported_folder(settings["name"]))}
    else:
        data = str(values["data"])
        source = {"data": data, "corruption": str(values["corruption"]),
                  "data_options": chosen_data_options(data, data_values)}
    return JobRequest(**settings, **source)


def import_words(summary: dict[str, Any], name: str) -> str:
    """An import's summary for a person: how many, into which run, what size, how much of them is observed."""
    held = f" (+{summary['held_out']} held out for evaluation)" if summary["held_out"] else ""
    observed = (f"{percent(summary['observed_fraction'])} of their pixels observed" if "observed_fraction" in summary
                else "each blurred by its own kernel")
    return (f"Imported **{summary['observations']}** observations{held} into run {name!r}: "
            f"{shape_words((summary['channels'], summary['size'], summary['size']))}, {observed}.")


def rounded(value: Any, digits: int = 4) -> Any:
    """A float to ``digits`` significant figures, for a table; anything else as it is."""
    return float(f"{value:.{digits}g}") if isinstance(value, float) else value


def lap_plot_frame(history: list[dict[str, Any]], keys: Sequence[str]) -> Any:
    """One metric family per plot (FD, PSNR and loss differ by orders of magnitude); laps as labels."""
    import pandas as pd

    rows = [{"lap": f"lap {m['lap']:02d}", "metric": k, "value": float(m[k])} for m in history for k in keys
            if isinstance(m.get(k), (int, float))]
    return pd.DataFrame(rows, columns=["lap", "metric", "value"])


#: one plot per metric family; an imported run (no clean images) has the held-out figures instead
PLOTS = {"quality": ("frechet_pixels", "frechet_features", "sinkhorn", "heldout_residual"),
         "PSNR (dB)": ("posterior_psnr", "heldout_pixel_psnr"), "loss": ("final_loss",)}
#: the per-lap table's columns after "lap": a header and the metric(s) it shows; only columns some lap has
LAP_COLUMNS = (("loss", ("final_loss",)), ("Fréchet", ("frechet_pixels", "frechet_features")),
               ("black share", ("black_share",)),
               ("posterior PSNR", ("posterior_psnr",)), ("Sinkhorn", ("sinkhorn",)),
               ("held-out pixel PSNR", ("heldout_pixel_psnr",)), ("held-out residual", ("heldout_residual",)))


def first_metric(metrics: dict[str, Any], keys: Sequence[str]) -> Any:
    """The first of ``keys`` a lap's metrics have, or None."""
    return next((metrics[key] for key in keys if metrics.get(key) is not None), None)


def lap_table(history: list[dict[str, Any]]) -> Any:
    """One row per lap, with the columns the laps have (Fréchet... for clean test data, held-out figures else)."""
    import pandas as pd

    shown = [(header, keys) for header, keys in LAP_COLUMNS if any(first_metric(m, keys) is not None for m in history)]
    rows = [[m.get("lap"), *[rounded(first_metric(m, keys)) for _, keys in shown]] for m in history]
    return pd.DataFrame(rows, columns=["lap", *[header for header, _ in shown]])
