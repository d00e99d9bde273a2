"""diffem demo (Gradio 6): restore images with priors learned from corrupted data only.

Tabs: **Restore** (upload or pick an image, corrupt it or draw a mask, stream the posterior
sampler step by step, see the mean, the per-pixel uncertainty and the metrics), **Compare**
(MMPS and conditional sampling side by side on the same observation) and **Train** (admin:
EM training in a background process). The app only calls the library: the registry of
installed priors, :mod:`diffem.restore`, :mod:`diffem.metrics` and :mod:`diffem.jobs`.

Run: ``python app.py [--host H] [--port P]``. Environment: ``DIFFEM_CHECKPOINTS`` (priors
folder), ``DIFFEM_HUB_PRIORS`` (comma-separated Hub repo ids), ``DIFFEM_ADMIN_PASSWORD``
(enables the Train tab), ``DIFFEM_RUNS`` (where training runs go), ``HF_TOKEN`` (push to Hub).
"""

from __future__ import annotations

import argparse
import hmac
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder
import numpy as np
import torch
from PIL import Image

from diffem.data.image_folder import ImageSizeError, check_image_size, image_to_array, read_image_file
from diffem.imaging import tensor_to_image
from diffem.jobs import JobManager, JobRequest
from diffem.metrics import psnr, ssim
from diffem.operators import OPERATORS, LinearOperator, parse_corruption
from diffem.posterior import PosteriorOptions
from diffem.registry import PriorRegistry
from diffem.restore import iterate_restoration, observe
from diffem.samplers import SAMPLERS

HERE = Path(__file__).resolve().parent
CHECKPOINTS = Path(os.environ.get("DIFFEM_CHECKPOINTS", HERE / "checkpoints"))
RUNS = Path(os.environ.get("DIFFEM_RUNS", HERE / "runs" / "app"))
EXAMPLES = HERE / "examples"
APP_MAX_STEPS = 1000
MAX_SAMPLES = 16
DISPLAY = 224

try:  # ZeroGPU Spaces: mark the GPU functions; a no-op decorator elsewhere
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU
except ImportError:
    def gpu(function: Callable[..., Any]) -> Callable[..., Any]:
        return function


def make_registry() -> PriorRegistry:
    hub_ids = [r.strip() for r in os.environ.get("DIFFEM_HUB_PRIORS", "").split(",") if r.strip()]
    registry = PriorRegistry(CHECKPOINTS, hub_ids)
    registry.load_all()
    return registry


REGISTRY = make_registry()
JOBS = JobManager(RUNS)


def use_folders(checkpoints: Path, runs: Path) -> None:
    """Point the app at other folders (tests, or a Space with its own layout)."""
    global CHECKPOINTS, REGISTRY, JOBS
    CHECKPOINTS = Path(checkpoints)
    REGISTRY = make_registry()
    JOBS = JobManager(runs)


# --- input handling -------------------------------------------------------------------------
def is_readable_upload(path: str) -> bool:
    """True for files in Gradio's upload cache or the examples folder: an API caller must not make
    the server read any other file on its disk (Gradio itself lets paths under the temp folder through)."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in (get_upload_folder(), EXAMPLES))


def load_picture(path: str | None, event_shape: tuple[int, ...]) -> torch.Tensor:
    """An uploaded file as a model-resolution tensor in ``[0, 1]``, or a clear error."""
    if not path:
        raise gr.Error("Upload an image or pick an example first.")
    if not is_readable_upload(path):
        raise gr.Error("Only uploaded files and the app's examples can be restored; upload the image instead.")
    try:
        array = read_image_file(path, event_shape[-1], event_shape[0])
    except ImageSizeError as error:
        raise gr.Error(str(error)) from None
    except (OSError, ValueError) as error:
        raise gr.Error(f"Cannot read this file as an image ({type(error).__name__}).") from None
    return torch.from_numpy(array)


def mask_from_editor(editor: dict[str, Any] | None, size: int) -> torch.Tensor | None:
    """Painted pixels of the editor's layers are missing (0); the rest observed (1)."""
    if not editor or not editor.get("layers"):
        return None
    painted = None
    for layer in editor["layers"]:
        if layer is None:
            continue
        alpha = np.asarray(layer)[..., -1] if np.asarray(layer).ndim == 3 else np.asarray(layer)
        painted = alpha > 0 if painted is None else painted | (alpha > 0)
    if painted is None or not painted.any():
        return None
    resized = Image.fromarray(painted.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)
    return torch.from_numpy((np.asarray(resized) == 0).astype(np.float32))[None, None]


