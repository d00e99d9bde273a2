"""Data sources: IDX files, the toy manifold, observation sets on disk."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from diffem.data import load_fashion_mnist, make_manifold
from diffem.data.fashion_mnist import read_idx
from diffem.data.observations import load_observation_set, make_observation_set, save_observation_set
from diffem.operators import parse_corruption


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([7, 0, 3]))
    monkeypatch.setenv("DIFFEM_FASHION_MNIST", str(tmp_path))
    pixels, labels = load_fashion_mnist("test")
    assert pixels.shape == (3, 1, 28, 28) and labels.tolist() == [7, 0, 3]
    assert torch.allclose(pixels[0, 0], torch.from_numpy(images[0] / 255).float())
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist("train")


def test_fashion_mnist_reads_the_hub_dataset_from_the_local_cache(hub_cache: Path) -> None:
    """The Hub route, offline: parquet files (PNG bytes + label) laid out as huggingface_hub caches them."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as parquet
    from PIL import Image

    with pytest.raises(FileNotFoundError, match="could not fetch the Hub dataset"):
        load_fashion_mnist("test", source="hub")
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = hub_cache / "datasets--zalando-datasets--fashion_mnist"
    snapshot = repo / "snapshots" / commit / "fashion_mnist"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    images = (np.arange(2 * 28 * 28).reshape(2, 28, 28) * 7 % 256).astype(np.uint8)

    def png(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        return buffer.getvalue()

    table = pa.table({"image": [{"bytes": png(a), "path": None} for a in images], "label": [9, 4]})
    parquet.write_table(table, snapshot / "test-00000-of-00001.parquet")
    pixels, labels = load_fashion_mnist("test", source="hub")
    assert pixels.shape == (2, 1, 28, 28) and labels.tolist() == [9, 4]
    assert torch.equal(pixels[:, 0], torch.from_numpy(images / 255).float())
    with pytest.raises(FileNotFoundError):  # the train split is not in the cache
        load_fashion_mnist("train", source="hub")


def test_truncated_idx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((2, 4, 4)))
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    with gzip.open(path, "wb") as handle:
        handle.write(data[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_manifold_is_seeded_and_scaled() -> None:
    a, b = make_manifold(1000, seed=1), make_manifold(1000, seed=1)
    assert torch.equal(a, b) and a.shape == (1000, 5)
    assert a.min() >= -2.0001 and a.max() <= 2.0001
    assert not torch.equal(a, make_manifold(1000, seed=2))
    # a 1-D curve: consecutive points along the parameter are close, the cloud is not a blob
    spread = torch.linalg.svdvals(a - a.mean(0))
    assert spread[0] > 2 * spread[-1]


def test_observation_sets_round_trip_with_binary_masks(tmp_path: Path) -> None:
    x = torch.randn(10, 1, 6, 6)
    operator = parse_corruption("mask:0.5", 0.02)
    train = make_observation_set(x, operator, seed=0)
    test = make_observation_set(x[:4], operator, seed=1, keep_clean=True)
    save_observation_set(tmp_path / "set", train, test)
    loaded = load_observation_set(tmp_path / "set")
    assert torch.equal(loaded.y, train.y) and loaded.x is None
    assert torch.equal(loaded.operator.tensors()["mask"], train.operator.tensors()["mask"])
    assert loaded.operator.tensors()["mask"].dtype == torch.float32
    held_out = load_observation_set(tmp_path / "set", "test")
    assert torch.equal(held_out.x, x[:4])
    again = make_observation_set(x, operator, seed=0)
    assert torch.equal(again.y, train.y)


def test_sinkhorn_divergence_matches_pot_log_domain_and_separates_clouds() -> None:
    import ot

    from diffem.metrics import sinkhorn_divergence

    generator = torch.Generator().manual_seed(0)
    a = make_manifold(300, seed=5).double()
    b = make_manifold(300, seed=6).double()

    def log_domain(p: torch.Tensor, q: torch.Tensor) -> float:
        w = torch.full((p.shape[0],), 1 / p.shape[0], dtype=torch.float64)
        return float(ot.sinkhorn2(w, w, torch.cdist(p, q) ** 2, 0.05, method="sinkhorn_log", numItermax=1000,
                                  stopThr=1e-6))

    expected = log_domain(a, b) - 0.5 * (log_domain(a, a) + log_domain(b, b))
    assert sinkhorn_divergence(a, b, reg=0.05) == pytest.approx(expected, abs=1e-8)
    assert abs(sinkhorn_divergence(a, a, reg=0.05)) < 1e-8
    shifted = a + 0.5 * torch.randn(1, 5, generator=generator, dtype=torch.float64)
    assert sinkhorn_divergence(a, shifted, reg=0.05) > 10 * abs(expected)


def test_a_data_source_registered_in_code_is_loaded_by_name_with_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new source is one registered class: load_clean_data finds it by its spec, takes its own options from the
    settings every source's flags give, refuses a name no source has, and bounds-checks the values."""
    from dataclasses import dataclass

    from diffem.data.sources import SOURCES, CleanData, DataSource, load_clean_data, register_source, source_specs
    from diffem.options import option

    monkeypatch.setattr("diffem.data.sources.base.SOURCES", dict(SOURCES))
    from diffem.data.sources import base

    @register_source
    class Constant(DataSource):
        name = "constant"
        summary = "images of one grey level"
        argument = "LEVEL"

        @dataclass(frozen=True)
        class Options:
            count: int = option(4, "images", low=1, high=100)

        def load(self, argument: str | None, scaling) -> CleanData:
            images = torch.full((self.options.count, 1, 8, 8), float(argument))
            return CleanData(scaling.to_model(images), scaling.to_model(images[:1]), "image")

    assert "constant:LEVEL" in source_specs()  # the --data help and errors list it
    data = base.load_clean_data("constant:0.5", count=3, size=32, manifold_points=9)  # other sources' flags pass
    assert data.train.shape == (3, 1, 8, 8) and torch.allclose(data.train, torch.zeros(1))  # 0.5 is 0 on [-2, 2]
    with pytest.raises(ValueError, match="no data source has the option 'colour'"):
        base.load_clean_data("constant:0.5", colour=3)
    with pytest.raises(ValueError, match="count"):
        base.load_clean_data("constant:0.5", count=0)
    with pytest.raises(ValueError, match="needs its LEVEL"):
        base.load_clean_data("constant")
    assert "constant" not in SOURCES  # registered into this test's copy of the registry only
    with pytest.raises(ValueError, match="choose one of .*constant:LEVEL"):
        load_clean_data("nothing")
