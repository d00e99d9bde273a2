"""diffem demo (Gradio 6): restore images with priors learned from corrupted data only.

Tabs: **Restore** (pick an example or upload an image, corrupt it or draw a mask, watch the
posterior sampler restore it step by step, see the mean, the per-pixel uncertainty and the
figures), **Compare** (2-4 methods raced on the same observation and seed) and **Train**
(admin: EM training in a background process). This file only lays out the page: observations,
restorations, races, summaries and descriptions come from :mod:`diffem.app`, priors from
:mod:`diffem.registry`, training jobs from :mod:`diffem.jobs`.

Run: ``python app.py [--host H] [--port P]``. Host and port default to Gradio's own
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``, else ``0.0.0.0:7860`` on a Hugging Face Space
(``SPACE_ID`` set) and ``127.0.0.1:7860`` elsewhere. Environment: ``DIFFEM_CHECKPOINTS`` (priors
folder), ``DIFFEM_HUB_PRIORS`` (comma-separated Hub repo ids), ``DIFFEM_ADMIN_PASSWORD`` (enables
the Train tab), ``DIFFEM_RUNS`` (where training runs go), ``HF_TOKEN`` (push to the Hub).
"""

from __future__ import annotations

import argparse
import hmac
import inspect
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder
import numpy as np
import torch

from diffem.app.controls import DATA_OPTIONS, IMPORT_OPTIONS, LEVEL_OPERATORS, METHOD_OPTIONS, OBSERVATION_INPUTS, \
    SAMPLER_OPTIONS, TRAINING_OPTIONS, ObservationValues, chosen_import_settings, chosen_options, \
    chosen_sampler_options, method_option_values, observation_controls, sampler_option_values
from diffem.app.compute import computed
from diffem.app.catalog import best_learned_prior, describe, operator_title, shape_words, starting_point
from diffem.app.compare import default_lanes, lane_choices, plan_race, race_views
from diffem.app.inputs import InputError, check_choice, check_int, painted_pixels, read_picture
from diffem.app.observation import Observation, observation_picture
from diffem.app.request import chosen_picture, editor_background, editor_layers, requested_observation
from diffem.app.pictures import enlarge, strip
from diffem.app.stream import release_memory, sampler_frames, throttled
from diffem.app.summary import RestorationSummary, summarise
from diffem.app.training import FORM_FIELDS, IMPORTED_DATA, LAP_COLUMNS, NUMBER_TITLES, PLOTS, REQUEST_DEFAULTS, \
    TRAINING_FIELDS, import_words, job_request, lap_plot_frame, lap_table, training_form, training_settings
from diffem.imaging import tensor_to_image
from diffem.imports.upload import MAX_UPLOAD_BYTES
from diffem.backbones.unet import UNET_PRESETS
from diffem.data.sources import SOURCES
from diffem.jobs import DATA_SOURCES as JOB_DATA_SOURCES, JOB_METHODS, JobManager
from diffem.operators import OPERATORS
from diffem.posterior import describe_posterior_methods, method_cost
from diffem.registry import PriorRegistry
from diffem.samplers import SAMPLERS

HERE = Path(__file__).resolve().parent
CHECKPOINTS = Path(os.environ.get("DIFFEM_CHECKPOINTS", HERE / "checkpoints"))
RUNS = Path(os.environ.get("DIFFEM_RUNS", HERE / "runs" / "app"))
EXAMPLES = HERE / "examples"
APP_MAX_STEPS = 1000
MAX_SAMPLES = 16
#: defaults chosen by benchmarks/app_latency.py: a restoration in about 2 s on a free 2-vCPU Space
DEFAULT_SAMPLES = 4
DEFAULT_STEPS = 64
DEFAULT_SAMPLER = "ddpm"
#: ZeroGPU seconds a call may hold the GPU (benchmarks/app_latency.py, README "Deploy to Spaces")
GPU_SECONDS = {"restore": 60, "compare": 120}
LANES = 4
RESULT_HEIGHT = 260
LANE_HEIGHT = 150
METHODS = describe_posterior_methods()