def display(pixels: torch.Tensor) -> np.ndarray:
    """A ``(C, H, W)`` pixel tensor enlarged for the page (nearest neighbour)."""
    scale = max(1, DISPLAY // pixels.shape[-1])
    return np.asarray(tensor_to_image(pixels.detach().cpu(), scale).convert("RGB"))


def check_choice(value: str, choices: list[str] | tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise gr.Error(f"Unknown {what} {value!r}; choose one of: {', '.join(choices) or 'none installed'}.")
    return value


def check_int(value: Any, low: int, high: int, what: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number.") from None
    if not np.isfinite(number) or number != int(number) or not low <= number <= high:
        raise gr.Error(f"{what} must be a whole number between {low} and {high}, got {value}.")
    return int(number)


def check_float(value: Any, low: float, high: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number.") from None
    if not np.isfinite(number) or not low <= number <= high:
        raise gr.Error(f"{what} must be between {low} and {high}, got {value}.")
    return number


@dataclass
class Observation:
    """What a restoration starts from; ``clean`` is None when an observation was uploaded as such."""

    picture: torch.Tensor
    clean: torch.Tensor | None
    y: torch.Tensor
    operator: LinearOperator


def editor_picture(editor: dict[str, Any] | None, event_shape: tuple[int, ...]) -> torch.Tensor | None:
    """The mask editor's background (an uploaded, already corrupted image), at model resolution."""
    background = (editor or {}).get("background")
    if background is None or np.asarray(background).size == 0:
        return None
    array = np.asarray(background)
    image = Image.fromarray(array[..., :3] if array.ndim == 3 else array)
    try:
        check_image_size(*image.size)
    except ImageSizeError as error:
        raise gr.Error(str(error)) from None
    return torch.from_numpy(image_to_array(image, event_shape[-1], event_shape[0]))


def make_observation(prior: str, image: str | None, corruption: str, amount: float, sigma_y: float, seed: Any,
                     editor: dict[str, Any] | None) -> Observation:
    """The observation of the chosen image at the prior's resolution.

    With corruption ``user-mask`` and no image file, the mask editor's background is taken as an
    already corrupted observation (its painted pixels missing); its clean image is then unknown.
    """
    entry = REGISTRY.entry(check_choice(prior, REGISTRY.names(), "prior"))
    check_choice(corruption, entry.operators, "corruption for this prior")
    sigma_y = check_float(sigma_y, 1e-4, 1.0, "Noise sigma")
    seed = check_int(seed, 0, 2**31 - 1, "Seed")
    bundle = REGISTRY.bundle(prior)
    uploaded = editor_picture(editor, entry.event_shape) if corruption == "user-mask" and not image else None
    picture = uploaded if uploaded is not None else load_picture(image, entry.event_shape)
    x = bundle.scaling.to_model(picture)
    try:
        if corruption == "user-mask":
            mask = mask_from_editor(editor, entry.event_shape[-1])
            if mask is None:
                raise gr.Error("Draw on the mask canvas first (painted pixels are treated as missing).")
            operator = OPERATORS["user-mask"](sigma_y=sigma_y, mask=mask)
        else:
            spec = OPERATORS[corruption].spec_argument
            operator = parse_corruption(f"{corruption}:{amount}" if spec else corruption, sigma_y)
        if uploaded is not None:
            return Observation(picture, None, operator.forward(x[None]), operator)
        y, drawn = observe(x, operator, seed)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return Observation(picture, picture, y, drawn)


def observed_pixels(prior: str, observation: Observation) -> np.ndarray:
    bundle = REGISTRY.bundle(prior)
    return display(bundle.scaling.to_pixels(observation.operator.adjoint(observation.y.to(bundle.device)).cpu()[0]))


def corrupt(prior: str, image: str | None, corruption: str, amount: float, sigma_y: float, seed: Any,
            editor: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    observation = make_observation(prior, image, corruption, amount, sigma_y, seed, editor)
    return display(observation.picture), observed_pixels(prior, observation)


def preview(prior: str, image: str | None, *rest: Any) -> tuple[Any, Any]:
    """:func:`corrupt` when a file is chosen (uploaded or an example); nothing when it is cleared."""
    if not image or prior not in REGISTRY.entries:
        return None, None
    return corrupt(prior, image, *rest)


# --- restoration ----------------------------------------------------------------------------
def stream_restoration(prior: str, method: str, observation: Observation,
                       sampler: str, steps: int, seed: int, samples: int, solver: str,
                       iterations: int) -> Iterator[tuple[int, int, torch.Tensor, float]]:
    """``(step, total, denoised batch in pixels, seconds so far)`` after every sampler step."""
    entry = REGISTRY.entry(prior)
    check_choice(method, entry.methods, f"method for {prior}")
    bundle = REGISTRY.bundle(prior)
    y, operator = observation.y, observation.operator
    options = PosteriorOptions(solver, iterations)
    started = time.perf_counter()
    try:
        steps_iterator = iterate_restoration(bundle, None if method == "prior" else y,
                                             None if method == "prior" else operator, method, samples, steps,
                                             sampler, seed, options)
        for step in steps_iterator:
            yield step.index, step.total, bundle.scaling.to_pixels(step.denoised.detach()).cpu(), \
                time.perf_counter() - started
    except ValueError as error:
        raise gr.Error(str(error)) from None
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def metrics_text(clean: torch.Tensor | None, samples: torch.Tensor, seconds: float, steps: int) -> str:
    mean = samples.mean(dim=0, keepdim=True)
    lines = [f"**{samples.shape[0]} sample(s), {steps} steps, {seconds:.2f} s** "
             f"({seconds / steps * 1000:.0f} ms a step)"]
    if clean is None:
        return lines[0] + "  \nThe clean image is unknown (an observation was uploaded): no PSNR/SSIM."
    lines.append(f"PSNR of the mean: **{float(psnr(mean, clean[None])):.2f} dB**, "
                 f"SSIM {float(ssim(mean, clean[None])):.3f}")
    single = psnr(samples, clean[None].expand_as(samples))
    lines.append(f"PSNR of single samples: {float(single.mean()):.2f} dB on average")
    return "  \n".join(lines)


def save_result(samples: torch.Tensor) -> str:
    folder = Path(tempfile.mkdtemp(prefix="diffem-"))
    path = folder / "restoration.png"
    tensor_to_image(samples.mean(dim=0)).save(path)
    return str(path)


@gpu
def restore(prior: str, image: str | None, corruption: str, amount: float, sigma_y: float, seed: Any,
            editor: dict[str, Any] | None, method: str, sampler: str, steps: Any, samples: Any, solver: str,
            iterations: Any, progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, ...]]:
    """Stream: live estimate and progress every step; then slider, mean, std, metrics, file."""
    check_choice(sampler, sorted(SAMPLERS), "sampler")
    check_choice(solver, ["cg", "gmres"], "solver")
    steps = check_int(steps, 1, APP_MAX_STEPS, "Steps")
    samples = check_int(samples, 1, MAX_SAMPLES, "Number of samples")
    iterations = check_int(iterations, 1, 10, "Solver iterations")
    observation = make_observation(prior, image, corruption, amount, sigma_y, seed, editor)
    seen = observed_pixels(prior, observation)
    batch, seconds = None, 0.0
    for index, total, batch, seconds in stream_restoration(prior, method, observation, sampler, steps,
                                                           int(float(seed)), samples, solver, iterations):
        status = f"step {index} / {total} · {seconds:.1f} s"
        progress((index, total), desc="sampling")
        if index < total:
            yield display(batch[0]), status, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    assert batch is not None
    mean = batch.mean(dim=0)
    spread = batch.std(dim=0, unbiased=False) if batch.shape[0] > 1 else torch.zeros_like(mean)
    spread = spread / spread.max().clamp_min(1e-6)
    yield (display(mean), f"done: {steps} steps in {seconds:.1f} s", (seen, display(mean)), display(mean),
           display(spread), metrics_text(observation.clean, batch, seconds, steps), save_result(batch))


@gpu
def compare(prior: str, conditional: str, image: str | None, corruption: str, amount: float, sigma_y: float,
            seed: Any, editor: dict[str, Any] | None, steps: Any, iterations: Any) -> Iterator[tuple[Any, ...]]:
    """MMPS with an unconditional prior and conditional sampling, advanced in turn, step by step."""
    steps = check_int(steps, 1, APP_MAX_STEPS, "Steps")
    iterations = check_int(iterations, 1, 10, "Solver iterations")
    runs = [(prior, "mmps")]
    if conditional:
        runs.append((conditional, "conditional"))
    observations = []
    for name, _ in runs:
        observations.append(make_observation(name, image, corruption, amount, sigma_y, seed, editor))
    streams = [stream_restoration(name, method, obs, "ddpm", steps, int(float(seed)), 1, "gmres", iterations)
               for (name, method), obs in zip(runs, observations)]
    latest: list[tuple[int, int, torch.Tensor, float] | None] = [None] * len(streams)
    busy = [0.0] * len(streams)
    finished = [False] * len(streams)
    while not all(finished):
        for i, stream in enumerate(streams):
            if finished[i]:
                continue
            begin = time.perf_counter()
            try:
                latest[i] = next(stream)
            except StopIteration:
                finished[i] = True
            busy[i] += time.perf_counter() - begin
        yield tuple(compare_outputs(runs, observations, latest, busy, finished))


def compare_outputs(runs: list[tuple[str, str]], observations: list[Any], latest: list[Any], busy: list[float],
                    finished: list[bool]) -> list[Any]:
    images, notes = [], []
    for (name, method), obs, state, seconds, done in zip(runs, observations, latest, busy, finished):
        if state is None:
            images.append(None)
            notes.append("")
            continue
        index, total, batch, _ = state
        note = f"**{method}** ({name}): step {index}/{total}, {seconds:.2f} s"
        if done and obs.clean is not None:
            note += f", PSNR {float(psnr(batch[:1], obs.clean[None])):.2f} dB, SSIM {float(ssim(batch[:1], obs.clean[None])):.3f}"
        images.append(display(batch[0]))
        notes.append(note)
    while len(images) < 2:
        images.append(None)
        notes.append("no conditional model installed for this comparison")
    return images + notes


# --- training (admin) -----------------------------------------------------------------------
def check_password(password: str | None) -> None:
    expected = os.environ.get("DIFFEM_ADMIN_PASSWORD", "")
    if not expected:
        raise gr.Error("Training is disabled on this server (no DIFFEM_ADMIN_PASSWORD is set).")
    if not hmac.compare_digest((password or "").encode(), expected.encode()):
        raise gr.Error("Wrong admin password.")


def start_training(password: str, name: str, method: str, data: str, corruption: str, laps: Any, steps: Any,
                   observations: Any) -> str:
    check_password(password)
    request = JobRequest(name=str(name), method=str(method), data=str(data), corruption=str(corruption),
                         laps=check_int(laps, 1, 200, "Laps"), steps_per_lap=check_int(steps, 1, 200_000, "Steps per lap"),
                         observations_limit=check_int(observations, 16, 60_000, "Observations"))
    try:
        record = JOBS.start(request)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return f"started job {name!r} (process {record['pid']})"


def stop_training(password: str) -> str:
    check_password(password)
    return "stopped; start the same run again to resume it" if JOBS.stop() else "no job is running"


def training_status(password: str) -> tuple[str, list[str], list[list[Any]], Any]:
    check_password(password)
    status = JOBS.status()
    if status["state"] == "none":
        return "no training job yet", [], [], None
    header = f"**{status['name']}**: {status['state']}, complete laps: {status['laps'][-1] if status['laps'] else '-'}"
    log = "\n".join(status["log"])
    gallery = [str(Path(status["run"]) / "laps" / f"lap-{lap:04d}" / "samples.png") for lap in status["laps"]]
    rows = [[m.get("lap"), m.get("final_loss"), m.get("frechet_pixels", m.get("frechet_features")),
             m.get("posterior_psnr"), m.get("sinkhorn")] for m in status["history"]]
    plot = metrics_frame(status["history"])
    return f"{header}\n\n```\n{log}\n```", [g for g in gallery if Path(g).is_file()], rows, plot


def metrics_frame(history: list[dict[str, Any]]) -> Any:
    """Long-format table of every numeric per-lap metric, for the line plot."""
    import pandas as pd

    keys = ("final_loss", "frechet_pixels", "frechet_features", "posterior_psnr", "sinkhorn")
    rows = [{"lap": m["lap"], "metric": k, "value": float(m[k])} for m in history for k in keys
            if isinstance(m.get(k), (int, float))]
    return pd.DataFrame(rows, columns=["lap", "metric", "value"])


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


def refresh_priors() -> tuple[Any, Any]:
    for name, folder in JOBS.lap_priors().items():
        if name not in REGISTRY.entries:
            REGISTRY.add(name, folder)
    return gr.update(choices=REGISTRY.names()), gr.update(choices=[""] + REGISTRY.names("conditional"))


# --- page -----------------------------------------------------------------------------------
def examples() -> list[str]:
    return [str(p) for p in sorted(EXAMPLES.glob("*.png"))] if EXAMPLES.is_dir() else []


def priors_markdown() -> str:
    if not REGISTRY.entries:
        return (f"**No prior is installed yet**: `{CHECKPOINTS.name}/` holds no bundle. Train one (Train tab or "
                "`python -m diffem train`) or add a bundle folder; see the README.")
    lines = [f"- `{name}`: {entry.describe()}; methods {', '.join(entry.methods)}"
             for name, entry in REGISTRY.entries.items()]
    return "**Installed priors**\n" + "\n".join(lines)


def operator_controls(prior: str) -> tuple[Any, Any]:
    if prior not in REGISTRY.entries:
        return gr.update(choices=[]), gr.update(choices=[])
    entry = REGISTRY.entry(prior)
    default = "mask" if "mask" in entry.operators else (entry.operators[0] if entry.operators else None)
    return gr.update(choices=entry.operators, value=default), gr.update(choices=list(entry.methods),
                                                                        value=entry.methods[0])


def amount_control(corruption: str) -> Any:
    cls = OPERATORS.get(corruption)
    spec = cls.spec_argument if cls else None
    ranges = {"ratio": (0.0, 0.99, 0.75), "size": (0.05, 0.95, 0.4), "kernel_sigma": (0.3, 5.0, 1.5),
              "factor": (1, 7, 2)}
    if spec not in ranges:
        return gr.update(visible=False)
    low, high, value = ranges[spec]
    return gr.update(visible=True, minimum=low, maximum=high, value=value, label=f"{corruption}: {spec}")


def build_demo() -> gr.Blocks:
    names = REGISTRY.names("unconditional") + REGISTRY.names("conditional")
    first = names[0] if names else None
    first_entry = REGISTRY.entries.get(first) if first else None
    with gr.Blocks(title="diffem") as demo:
        gr.Markdown("# diffem: diffusion priors learned from corrupted observations only\n"
                    "Corrupt an image, then watch the posterior sampler restore it step by step.")
        gr.Markdown(priors_markdown())
        with gr.Tab("Restore"):
            with gr.Row():
                with gr.Column():
                    # a File (not an Image) input, so that a broken upload reaches our own check and its clear error
                    image = gr.File(label="Image file (any size or format)", file_types=["image"], type="filepath")
                    if examples():
                        gr.Examples(examples=examples(), inputs=image, label="Examples (held-out test images)")
                    prior = gr.Dropdown(names, value=first, label="Prior", allow_custom_value=True)
                    corruption = gr.Dropdown(first_entry.operators if first_entry else [],
                                             value="mask" if first_entry else None, label="Corruption",
                                             allow_custom_value=True)
                    amount = gr.Slider(0.0, 0.99, value=0.75, label="mask: ratio")
                    with gr.Row():
                        sigma_y = gr.Number(0.01, label="Noise sigma")
                        seed = gr.Number(0, precision=0, label="Seed")
                    editor = gr.ImageEditor(label="Draw a mask (for corruption 'user-mask'; painted = missing)",
                                            type="numpy", height=260)
                    corrupt_button = gr.Button("Show the observation")
                with gr.Column():
                    with gr.Row():
                        model_view = gr.Image(label="What the model sees", format="png", interactive=False)
                        observation_view = gr.Image(label="Observation", format="png", interactive=False)
                    method = gr.Dropdown(list(first_entry.methods) if first_entry else [],
                                         value=first_entry.methods[0] if first_entry else None, label="Method",
                                         allow_custom_value=True)
                    with gr.Row():
                        sampler = gr.Dropdown(sorted(SAMPLERS), value="ddpm", label="Sampler", allow_custom_value=True)
                        steps = gr.Number(64, precision=0, label=f"Steps (1-{APP_MAX_STEPS})")
                        samples = gr.Slider(1, MAX_SAMPLES, value=4, step=1, label="Samples")
                    with gr.Row():
                        solver = gr.Radio(["gmres", "cg"], value="gmres", label="MMPS solver")
                        iterations = gr.Slider(1, 10, value=1, step=1, label="Solver iterations")
                    with gr.Row():
                        restore_button = gr.Button("Restore", variant="primary")
                        stop_button = gr.Button("Stop", variant="stop")
                    live = gr.Image(label="Denoised estimate (live)", format="png", interactive=False)
                    progress = gr.Markdown()
            with gr.Row():
                slider = gr.ImageSlider(label="Observation | restoration", format="png")
                mean_view = gr.Image(label="Posterior mean", format="png", interactive=False)
                std_view = gr.Image(label="Per-pixel standard deviation (white = uncertain)", format="png",
                                    interactive=False)
            metrics = gr.Markdown()
            download = gr.File(label="Download the restoration (PNG, model resolution)")
        with gr.Tab("Compare"):
            gr.Markdown("The same observation (from the Restore tab's image and corruption), restored by MMPS with an "
                        "unconditional prior and by a DiffEM conditional model, advanced step by step in turn.")
            with gr.Row():
                unconditional = REGISTRY.names("unconditional")
                compare_prior = gr.Dropdown(unconditional, value=unconditional[0] if unconditional else None,
                                            label="Prior for MMPS", allow_custom_value=True)
                conditional = REGISTRY.names("conditional")
                maskable = [n for n in conditional if "mask" in REGISTRY.entry(n).operators]
                compare_conditional = gr.Dropdown([""] + conditional, value=(maskable or [""])[0],
                                                  label="Conditional model", allow_custom_value=True)
                compare_steps = gr.Number(64, precision=0, label="Steps")
                compare_iterations = gr.Slider(1, 10, value=1, step=1, label="MMPS iterations")
            compare_button = gr.Button("Compare", variant="primary")
            with gr.Row():
                left = gr.Image(label="MMPS", format="png", interactive=False)
                right = gr.Image(label="Conditional", format="png", interactive=False)
            with gr.Row():
                left_note = gr.Markdown()
                right_note = gr.Markdown()
        with gr.Tab("Train (admin)"):
            gr.Markdown("Launch EM training in a background process (one at a time). Needs the admin password "
                        "(`DIFFEM_ADMIN_PASSWORD`); without it nothing can be started.")
            password = gr.Textbox(label="Admin password", type="password")
            with gr.Row():
                run_name = gr.Textbox("fashion-mask", label="Run name")
                train_method = gr.Dropdown(["em-mmps", "diffem"], value="em-mmps", label="Method",
                                           allow_custom_value=True)
                train_data = gr.Dropdown(["fashion-mnist", "manifold"], value="fashion-mnist", label="Data",
                                         allow_custom_value=True)
                train_corruption = gr.Textbox("mask:0.75", label="Corruption")
                train_laps = gr.Number(4, precision=0, label="Laps")
                train_steps = gr.Number(500, precision=0, label="Steps per lap")
                train_observations = gr.Number(4096, precision=0, label="Observations")
            with gr.Row():
                start_button = gr.Button("Start / resume", variant="primary")
                stop_train_button = gr.Button("Stop", variant="stop")
                status_button = gr.Button("Refresh status")
                refresh_button = gr.Button("Make finished laps selectable in Restore")
            train_message = gr.Markdown()
            lap_gallery = gr.Gallery(label="Prior samples per lap", columns=6, height=240)
            lap_table = gr.Dataframe(headers=["lap", "loss", "Fréchet", "posterior PSNR", "Sinkhorn"],
                                     interactive=False)
            lap_plot = gr.LinePlot(x="lap", y="value", color="metric", label="Per-lap metrics")
            with gr.Row():
                push_lap = gr.Textbox(label="Finished lap (run/lap-K)")
                push_repo = gr.Textbox(label="Hub repo id (owner/name)")
                push_button = gr.Button("Push to the Hub")

        corrupt_inputs = [prior, image, corruption, amount, sigma_y, seed, editor]
        prior.change(operator_controls, prior, [corruption, method], api_name=False)
        corruption.change(amount_control, corruption, amount, api_name=False)
        corrupt_button.click(corrupt, corrupt_inputs, [model_view, observation_view], api_name="corrupt")
        image.change(preview, corrupt_inputs, [model_view, observation_view], api_name=False)
        restore_event = restore_button.click(
            restore, corrupt_inputs + [method, sampler, steps, samples, solver, iterations],
            [live, progress, slider, mean_view, std_view, metrics, download], api_name="restore",
            concurrency_limit=2)
        stop_button.click(None, None, None, cancels=[restore_event], api_name=False)
        compare_button.click(compare, [compare_prior, compare_conditional, image, corruption, amount, sigma_y, seed,
                                       editor, compare_steps, compare_iterations],
                             [left, right, left_note, right_note], api_name="compare", concurrency_limit=2)
        start_button.click(start_training, [password, run_name, train_method, train_data, train_corruption, train_laps,
                                            train_steps, train_observations], train_message, api_name="train_start")
        stop_train_button.click(stop_training, password, train_message, api_name="train_stop")
        status_button.click(training_status, password, [train_message, lap_gallery, lap_table, lap_plot],
                            api_name="train_status")
        push_button.click(push_to_hub, [password, push_lap, push_repo], train_message, api_name="train_push")
        refresh_button.click(refresh_priors, None, [prior, compare_conditional], api_name=False)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="diffem demo app")
    parser.add_argument("--host", default=os.environ.get("DIFFEM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DIFFEM_PORT", os.environ.get("PORT", "7860"))))
    args = parser.parse_args()
    build_demo().queue(max_size=16, default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
