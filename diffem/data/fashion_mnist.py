r"""Fashion-MNIST (Xiao et al., 2017): 60k train + 10k test grey 28x28 images, read from IDX files.

The IDX format is a big-endian header (magic ``0x0803`` for images, ``0x0801`` for labels, then
the dimensions as 32-bit integers) followed by raw ``uint8`` values; the files are gzipped.
Debian's ``dataset-fashion-mnist`` package installs them under
``/usr/share/datasets/fashion-mnist/``; ``DIFFEM_FASHION_MNIST`` can point elsewhere. The same
data can be read from the Hugging Face Hub (``zalando-datasets/fashion_mnist``) when online.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HUB_REPO = "zalando-datasets/fashion_mnist"
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def fashion_mnist_dir() -> Path:
    """Where the IDX files are: ``$DIFFEM_FASHION_MNIST`` or Debian's folder."""
    return Path(os.environ.get("DIFFEM_FASHION_MNIST", DEBIAN_DIR))


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a ``uint8`` array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4:
        raise ValueError(f"{path} is not an IDX file (too short)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values, found {body.size} (truncated file?)")
    return body.reshape(shape)


def load_fashion_mnist(split: str = "train", source: str = "local") -> tuple[Tensor, Tensor]:
    """``(images, labels)``: images ``(N, 1, 28, 28)`` float in ``[0, 1]``, labels ``(N,)`` int64.

    ``source="local"`` reads the IDX files; ``source="hub"`` downloads the Hub dataset's parquet
    files (needs ``pyarrow``, and a network connection unless the Hub cache has them).
    """
    if split not in SPLIT_PREFIX:
        raise ValueError(f"Fashion-MNIST split must be 'train' or 'test', got {split!r}")
    if source == "hub":
        images, labels = _load_from_hub(split)
    elif source == "local":
        folder = fashion_mnist_dir()
        prefix = SPLIT_PREFIX[split]
        image_file = folder / f"{prefix}-images-idx3-ubyte.gz"
        if not image_file.is_file():
            raise FileNotFoundError(
                f"Fashion-MNIST not found at {folder}: install Debian's dataset-fashion-mnist "
                "or set DIFFEM_FASHION_MNIST to a folder with the IDX files"
            )
        images = read_idx(image_file)
        labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    else:
        raise ValueError(f"Fashion-MNIST source must be 'local' or 'hub', got {source!r}")
    pixels = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return pixels, torch.from_numpy(labels.astype(np.int64))


def _load_from_hub(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The Hub dataset's parquet files of ``split``, fetched (or found in the local Hub cache,
    which is all ``HF_HUB_OFFLINE=1`` allows) by ``snapshot_download``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    from PIL import Image

    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise ImportError("reading Fashion-MNIST from the Hub needs pyarrow (pip install pyarrow)") from None
    try:
        folder = Path(snapshot_download(HUB_REPO, repo_type="dataset", allow_patterns=[f"*{split}-*.parquet"]))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        raise FileNotFoundError(f"could not fetch the Hub dataset {HUB_REPO}: {error}") from None
    files = sorted(f for f in folder.rglob("*.parquet") if f.name.startswith(f"{split}-"))
    if not files:
        raise FileNotFoundError(f"no parquet file for split {split!r} in the Hub dataset {HUB_REPO}")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for file in files:
        table = parquet.read_table(file).to_pydict()
        for image, label in zip(table["image"], table["label"]):
            images.append(np.asarray(Image.open(io.BytesIO(image["bytes"])).convert("L")))
            labels.append(int(label))
    return np.stack(images), np.asarray(labels)
