r"""Prior bundles: a trained denoiser with everything needed to use it.

A bundle folder holds

- ``diffem.json``: kind (``unconditional``, ``conditional`` or ``gaussian``), the VE schedule,
  the event shape, the data scaling, the backbone type, the conditioning, the operators a
  conditional model supports, and free-form training information (dataset, corruption, method,
  laps);
- ``backbone/``: the network, written by diffusers' ``save_pretrained`` as safetensors;
- or ``gaussian.safetensors`` for an analytic Gaussian prior.

Bundles are written atomically and loaded only from safetensors (no pickle), from a local
folder or a Hugging Face Hub repository id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .atomic import atomic_directory
from .backbones import MLPBackbone
from .denoisers import EDMDenoiser, GaussianDenoiser
from .scaling import DataScaling
from .schedule import VESchedule

CONFIG_NAME = "diffem.json"
BACKBONE_DIR = "backbone"
GAUSSIAN_FILE = "gaussian.safetensors"
FORMAT_VERSION = 1


class BundleError(ValueError):
    """A bundle folder is missing, incomplete or inconsistent."""


@dataclass
class PriorBundle:
    """A denoiser (network or Gaussian) plus its schedule, shape, scaling and provenance."""

    denoiser: nn.Module
    schedule: VESchedule
    event_shape: tuple[int, ...]
    scaling: DataScaling = field(default_factory=DataScaling)
    info: dict[str, Any] = field(default_factory=dict)
    operators: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if isinstance(self.denoiser, GaussianDenoiser):
            return "gaussian"
        return "conditional" if getattr(self.denoiser, "conditional", False) else "unconditional"

    @property
    def device(self) -> torch.device:
        for tensor in list(self.denoiser.parameters()) + list(self.denoiser.buffers()):
            return tensor.device
        return torch.device("cpu")

    def to(self, device: torch.device | str) -> "PriorBundle":
        self.denoiser.to(device)
        return self

    # --- saving ---------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "schedule": self.schedule.to_dict(),
            "event_shape": list(self.event_shape),
            "scaling": self.scaling.to_dict(),
            "info": self.info,
            "operators": list(self.operators),
        }
        if isinstance(self.denoiser, EDMDenoiser):
            config["backbone"] = _backbone_type(self.denoiser.backbone)
            config["condition_channels"] = self.denoiser.condition_channels
        return config

    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Write the bundle folder atomically (a temporary folder renamed into place)."""
        with atomic_directory(path) as staging:
            if isinstance(self.denoiser, GaussianDenoiser):
                save_file({k: v.detach().cpu().contiguous() for k, v in self.denoiser.state_dict().items()},
                          str(staging / GAUSSIAN_FILE))
            elif isinstance(self.denoiser, EDMDenoiser):
                self.denoiser.backbone.save_pretrained(staging / BACKBONE_DIR, safe_serialization=True)
            else:
                raise BundleError(f"cannot save a denoiser of type {type(self.denoiser).__name__}")
            (staging / CONFIG_NAME).write_text(json.dumps(self.config(), indent=2, sort_keys=True) + "\n")
        return Path(path)

    # --- loading --------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike[str], device: torch.device | str | None = None,
                        revision: str | None = None) -> "PriorBundle":
        """Load from a local folder or a Hub repo id (``owner/name``); to CUDA when available."""
        folder = resolve_bundle_folder(path_or_repo, revision)
        config = read_bundle_config(folder)
        denoiser = _load_denoiser(folder, config)
        denoiser.eval()
        bundle = cls(
            denoiser=denoiser,
            schedule=VESchedule.from_dict(config["schedule"]),
            event_shape=tuple(int(n) for n in config["event_shape"]),
            scaling=DataScaling.from_dict(config.get("scaling", {"low": -2.0, "high": 2.0})),
            info=dict(config.get("info", {})),
            operators=list(config.get("operators", [])),
        )
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return bundle.to(device)


def _backbone_type(backbone: nn.Module) -> str:
    if isinstance(backbone, MLPBackbone):
        return "mlp"
    if type(backbone).__name__ == "UNet2DModel":
        return "unet2d"
    raise BundleError(f"cannot save a backbone of type {type(backbone).__name__}")