try:  # ZeroGPU Spaces: mark the GPU functions; a no-op decorator elsewhere
    import spaces  # type: ignore[import-not-found]

    def gpu(seconds: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return spaces.GPU(duration=seconds)
except ImportError:
    def gpu(seconds: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return lambda function: function


def make_registry() -> PriorRegistry:
    """Installed priors, loaded now on the CPU (:func:`place_priors` moves them to a GPU once the page is built)."""
    hub_ids = [r.strip() for r in os.environ.get("DIFFEM_HUB_PRIORS", "").split(",") if r.strip()]
    registry = PriorRegistry(CHECKPOINTS, hub_ids, device="cpu")
    registry.load_all()
    return registry


def place_priors() -> None:
    """Every prior onto the GPU if there is one, at start-up: ZeroGPU expects models on ``cuda`` before the
    first ``spaces.GPU`` call, and only those calls really hold the GPU."""
    if torch.cuda.is_available():
        REGISTRY.device = "cuda"
        for name in REGISTRY.names():
            REGISTRY.bundle(name).to("cuda")


REGISTRY = make_registry()
JOBS = JobManager(RUNS)


def use_folders(checkpoints: Path, runs: Path) -> None:
    """Point the app at other folders (tests, or a Space with its own layout)."""
    global CHECKPOINTS, REGISTRY, JOBS
    CHECKPOINTS = Path(checkpoints)
    REGISTRY = make_registry()
    JOBS = JobManager(runs)


def page_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Show the library's :class:`InputError` (and ``ValueError``) as a ``gr.Error`` on the page."""
    def translate(error: ValueError) -> gr.Error:
        return gr.Error(str(error).rstrip(".") + ".")

    if inspect.isgeneratorfunction(function):
        @wraps(function)
        def streaming(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from function(*args, **kwargs)
            except ValueError as error:
                raise translate(error) from None
        return streaming

    @wraps(function)
    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ValueError as error:
            raise translate(error) from None
    return plain


# --- observations ---------------------------------------------------------------------------
def is_readable_upload(path: str) -> bool:
    """True for files in Gradio's upload cache or the examples folder: an API caller must not make
    the server read any other file on its disk (Gradio itself lets paths under the temp folder through)."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in (get_upload_folder(), EXAMPLES))


def readable_file(path: str, what: str) -> str:
    if not is_readable_upload(path):
        raise InputError(f"Only uploaded files and the app's examples can be read; upload {what} instead")
    return path


def make_observation(prior: str, *controls: Any) -> Observation:
    """The observation the observation controls (:class:`ObservationValues`) describe, at the prior's resolution
    (:func:`~diffem.app.request.requested_observation`); only uploads and examples are read."""
    entry = REGISTRY.entry(check_choice(prior, REGISTRY.names(), "prior"))
    return requested_observation(entry, REGISTRY.bundle(prior), ObservationValues.unpack(controls), readable_file)


def observation_views(prior: str, observation: Observation) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The clean picture (None when the observation was uploaded already corrupted) and what the model sees."""
    seen = observation_picture(REGISTRY.bundle(prior), observation)
    clean = None if observation.clean is None else enlarge(observation.clean)
    return clean, None if seen is None else enlarge(seen)


@computed
@page_errors
def corrupt(prior: str, *controls: Any) -> tuple[Any, Any]:
    return observation_views(prior, make_observation(prior, *controls))


def preview(prior: str, *controls: Any) -> tuple[Any, Any]:
    """:func:`corrupt` as the controls change; nothing while the picture or the settings are incomplete."""
    values = ObservationValues.unpack(controls)
    image, corruption, editor = values.picture, values.corruption, values.editor
    if prior not in REGISTRY.entries or corruption not in REGISTRY.entry(prior).operators:
        return gr.skip(), gr.skip()
    if not image and (corruption != "user-mask" or editor_background(editor) is None):
        return None, None
    own_mask = corruption == "user-mask" and (values.mask_file or painted_pixels(editor_layers(editor)) is not None)
    if corruption == "user-mask" and not own_mask:
        return gr.skip(), None  # nothing drawn yet: nothing is missing, so there is no observation to show
    try:
        return corrupt(prior, *controls)
    except gr.Error as error:  # a half-typed value while the visitor edits: a notice, not an error dialog
        gr.Warning(error.message)
        return gr.skip(), gr.skip()


def canvas(prior: str | None, image: str | None) -> dict[str, Any] | None:
    """The mask canvas with the chosen picture behind it, so that a visitor sees what they paint over."""
    if not image or prior not in REGISTRY.entries:
        return None
    try:
        shown = enlarge(chosen_picture(image, REGISTRY.entry(prior).event_shape, readable_file))
    except InputError:
        return None
    return {"background": shown, "layers": [], "composite": shown}


@computed
def editor_with_picture(prior: str, image: str | None) -> Any:
    value = canvas(prior, image)
    return gr.skip() if value is None else value


# --- restoration ----------------------------------------------------------------------------
def check_sampling(sampler: str, steps: Any, samples: Any) -> tuple[int, int]:
    check_choice(sampler, sorted(SAMPLERS), "sampler")
    return check_int(steps, 1, APP_MAX_STEPS, "Steps"), check_int(samples, 1, MAX_SAMPLES, "Number of samples")


def save_result(summary: RestorationSummary) -> str:
    folder = Path(tempfile.mkdtemp(prefix="diffem-"))
    path = folder / "restoration.png"
    tensor_to_image(summary.mean).save(path)
    return str(path)


def result_outputs(seen: np.ndarray | None, summary: RestorationSummary, generated: bool) -> tuple[Any, ...]:
    """Slider, mean, std map, figures, download (generation: a grid of the new images, no slider)."""
    if generated:
        return (None, strip(summary.samples), None,
                summary.markdown() + "  \nNew images drawn from the prior (no observation, so no PSNR).",
                save_result(summary))
    spread = None if summary.spread is None else enlarge(summary.spread)
    return ((seen, enlarge(summary.mean)), enlarge(summary.mean), spread, summary.markdown(), save_result(summary))


CLEARED = (None, None, None, "", None)


@page_errors
def restoration(prior: str, *values: Any) -> Iterator[tuple[Any, ...]]:
    """Stream: the live estimate and the step (throttled); then slider, mean, std, figures, file.

    ``values``: the observation controls (:data:`OBSERVATION_INPUTS`), then method, sampler, steps and
    samples, then every method option control (:data:`METHOD_OPTIONS`), then every sampler option
    control (:data:`SAMPLER_OPTIONS`)."""
    controls, settings = values[:OBSERVATION_INPUTS], values[OBSERVATION_INPUTS:]
    (method, sampler, steps, samples), settings = settings[:4], settings[4:]
    option_values, sampler_values = settings[:len(METHOD_OPTIONS)], settings[len(METHOD_OPTIONS):]
    seed = ObservationValues.unpack(controls).seed
    steps, samples = check_sampling(sampler, steps, samples)
    entry = REGISTRY.entry(check_choice(prior, REGISTRY.names(), "prior"))
    check_choice(method, entry.methods, f"method for {prior}")
    generated = method == "prior"
    observation = None if generated else make_observation(prior, *controls)
    seen = None if observation is None else observation_views(prior, observation)[1]
    bundle = REGISTRY.bundle(prior)
    frames = sampler_frames(bundle, observation, method, sampler, steps, samples, check_int(seed, 0, 2**31 - 1, "Seed"),
                            chosen_options(method, option_values), entry.tuned,
                            chosen_sampler_options(sampler, sampler_values))
    try:
        for frame in throttled(frames):
            live = enlarge(bundle.scaling.to_pixels(frame.estimate[0]).cpu())
            if not frame.final:
                yield (live, frame.status(), *CLEARED)
                continue
            summary = summarise(bundle, observation, frame.estimate, frame.seconds, steps)
            yield (live, frame.status(), *result_outputs(seen, summary, generated))
    finally:
        release_memory()


computed_restoration = computed(restoration)
restore = gpu(GPU_SECONDS["restore"])(computed_restoration)


def stopped() -> str:
    return "**Stopped.** The live view keeps the last estimate; press Restore to start again."


# --- compare --------------------------------------------------------------------------------
@gpu(GPU_SECONDS["compare"])
@computed
@page_errors
def compare(*values: Any) -> Iterator[tuple[Any, ...]]:
    """Race 1-4 ``"method · prior"`` lanes on one observation and seed, each with several samples
    (:mod:`diffem.app.compare`).

    ``values``: the observation controls (:data:`OBSERVATION_INPUTS`), the :data:`LANES` lane choices,
    samples, steps, whether the lanes get an equal cost instead of equal steps, that cost (network
    calls + VJPs a sample) and whether each lane's knobs are then the ones tuned at that cost, then every
    method option control (each lane runs its method with the options set in the Restore tab).
    """
    controls, settings = values[:OBSERVATION_INPUTS], values[OBSERVATION_INPUTS:]
    observed = ObservationValues.unpack(controls)
    choices, (samples, steps, equal_cost, budget, tuned_knobs), option_values = (
        settings[:LANES], settings[LANES:LANES + 5], settings[LANES + 5:])
    steps, samples = check_sampling(DEFAULT_SAMPLER, steps, samples)
    budget = check_int(budget, 3, 100 * APP_MAX_STEPS, "Cost budget") if equal_cost else None
    plan = plan_race(REGISTRY, choices, observed.corruption, lambda prior: make_observation(prior, *controls),
                     DEFAULT_SAMPLER, steps, samples, check_int(observed.seed, 0, 2**31 - 1, "Seed"),
                     lambda method: chosen_options(method, option_values), budget, bool(tuned_knobs))
    first_lane, first_observation = plan.first
    clean, seen = observation_views(first_lane.prior, first_observation)
    try:
        for pictures, notes in race_views(REGISTRY, plan):
            yield (clean, seen, *pictures, *notes)
    finally:
        release_memory()


# --- training (admin) -----------------------------------------------------------------------
def check_password(password: str | None) -> None:
    expected = os.environ.get("DIFFEM_ADMIN_PASSWORD", "")
    if not expected:
        raise gr.Error("Training is disabled on this server (no DIFFEM_ADMIN_PASSWORD is set).")
    if not hmac.compare_digest((password or "").encode(), expected.encode()):
        raise gr.Error("Wrong admin password.")


@page_errors
def start_training(password: str, *form: Any) -> tuple[str, Any]:
    """Start (or resume) the job the form describes; Data "imported" trains on the set imported for the run name.

    ``form``: the :data:`FORM_FIELDS`, then every training option control (:data:`TRAINING_OPTIONS`), then every
    data option control (:data:`DATA_OPTIONS`)."""
    check_password(password)
    data_start = len(FORM_FIELDS) + len(TRAINING_OPTIONS)
    request = job_request(*training_form(form[:data_start], FORM_FIELDS), JOBS.imported_folder, form[data_start:])
    record = JOBS.start(request)
    return f"started job {request.name!r} (process {record['pid']})", gr.Timer(active=True)


@page_errors
def import_and_train(password: str, upload: str | None, *values: Any) -> tuple[str, str, Any]:
    """Import an uploaded .zip or .npz into ``<runs>/imported/<run name>`` and start the training job on it
    (:meth:`~diffem.jobs.JobManager.import_and_start`): the import's summary (it stays), the job message and the
    poll timer.

    ``values``: the import settings (:data:`IMPORT_OPTIONS`), then the form's :data:`TRAINING_FIELDS`, then every
    training option control (:data:`TRAINING_OPTIONS`).
    """
    check_password(password)
    import_values, form = values[:len(IMPORT_OPTIONS)], values[len(IMPORT_OPTIONS):]
    fields, options = training_form(form, TRAINING_FIELDS)
    settings = training_settings(fields) | {"method_options": options}
    chosen = chosen_import_settings(import_values)
    if not upload:
        raise InputError("Upload a .zip (images/ and masks/ folders) or a .npz (arrays y and mask) first")
    readable_file(upload, "the file")
    summary, record = JOBS.import_and_start(upload, chosen, settings)
    name = settings["name"]
    return (import_words(summary, name),
            f"started job {name!r} (process {record['pid']}) on the imported set", gr.Timer(active=True))


def stop_training(password: str) -> str:
    check_password(password)
    return "stopped; start the same run again to resume it" if JOBS.stop() else "no job is running"


def form_value(request: dict[str, Any], key: str) -> Any:
    """A recorded request's value for the form (an imported job's data shows as "imported")."""
    if key == "data" and request.get("observations"):
        return IMPORTED_DATA
    return gr.skip() if request.get(key) is None else request[key]


def recorded_options(request: dict[str, Any], table: list[tuple[str, dict[str, Any]]], owner: str) -> list[Any]:
    """A recorded request's options of its ``owner`` (its method, its data) for their controls in ``table`` (the
    other owners' controls stay as they are)."""
    given = request.get(f"{owner}_options") or {}
    return [given[o["name"]] if name == request.get(owner) and given.get(o["name"]) is not None else gr.skip()
            for name, o in table]


#: how many controls the Train tab's form has: its fields, the training options, then the data options
FORM_CONTROLS = len(FORM_FIELDS) + len(TRAINING_OPTIONS) + len(DATA_OPTIONS)


def training_status(password: str) -> tuple[Any, ...]:
    """Header and log, lap samples, the per-lap table and plots, the job's settings, and the poll timer."""
    check_password(password)
    status = JOBS.status()
    if status["state"] == "none":
        return ("no training job yet", [], [], *([None] * len(PLOTS)), *([gr.skip()] * FORM_CONTROLS),
                gr.Timer(active=False))
    header = f"**{status['name']}**: {status['state']}, complete laps: {status['laps'][-1] if status['laps'] else '-'}"
    log = "\n".join(status["log"])
    gallery = [str(Path(status["run"]) / "laps" / f"lap-{lap:04d}" / "samples.png") for lap in status["laps"]]
    plots = [lap_plot_frame(status["history"], keys) for keys in PLOTS.values()]
    form = [form_value(status["request"], key) for key in FORM_FIELDS] + \
        recorded_options(status["request"], TRAINING_OPTIONS, "method") + \
        recorded_options(status["request"], DATA_OPTIONS, "data")
    return (f"{header}\n\n```\n{log}\n```", [g for g in gallery if Path(g).is_file()], lap_table(status["history"]),
            *plots, *form,
            gr.Timer(active=status["state"] == "running"))


def poll_training(password: str) -> tuple[Any, ...]:
    """The timer's tick: :func:`training_status`, silently nothing without a password."""
    if not password:
        return tuple(gr.skip() for _ in range(4 + len(PLOTS) + FORM_CONTROLS))
    return training_status(password)


@page_errors
def push_to_hub(password: str, lap: str, repo_id: str) -> str:
    """Upload a finished lap's model folder to a Hub model repo, with ``HF_TOKEN`` from the environment."""
    check_password(password)
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise gr.Error("Pushing needs a Hugging Face token in the HF_TOKEN environment variable.")
    folders = JOBS.lap_priors()
    if lap not in folders:
        raise gr.Error(f"Unknown finished lap {lap!r}; known: {', '.join(folders) or 'none'}.")
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", repo_id or ""):
        raise gr.Error("The repository id must look like owner/name.")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(folder_path=str(folders[lap]), repo_id=repo_id)
    return f"pushed {lap} to https://huggingface.co/{repo_id}"


def refresh_priors() -> tuple[Any, ...]:
    for name, folder in JOBS.lap_priors().items():
        if name not in REGISTRY.entries:
            REGISTRY.add(name, folder)
    lanes = [""] + lane_choices(REGISTRY)
    return (gr.update(choices=REGISTRY.names()), *[gr.update(choices=lanes) for _ in range(LANES)],
            gr.update(value=priors_markdown()))


# --- page -----------------------------------------------------------------------------------
INTRODUCTION = """\
**What am I looking at?** Each model shipped here is a diffusion prior for **28x28 grey** pictures of clothing
(Fashion-MNIST), learned *without ever seeing a clean picture*: only corrupted ones (75 % of the pixels
missing, or blurred), by expectation-maximisation. Pick an example, corrupt it, and watch the model fill in
what is missing; the blue pixels are the ones it never sees. Several samples show what it is sure of (they
agree) and what it guesses (they differ: the uncertainty map). An uploaded photo is shrunk to the prior's
size (28x28 grey for these) first, so fine detail is gone before the model starts, and a picture that is not
clothing gets restored *as if it were clothing*: the prior only knows what it learned."""

IMPORT_HELP = f"""\
Upload a **.zip** holding an `images/` folder and a `masks/` folder (at its root or in one folder; the same
file names in both; masks black and white, white = observed) or a **.npz** with arrays `y` and `mask`.
It is imported into the runs folder under the run name above, then trained on with the settings above
(Data and Corruption are not used). At most {MAX_UPLOAD_BYTES // 2**20} MB; images of 16 to 64 pixels a side,
or set a size. To continue an imported run later, choose Data *{IMPORTED_DATA}* and press Start / resume."""


def examples() -> list[tuple[str, str]]:
    """``(path, caption)`` for the example pictures: Fashion-MNIST test images first, then the rest."""
    if not EXAMPLES.is_dir():
        return []
    paths = sorted(EXAMPLES.glob("*.png"), key=lambda p: (not p.name.startswith("fashion-test"), p.name))
    return [(str(p), example_caption(p.stem)) for p in paths]


def example_caption(stem: str) -> str:
    parts = stem.split("-")
    if stem.startswith("fashion-test-") and len(parts) >= 4:
        return f"test image {int(parts[2])}: {' '.join(parts[3:])}"
    return stem.replace("-", " ") + " (not clothing: out of distribution)"


def example_thumbnails() -> list[tuple[np.ndarray, str]]:
    return [(enlarge(read_picture(path, (1, 28, 28)), 112), caption) for path, caption in examples()]


def pick_example(event: gr.SelectData) -> Any:
    chosen = examples()[event.index][0]
    return chosen


def priors_markdown() -> str:
    if not REGISTRY.entries:
        return (f"**No prior is installed yet**: `{CHECKPOINTS.name}/` holds no bundle. Train one (Train tab or "
                "`python -m diffem train`) or add a bundle folder; see the README.")
    return "\n\n".join(f"- {describe(entry)}" for entry in REGISTRY.entries.values())


def prior_words(prior: str) -> str:
    return describe(REGISTRY.entry(prior)) if prior in REGISTRY.entries else ""


MASK_FILE_LABEL = "Or upload its mask (white = observed): the image above is then taken as already corrupted"


def level_slider(name: str, visible: bool, value: float | None = None) -> gr.Slider:
    """The slider of one operator's level: range, step and default from the operator class."""
    parameter = OPERATORS[name].spec_parameter()
    assert parameter is not None
    return gr.Slider(parameter.low, parameter.high, step=parameter.step,
                     value=parameter.default if value is None else value, visible=visible,
                     label=f"{operator_title(name)}: {parameter.name}")


def level_updates(corruption: str | None, value: float | None = None) -> list[Any]:
    """Show the chosen corruption's slider (at ``value`` if given), hide the others."""
    return [gr.update(visible=name == corruption, **({"value": value} if name == corruption and value is not None
                                                      else {})) for name in LEVEL_OPERATORS]


def prior_controls(prior: str) -> tuple[Any, ...]:
    """A prior's corruption choices, its own corruption and level, its methods, its description and the
    clean view's label."""
    if prior not in REGISTRY.entries:
        return (gr.update(choices=[]), gr.update(choices=[]), "", gr.update(label=clean_label(None)),
                *level_updates(None))
    entry = REGISTRY.entry(prior)
    start = starting_point(entry)
    return (gr.update(choices=[(operator_title(n) + f" ({n})", n) for n in entry.operators], value=start.corruption),
            gr.update(choices=[method_label(m) for m in entry.methods], value=start.method), prior_words(prior),
            gr.update(label=clean_label(prior)), *level_updates(start.corruption, start.amount))


def clean_label(prior: str | None) -> str:
    """The clean view's label, with the prior's own resolution (28x28 grey, 32x32 colour...)."""
    if prior not in REGISTRY.entries:
        return "Clean image"
    return f"Clean image, at {shape_words(REGISTRY.entry(prior).event_shape)}"


def corruption_controls(corruption: str) -> tuple[Any, ...]:
    return gr.update(visible=corruption == "user-mask"), *level_updates(corruption)


def method_label(method: str) -> tuple[str, str]:
    return f"{method}: {METHODS[method]['summary']}", method


def option_control(option: dict[str, Any]) -> gr.components.Component:
    """The control of one option (a posterior method's, a sampler's, an EM method's, an import setting), from its
    description (type, bounds, choices, help); a number that may be left unset gets a text box that may be left empty."""
    label = option["name"].replace("_", " ")
    info = option["help"] + (f" (empty: {option['unset']})" if option.get("unset") else "")
    if option["choices"]:
        return gr.Radio(list(option["choices"]), value=option["default"], label=label, info=info)
    if option["type"] == "bool":
        return gr.Checkbox(value=option["default"], label=label, info=info)
    if option["type"] == "str":
        unset = f"empty: {option.get('unset') or 'unset'}" if option["default"] is None else None
        return gr.Textbox(option["default"], label=label, info=info, max_lines=1, placeholder=unset)
    if option["default"] is None and option["type"] in ("int", "float"):
        # Gradio's Number turns an empty value into 0 (and sends it), so a number that may be unset is typed as text
        bounds = f" ({bound_words(option['min'])} to {bound_words(option['max'])})" if option["min"] is not None else ""
        return gr.Textbox(None, label=label + bounds, info=info, max_lines=1,
                          placeholder=f"empty: {option.get('unset') or 'unset'}")
    low, high = option["min"], option["max"]
    if option["type"] == "int" and low is not None and high is not None and high - low <= 64:
        return gr.Slider(low, high, value=option["default"], step=1, label=label, info=info)
    return gr.Number(option["default"], label=label, info=info, minimum=low, maximum=high,
                     precision=0 if option["type"] == "int" else None)


def bound_words(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def shown_group(chosen: str, groups: list[str]) -> Any:
    """Show the chosen entry's option group, hide the others (one update alone: Gradio would take a list of
    one as the value of a single output)."""
    updates = [gr.update(visible=name == chosen) for name in groups]
    return updates[0] if len(updates) == 1 else updates


def method_controls(method: str) -> Any:
    return shown_group(method, OPTION_METHODS)


def sampler_controls(sampler: str) -> Any:
    return shown_group(sampler, OPTION_SAMPLERS)


def training_method_controls(method: str) -> Any:
    return shown_group(method, OPTION_TRAINING_METHODS)


def data_source_controls(source: str) -> Any:
    return shown_group(source, OPTION_DATA_SOURCES)


def data_source_corruption(source: str) -> Any:
    """A corruption that suits the chosen source's data, when a visitor picks it (an imported set keeps the field
    as it is: its observations are already corrupted; a reloaded job keeps its own)."""
    return gr.update(value=SOURCES[source].corruption) if source in SOURCES else gr.skip()


#: the methods that have options, each with a group of controls
OPTION_METHODS = list(dict.fromkeys(name for name, _ in METHOD_OPTIONS))
#: the samplers that have options, likewise
OPTION_SAMPLERS = list(dict.fromkeys(name for name, _ in SAMPLER_OPTIONS))
#: the Train tab's EM methods that have options, likewise
OPTION_TRAINING_METHODS = list(dict.fromkeys(name for name, _ in TRAINING_OPTIONS))
#: the Train tab's data sources that have options, likewise
OPTION_DATA_SOURCES = list(dict.fromkeys(name for name, _ in DATA_OPTIONS))


def first_result(prior: str | None, image: str | None) -> dict[str, Any]:
    """A finished example restoration, computed once at start-up, so the page is never empty on load."""
    if prior is None or image is None:
        return {}
    start = starting_point(REGISTRY.entry(prior))
    controls = observation_controls(image, start.corruption, start.amount)
    *_, last = computed_restoration(prior, *controls, start.method, DEFAULT_SAMPLER, DEFAULT_STEPS, DEFAULT_SAMPLES,
                                    *method_option_values(), *sampler_option_values())
    clean, seen = corrupt(prior, *controls)
    names = ("live", "status", "slider", "mean", "std", "metrics", "download")
    result = dict(zip(names, last)) | {"clean": clean, "seen": seen}
    result["metrics"] = "*Example result, computed when the server started.*  \n" + result["metrics"]
    return result


def build_demo() -> gr.Blocks:
    best = best_learned_prior(list(REGISTRY.entries.values()))
    names = REGISTRY.names("unconditional") + REGISTRY.names("conditional")
    first = best.name if best else (names[0] if names else None)
    start = starting_point(REGISTRY.entry(first)) if first else None
    pictures = examples()
    first_image = pictures[0][0] if pictures else None
    shown = first_result(first, first_image)
    with gr.Blocks(title="diffem: priors learned from corrupted data") as demo:
        gr.Markdown("# diffem: diffusion priors learned from corrupted observations only")
        gr.Markdown(INTRODUCTION)
        with gr.Accordion("All installed priors", open=False):
            priors_list = gr.Markdown(priors_markdown())
        with gr.Tab("Restore"):
            with gr.Row():
                with gr.Column():
                    if pictures:
                        gallery = gr.Gallery(example_thumbnails(), label="Examples (click one)", columns=4,
                                             height="auto", allow_preview=False, object_fit="contain")
                    # a File (not an Image) input, so that a broken upload reaches our own check and its clear error
                    image = gr.File(value=first_image, label="Or upload an image (any size or format)",
                                    file_types=["image"], type="filepath", elem_id="picture")
                    prior = gr.Dropdown(names, value=first, label="Prior", allow_custom_value=True)
                    prior_info = gr.Markdown(prior_words(first) if first else "")
                    operators = REGISTRY.entry(first).operators if first else []
                    corruption = gr.Dropdown([(operator_title(n) + f" ({n})", n) for n in operators],
                                             value=start.corruption if start else None, label="Corruption",
                                             allow_custom_value=True)
                    levels = [level_slider(name, visible=start is not None and name == start.corruption,
                                           value=start.amount if start and name == start.corruption else None)
                              for name in LEVEL_OPERATORS]
                    with gr.Row():
                        sigma_y = gr.Number(0.01, label="Noise sigma")
                        seed = gr.Number(0, precision=0, label="Seed")
                    with gr.Group(visible=False) as editor_group:
                        gr.Markdown("**Your own mask**: paint over the pixels to hide (painted = missing). "
                                    "Without a file above, the canvas picture itself is taken as the observation.")
                        editor = gr.ImageEditor(canvas(first, first_image),
                                                type="numpy", height=300, show_label=False, layers=False,
                                                canvas_size=(224, 224), sources=["upload", "clipboard"])
                        mask_file = gr.File(label=MASK_FILE_LABEL, file_types=["image"], type="filepath",
                                            elem_id="mask-file")
                with gr.Column():
                    with gr.Row():
                        clean_view = gr.Image(shown.get("clean"), label=clean_label(first), format="png",
                                              interactive=False)
                        observation_view = gr.Image(shown.get("seen"), label="Observation: what the model sees "
                                                    "(blue = missing)", format="png", interactive=False)
                    method = gr.Dropdown([method_label(m) for m in REGISTRY.entry(first).methods] if first else [],
                                         value=start.method if start else None, label="Method",
                                         allow_custom_value=True)
                    with gr.Row():
                        sampler = gr.Dropdown(sorted(SAMPLERS), value=DEFAULT_SAMPLER, label="Sampler",
                                              allow_custom_value=True)
                        steps = gr.Number(DEFAULT_STEPS, precision=0, label=f"Steps (1-{APP_MAX_STEPS})")
                        samples = gr.Slider(1, MAX_SAMPLES, value=DEFAULT_SAMPLES, step=1, label="Samples")
                    option_groups, option_inputs = [], []
                    for name in OPTION_METHODS:
                        with gr.Accordion(f"{name} options ({METHODS[name]['source']})", open=False,
                                          visible=start is not None and name == start.method) as group:
                            option_inputs += [option_control(o) for m, o in METHOD_OPTIONS if m == name]
                        option_groups.append(group)
                    sampler_groups, sampler_inputs = [], []
                    for name in OPTION_SAMPLERS:
                        with gr.Accordion(f"{name} sampler options", open=False,
                                          visible=name == DEFAULT_SAMPLER) as group:
                            sampler_inputs += [option_control(o) for s, o in SAMPLER_OPTIONS if s == name]
                        sampler_groups.append(group)
                    with gr.Row():
                        restore_button = gr.Button("Restore", variant="primary")
                        stop_button = gr.Button("Stop", variant="stop")
                    live = gr.Image(shown.get("live"), label="Denoised estimate (live)", format="png",
                                    interactive=False)
                    status = gr.Markdown(shown.get("status", ""))
            with gr.Row():
                slider = gr.ImageSlider(shown.get("slider"), label="Observation | restoration", format="png",
                                        height=RESULT_HEIGHT, width=RESULT_HEIGHT)
                mean_view = gr.Image(shown.get("mean"), label="Restoration (mean of the samples)", format="png",
                                     interactive=False, height=RESULT_HEIGHT)
                std_view = gr.Image(shown.get("std"), label="Uncertainty: per-pixel std (white = unsure)",
                                    format="png", interactive=False, height=RESULT_HEIGHT)
            metrics = gr.Markdown(shown.get("metrics", ""))
            download = gr.File(shown.get("download"), label="Download the restoration (PNG, model resolution)")
        with gr.Tab("Compare"):
            gr.Markdown("Race up to four methods on the **same observation and seed** (the Restore tab's picture "
                        "and corruption). Each row: its samples, their mean, their per-pixel std.")
            with gr.Row():
                lanes = [gr.Dropdown([""] + lane_choices(REGISTRY), value=value, label=f"Method {i + 1}",
                                     allow_custom_value=True)
                         for i, value in enumerate(default_lanes(REGISTRY, LANES))]
            with gr.Row():
                compare_samples = gr.Slider(1, 8, value=4, step=1, label="Samples per method")
                compare_steps = gr.Number(DEFAULT_STEPS, precision=0, label="Steps (equal steps)")
                equal_cost = gr.Checkbox(True, label="Equal cost", info="match network calls + VJPs, not steps")
                budget = gr.Number(method_cost("mmps", None, DEFAULT_STEPS).total, precision=0,
                                   label="Cost a sample (network calls + VJPs)")
                tuned_knobs = gr.Checkbox(True, label="Tuned knobs", info="at equal cost: tuned for this cost")
            gr.Markdown("Each method runs with the options set for it in the Restore tab (DPS's step size, "
                        "when left empty, is the one tuned for the prior and the corruption). With *Tuned knobs*, "
                        "a race at equal cost gives each method the knobs (MMPS's k, DPS's zeta...) tuned on "
                        "validation images at the recorded cost nearest the one set; each row says which.")
            with gr.Row():
                compare_button = gr.Button("Compare", variant="primary")
                compare_stop = gr.Button("Stop", variant="stop")
            with gr.Row():
                compare_clean = gr.Image(label="Clean image", format="png", interactive=False)
                compare_seen = gr.Image(label="Observation (blue = missing)", format="png", interactive=False)
            lane_pictures, lane_notes = [], []
            for i in range(LANES):
                lane_pictures.append(gr.Image(label=f"Method {i + 1}: samples | mean | std", format="png",
                                              interactive=False, height=LANE_HEIGHT))
                lane_notes.append(gr.Markdown())
            compare_status = gr.Markdown()
        with gr.Tab("Train (admin)"):
            gr.Markdown("Launch EM training in a background process (one at a time). Needs the admin password "
                        "(`DIFFEM_ADMIN_PASSWORD`); without it nothing can be started. The status refreshes by "
                        "itself while a job runs.")
            password = gr.Textbox(label="Admin password", type="password")
            with gr.Row():
                run_name = gr.Textbox("fashion-mask", label="Run name")
                train_method = gr.Dropdown(list(JOB_METHODS), value="em-mmps", label="Method",
                                           allow_custom_value=True)
                train_data = gr.Dropdown([*JOB_DATA_SOURCES, IMPORTED_DATA], value=REQUEST_DEFAULTS.data,
                                         label="Data", allow_custom_value=True)
                train_corruption = gr.Textbox("mask:0.75", label="Corruption")
            with gr.Row():
                train_laps = gr.Number(4, precision=0, label="Laps")
                train_steps = gr.Number(500, precision=0, label="Steps per lap")
                train_observations = gr.Number(4096, precision=0, label="Observations")
                train_batch = gr.Number(64, precision=0, label="Batch size")
            with gr.Accordion("More settings", open=False):
                with gr.Row():
                    train_preset = gr.Dropdown(list(UNET_PRESETS), value=REQUEST_DEFAULTS.preset, label="UNet size",
                                               info="deep: four levels, for 64x64 and colour")
                    train_sampler_steps = gr.Number(REQUEST_DEFAULTS.sampler_steps, precision=0,
                                                    label=NUMBER_TITLES["sampler_steps"])
                    train_gaussian = gr.Number(REQUEST_DEFAULTS.gaussian_iterations, precision=0,
                                               label=NUMBER_TITLES["gaussian_iterations"] + " (lap 0)",
                                               info="50 % masks 16, 75 % 32, 90 % 64")
                    train_eval_count = gr.Number(REQUEST_DEFAULTS.eval_count, precision=0,
                                                 label=NUMBER_TITLES["eval_count"])
                    train_eval_samples = gr.Number(REQUEST_DEFAULTS.eval_samples, precision=0,
                                                   label=NUMBER_TITLES["eval_samples"])
            training_groups, training_option_inputs = [], []
            for name in OPTION_TRAINING_METHODS:
                with gr.Accordion(f"{name} options", open=False, visible=name == "em-mmps") as group:
                    with gr.Row():
                        training_option_inputs += [option_control(o) for m, o in TRAINING_OPTIONS if m == name]
                training_groups.append(group)
            data_groups, data_option_inputs = [], []
            for name in OPTION_DATA_SOURCES:
                with gr.Accordion(f"{name} data options", open=False,
                                  visible=name == REQUEST_DEFAULTS.data) as group:
                    with gr.Row():
                        data_option_inputs += [option_control(o) for s, o in DATA_OPTIONS if s == name]
                data_groups.append(group)
            with gr.Row():
                start_button = gr.Button("Start / resume", variant="primary")
                stop_train_button = gr.Button("Stop", variant="stop")
                status_button = gr.Button("Refresh status")
                refresh_button = gr.Button("Make finished laps selectable in Restore")
            with gr.Accordion("Train on your own corrupted data", open=True):
                gr.Markdown(IMPORT_HELP)
                train_upload = gr.File(label="Your observations (.zip or .npz)", file_types=[".zip", ".npz"],
                                       type="filepath", elem_id="train-upload")
                with gr.Row():
                    import_inputs = [option_control(option) for option in IMPORT_OPTIONS]
                import_button = gr.Button("Import and train", variant="primary")
                import_summary = gr.Markdown()
            train_message = gr.Markdown()
            lap_gallery = gr.Gallery(label="Prior samples per lap", columns=6, height=240)
            lap_figures = gr.Dataframe(headers=["lap", *[header for header, _ in LAP_COLUMNS[:4]]], interactive=False)
            with gr.Row():
                lap_plots = [gr.LinePlot(x="lap", y="value", color="metric", label=f"Per lap: {title}", sort="x")
                             for title in PLOTS]
            with gr.Row():
                push_lap = gr.Textbox(label="Finished lap (run/lap-K)")
                push_repo = gr.Textbox(label="Hub repo id (owner/name)")
                push_button = gr.Button("Push to the Hub")
            timer = gr.Timer(3.0, active=False)

        corrupt_inputs = [prior, image, corruption, *levels, sigma_y, seed, editor, mask_file]
        views = [clean_view, observation_view]
        results = [slider, mean_view, std_view, metrics, download]
        if pictures:
            gallery.select(pick_example, None, image, api_name=False)
        prior.change(prior_controls, prior, [corruption, method, prior_info, clean_view, *levels], api_name=False)
        corruption.change(corruption_controls, corruption, [editor_group, *levels], api_name=False)
        method.change(method_controls, method, option_groups, api_name=False)
        sampler.change(sampler_controls, sampler, sampler_groups, api_name=False)
        image.change(editor_with_picture, [prior, image], editor, api_name=False)
        gr.on([image.change, prior.change, corruption.change, *[level.release for level in levels], sigma_y.change,
               seed.change, editor.change, mask_file.change], preview, corrupt_inputs, views, api_name="observe", show_progress="hidden")
        restore_event = restore_button.click(
            restore, corrupt_inputs + [method, sampler, steps, samples, *option_inputs, *sampler_inputs],
            [live, status, *results], api_name="restore", concurrency_limit=2, show_progress="hidden")
        stop_button.click(stopped, None, status, cancels=[restore_event], api_name=False)
        compare_event = compare_button.click(
            compare, [*corrupt_inputs[1:], *lanes, compare_samples, compare_steps, equal_cost, budget, tuned_knobs,
                      *option_inputs], [compare_clean, compare_seen, *lane_pictures, *lane_notes],
            api_name="compare", concurrency_limit=2, show_progress="hidden")
        compare_stop.click(stopped, None, compare_status, cancels=[compare_event], api_name=False)
        form = [run_name, train_method, train_data, train_corruption, train_laps, train_steps, train_observations,
                train_batch, train_preset, train_sampler_steps, train_gaussian, train_eval_count, train_eval_samples]
        training_controls = [control for control, field in zip(form, FORM_FIELDS, strict=True) if field in TRAINING_FIELDS]
        status_outputs = [train_message, lap_gallery, lap_figures, *lap_plots, *form, *training_option_inputs,
                          *data_option_inputs, timer]
        train_method.change(training_method_controls, train_method, training_groups, api_name=False)
        if data_groups:
            train_data.change(data_source_controls, train_data, data_groups, api_name=False)
        train_data.input(data_source_corruption, train_data, train_corruption, api_name=False)
        start_button.click(start_training, [password, *form, *training_option_inputs, *data_option_inputs],
                           [train_message, timer], api_name="train_start")
        import_button.click(import_and_train, [password, train_upload, *import_inputs, *training_controls,
                                               *training_option_inputs],
                            [import_summary, train_message, timer], api_name="train_import")
        stop_train_button.click(stop_training, password, train_message, api_name="train_stop")
        status_button.click(training_status, password, status_outputs, api_name="train_status")
        timer.tick(poll_training, password, status_outputs, api_name=False, show_progress="hidden")
        push_button.click(push_to_hub, [password, push_lap, push_repo], train_message, api_name="train_push")
        refresh_button.click(refresh_priors, None, [prior, *lanes, priors_list], api_name=False)
    return demo


def server_address(host: str | None, port: int | None, environ: dict[str, str] | os._Environ[str] = os.environ) -> tuple[str, int]:
    """``--host``/``--port``, else Gradio's ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``, else all interfaces
    on a Space (``SPACE_ID`` set) and loopback elsewhere, port 7860."""
    default_host = "0.0.0.0" if environ.get("SPACE_ID") else "127.0.0.1"
    host = host or environ.get("GRADIO_SERVER_NAME") or default_host
    port = port or int(environ.get("GRADIO_SERVER_PORT") or 7860)
    return host, port


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="diffem demo app")
    parser.add_argument("--host", help="address to listen on (default: GRADIO_SERVER_NAME, else 0.0.0.0 on a "
                        "Space and 127.0.0.1 elsewhere)")
    parser.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT, else 7860)")
    args = parser.parse_args(argv)
    host, port = server_address(args.host, args.port)
    global demo  # a module-level `demo` is what the Spaces reloader swaps when the code changes
    demo = build_demo()
    place_priors()
    demo.queue(max_size=16, default_concurrency_limit=1).launch(server_name=host, server_port=port,
                                                                max_file_size=MAX_UPLOAD_BYTES)


if __name__ == "__main__":
    main()
