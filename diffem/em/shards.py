r"""E-step samples on disk, one safetensors file per chunk of observations.

The E-step cuts the ``N`` observations into ``C = ceil(N / b)`` chunks of ``b`` (``--estep-batch``).
Chunk ``c`` (rows ``c b`` to ``min((c + 1) b, N)``) is sampled with its own generator, seeded by
``(run seed, lap, c)``, so its samples do not depend on which process draws it, or in what order.
Each finished chunk is written atomically (temporary file + rename) as ``chunk-CCCCCC.safetensors``
in a folder keyed by the previous lap's manifest, the chunk size and ``N``. Hence:

- sharding: process ``r`` of ``P`` draws the chunks ``c mod P = r``; after a barrier every process
  reads all ``C`` files back, and :func:`gather_chunks` refuses a missing chunk (a gap) or one of
  the wrong length (a duplicate or a truncated write) instead of training on it;
- resuming: a killed E-step keeps its finished chunks; the resumed lap draws only the others, and
  gets the same samples it would have drawn (the key changes whenever the previous lap does).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save
from torch import Tensor

from ..atomic import atomic_write_bytes
from .laps import MANIFEST

SAMPLES_KEY = "samples"


class ShardError(RuntimeError):
    """The E-step's chunks on disk do not add up to one sample per observation."""


def chunk_count(total: int, chunk_size: int) -> int:
    return -(-total // chunk_size)


def chunk_rows(chunk: int, total: int, chunk_size: int) -> slice:
    return slice(chunk * chunk_size, min((chunk + 1) * chunk_size, total))


def chunk_path(folder: Path, chunk: int) -> Path:
    return folder / f"chunk-{chunk:06d}.safetensors"


def shard_folder(root: Path, name: str, previous: Path, chunk_size: int, total: int) -> Path:
    """The chunk folder of the E-step ``name`` that starts from the lap folder ``previous``."""
    digest = hashlib.sha256((previous / MANIFEST).read_bytes())
    digest.update(f"{chunk_size}:{total}".encode())
    return root / f"{name}-{digest.hexdigest()[:12]}"


def write_chunk(folder: Path, chunk: int, samples: Tensor) -> None:
    """Save one chunk atomically (a reader sees the whole file or none)."""
    atomic_write_bytes(chunk_path(folder, chunk), save({SAMPLES_KEY: samples.detach().cpu().contiguous()}))


def read_chunk(folder: Path, chunk: int) -> Tensor | None:
    """A finished chunk, or ``None`` if it is not on disk yet."""
    path = chunk_path(folder, chunk)
    return load_file(str(path))[SAMPLES_KEY] if path.is_file() else None


def gather_chunks(folder: Path, total: int, chunk_size: int) -> Tensor:
    """All ``total`` samples in order, checking every chunk is present once with its rows."""
    parts = []
    for chunk in range(chunk_count(total, chunk_size)):
        samples = read_chunk(folder, chunk)
        rows = chunk_rows(chunk, total, chunk_size)
        if samples is None:
            raise ShardError(f"E-step chunk {chunk} (observations {rows.start}-{rows.stop - 1}) is missing from {folder}")
        if samples.shape[0] != rows.stop - rows.start:
            raise ShardError(f"E-step chunk {chunk} in {folder} has {samples.shape[0]} samples, "
                             f"expected {rows.stop - rows.start}")
        parts.append(samples)
    return torch.cat(parts)


def remove_shards(root: Path, name: str) -> None:
    """Delete every chunk folder of the E-step ``name`` (once its lap is complete)."""
    for folder in root.glob(f"{name}-*"):
        shutil.rmtree(folder, ignore_errors=True)
