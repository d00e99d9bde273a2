r"""A small Fashion-MNIST classifier whose penultimate layer gives features for Fréchet distances.

Inception features (FID) suit natural 299x299 RGB images, not 28x28 grey clothes, so the
Fréchet distance of Fashion-MNIST priors is computed on this network's 128 features
(``conv 32 -> conv 64 -> linear 128 -> linear 10``, trained by cross-entropy on the clean
training images; used only for evaluation). Saved as ``features.safetensors`` + ``config.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from .atomic import atomic_directory
from .rng import make_generator

WEIGHTS = "features.safetensors"
CONFIG = "config.json"


class FeatureNet(nn.Module):
    """Maps pixels in ``[0, 1]`` of shape ``(B, C, 28, 28)`` to class logits; :meth:`features` to 128 features."""

    def __init__(self, channels: int = 1, classes: int = 10, width: int = 128) -> None:
        super().__init__()
        self.channels, self.classes, self.width = channels, classes, width
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, width), nn.ReLU(),
        )
        self.head = nn.Linear(width, classes)

    def features(self, pixels: Tensor) -> Tensor:
        return self.body(2 * pixels - 1)

    def forward(self, pixels: Tensor) -> Tensor:
        return self.head(self.features(pixels))

    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "classes": self.classes, "width": self.width}


class FeatureExtractor(nn.Module):
    """The features of a :class:`FeatureNet`, as the module a Fréchet distance calls."""

    def __init__(self, net: FeatureNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: Tensor) -> Tensor:
        return self.net.features(pixels.to(self.net.head.weight.dtype))


def train_feature_net(images: Tensor, labels: Tensor, epochs: int = 5, batch_size: int = 256, lr: float = 1e-3,
                      seed: int = 0, device: torch.device | str = "cpu", progress: bool = True) -> FeatureNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FeatureNet(images.shape[1]).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = make_generator(seed)
    images, labels = images.to(device), labels.to(device)
    for _ in tqdm(range(epochs), desc="feature net", disable=not progress, leave=False):
        order = torch.randperm(images.shape[0], generator=generator).to(device)
        for start in range(0, images.shape[0], batch_size):
            index = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(net(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: FeatureNet, images: Tensor, labels: Tensor, batch_size: int = 2000) -> float:
    device = next(net.parameters()).device
    correct = 0
    for start in range(0, images.shape[0], batch_size):
        logits = net(images[start:start + batch_size].to(device))
        correct += int((logits.argmax(dim=1).cpu() == labels[start:start + batch_size]).sum())
    return correct / images.shape[0]


def save_feature_net(net: FeatureNet, folder: str | os.PathLike[str], info: dict[str, Any]) -> Path:
    with atomic_directory(folder) as staging:
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(staging / WEIGHTS))
        (staging / CONFIG).write_text(json.dumps({**net.config(), "info": info}, indent=2, sort_keys=True) + "\n")
    return Path(folder)


def load_feature_net(folder: str | os.PathLike[str], device: torch.device | str = "cpu") -> FeatureExtractor:
    """The feature extractor saved in ``folder`` (safetensors only)."""
    root = Path(folder)
    if not (root / WEIGHTS).is_file() or not (root / CONFIG).is_file():
        raise FileNotFoundError(f"{root} is not a feature network folder ({WEIGHTS} and {CONFIG} are needed)")
    config = json.loads((root / CONFIG).read_text())
    net = FeatureNet(int(config["channels"]), int(config["classes"]), int(config["width"]))
    try:
        net.load_state_dict(load_file(str(root / WEIGHTS)))
    except RuntimeError as error:
        raise ValueError(f"{root}: the weights do not match the configuration: {error}") from None
    return FeatureExtractor(net.eval()).to(device)
