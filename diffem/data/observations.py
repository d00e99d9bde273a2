r"""Corrupted-observation datasets: ``y_i = A_i x_i + sigma_y eta_i``, made once and saved.

EM learns from these files alone. A set folder holds

- ``observations.json``: event shape, data scaling, the operator's configuration, provenance;
- ``observations.safetensors``: the observations ``y`` and the per-sample operator parameters
  (e.g. each image's mask), all that training reads;
- ``test.safetensors``: for evaluation only, held-out observations with their operator
  parameters and, when a clean source exists (``make-observations``), their clean images ``x``.
  Imported observations (:mod:`diffem.imports`) have no clean images: their test split holds
  observations only, which :mod:`diffem.heldout` evaluates without ground truth.

The folder is written atomically. Binary tensors (masks) are stored as ``uint8``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..atomic import atomic_directory
from ..operators import LinearOperator, operator_from_config
from ..rng import make_generator
from ..scaling import DataScaling

META_FILE = "observations.json"
TRAIN_FILE = "observations.safetensors"
TEST_FILE = "test.safetensors"
OPERATOR_PREFIX = "op."


@dataclass
class ObservationSet:
    """Observations ``y`` of an operator with per-sample parameters (and optional clean ``x``)."""

    y: Tensor
    operator: LinearOperator
    event_shape: tuple[int, ...]
    scaling: DataScaling = field(default_factory=DataScaling)
    info: dict[str, Any] = field(default_factory=dict)
    x: Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(self, index: Tensor | slice, device: torch.device | str = "cpu") -> tuple[Tensor, LinearOperator]:
        """``(y, operator)`` for a sub-batch, on ``device``."""
        return self.y[index].to(device), self.operator.select(index).to(device)

    def subset(self, count: int) -> "ObservationSet":
        count = min(count, len(self))
        index = slice(0, count)
        x = None if self.x is None else self.x[index]
        return ObservationSet(self.y[index], self.operator.select(index), self.event_shape, self.scaling,
                              dict(self.info), x)


def make_observation_set(x: Tensor, operator: LinearOperator, seed: int, batch_size: int = 4096,
                         scaling: DataScaling | None = None, info: dict[str, Any] | None = None,
                         keep_clean: bool = False) -> ObservationSet:
    """Draw per-sample operators and noisy observations of clean ``x`` (model scale), seeded.

    Drawn on the CPU so the same seed gives the same set on every machine.
    """
    generator = make_generator(seed)
    event_shape = tuple(x.shape[1:])
    drawn = operator.draw(x.shape[0], event_shape, generator)
    ys = []
    for start in range(0, x.shape[0], batch_size):
        index = slice(start, start + batch_size)
        ys.append(drawn.select(index).observe(x[index], generator))
    return ObservationSet(torch.cat(ys), drawn, event_shape, scaling or DataScaling(), dict(info or {}),
                          x if keep_clean else None)


def _pack(observations: ObservationSet) -> tuple[dict[str, Tensor], list[str]]:
    tensors = {"y": observations.y.contiguous()}
    binary = []
    for key, value in observations.operator.tensors().items():
        if value.dtype.is_floating_point and bool(((value == 0) | (value == 1)).all()):
            value = value.to(torch.uint8)
            binary.append(key)
        tensors[OPERATOR_PREFIX + key] = value.contiguous()
    if observations.x is not None:
        tensors["x"] = observations.x.contiguous()
    return tensors, binary


def save_observation_set(folder: str | os.PathLike[str], train: ObservationSet, test: ObservationSet | None) -> Path:
    """Write a set folder atomically: training observations (never their clean images), and held-out test
    data if given (with its clean images if it has them)."""
    train_tensors, binary = _pack(replace(train, x=None))
    meta = {
        "event_shape": list(train.event_shape),
        "scaling": train.scaling.to_dict(),
        "operator": train.operator.config(),
        "binary_tensors": binary,
        "count": len(train),
        "test_count": 0 if test is None else len(test),
        "info": train.info,
    }
    with atomic_directory(folder) as staging:
        save_file(train_tensors, str(staging / TRAIN_FILE))
        if test is not None:
            save_file(_pack(test)[0], str(staging / TEST_FILE))
        (staging / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return Path(folder)


def read_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not an observation set: {META_FILE} is missing "
                                "(make one with `python -m diffem make-observations`)")
    return json.loads(path.read_text())


def load_observation_set(folder: str | os.PathLike[str], split: str = "train") -> ObservationSet:
    """The training observations (``split="train"``) or the held-out test set (``"test"``)."""
    meta = read_meta(folder)
    file = Path(folder) / {"train": TRAIN_FILE, "test": TEST_FILE}[split]
    if not file.is_file():
        raise FileNotFoundError(f"{folder} has no {split} data ({file.name} is missing)")
    tensors = load_file(str(file))
    operator_tensors = {
        key[len(OPERATOR_PREFIX):]: (value.to(torch.float32) if key[len(OPERATOR_PREFIX):] in meta["binary_tensors"] else value)
        for key, value in tensors.items() if key.startswith(OPERATOR_PREFIX)
    }
    operator = operator_from_config(meta["operator"]).with_tensors(operator_tensors)
    return ObservationSet(
        y=tensors["y"],
        operator=operator,
        event_shape=tuple(meta["event_shape"]),
        scaling=DataScaling.from_dict(meta["scaling"]),
        info=dict(meta.get("info", {})),
        x=tensors.get("x"),
    )