def resolve_bundle_folder(path_or_repo: str | os.PathLike[str], revision: str | None = None) -> Path:
    """A local folder as is; otherwise download the safetensors files of a Hub repo.

    A name that looks like a local path (see :func:`looks_like_local_path`) but is not a folder is
    refused with "no such folder" rather than sent to the Hub.
    """
    path = Path(path_or_repo).expanduser()
    if path.is_dir():
        return path
    text = str(path_or_repo)
    if path.exists():
        raise BundleError(f"no prior bundle folder at {text!r}: it is a file, not a folder")
    if looks_like_local_path(text):
        raise BundleError(f"no prior bundle folder at {text!r}: no such folder")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(text, revision=revision,
                                      allow_patterns=["*.json", "*.safetensors", "*.md", "*.png"]))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        raise BundleError(f"could not fetch prior {text!r} from the Hugging Face Hub: {error}") from None


def looks_like_local_path(text: str) -> bool:
    """Whether ``text`` names a local path rather than a Hub repo id ``owner/name``.

    True when it starts with ``.``, ``/`` or ``~``, is not of the form ``owner/name``, uses the
    platform's own separator, or when its first component exists here (``checkpoints/nope``).
    """
    if text.startswith((".", "/", "~")) or text.count("/") != 1 or (os.sep != "/" and os.sep in text):
        return True
    return Path(text.split("/", 1)[0]).exists()


def read_bundle_config(folder: Path) -> dict[str, Any]:
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise BundleError(f"{folder} is not a prior bundle: {CONFIG_NAME} is missing")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise BundleError(f"{config_path} is not valid JSON: {error}") from None
    for key in ("kind", "schedule", "event_shape"):
        if key not in config:
            raise BundleError(f"{config_path} lacks the field {key!r}")
    return config


def _load_denoiser(folder: Path, config: dict[str, Any]) -> nn.Module:
    if config["kind"] == "gaussian":
        weights = folder / GAUSSIAN_FILE
        if not weights.is_file():
            raise BundleError(f"{folder}: no {GAUSSIAN_FILE} (only safetensors weights are loaded)")
        tensors = load_file(str(weights))
        try:
            if "eigenvalues" in tensors:
                cov = (tensors["eigenvectors"] * tensors["eigenvalues"]) @ tensors["eigenvectors"].T
                return GaussianDenoiser(tensors["mean"], cov=cov)
            return GaussianDenoiser(tensors["mean"], diag=tensors["diag"], factor=tensors["factor"])
        except KeyError as error:
            raise BundleError(f"{weights} lacks the tensor {error}") from None
    backbone_dir = folder / BACKBONE_DIR
    if not any(backbone_dir.glob("*.safetensors")):
        raise BundleError(f"{folder}: no safetensors weights in {BACKBONE_DIR}/ (pickled weights are never loaded)")
    backbone_cls = _backbone_class(config.get("backbone"))
    try:
        backbone = backbone_cls.from_pretrained(backbone_dir, use_safetensors=True, low_cpu_mem_usage=False)
    except (OSError, ValueError, RuntimeError) as error:
        raise BundleError(f"{folder}: the weights do not match the configuration: {error}") from None
    return EDMDenoiser(backbone, condition_channels=int(config.get("condition_channels", 0)))


def _backbone_class(name: str | None) -> type:
    if name == "mlp":
        return MLPBackbone
    if name == "unet2d":
        from diffusers import UNet2DModel

        return UNet2DModel
    raise BundleError(f"unknown backbone type {name!r} in {CONFIG_NAME}")


def list_bundles(folder: str | os.PathLike[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(name, config)`` of every bundle folder directly inside ``folder`` (sorted by name)."""
    root = Path(folder)
    found: list[tuple[str, dict[str, Any]]] = []
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if child.is_dir() and (child / CONFIG_NAME).is_file():
            try:
                found.append((child.name, read_bundle_config(child)))
            except BundleError:
                continue
    return found
