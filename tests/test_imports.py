"""Importing a user's own corrupted observations: the three routes, the checks, and training on them.

The data is what ``examples/make_masked_shapes.py`` makes (the README walk-through's dataset):
masked colour shapes with their masks, as folders, as an ``imagefolder`` and as an ``.npz``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffem.atomic import current_umask
from diffem.cli import main
from diffem.data.observations import load_observation_set, read_meta
from diffem.heldout import held_out_report, hide_observed_pixels
from diffem.imports import ImportSettings, Observed
from diffem.imports.shaping import fitted
from diffem.operators import KernelBlur, UserMask
from diffem.scaling import DataScaling

ROOT = Path(__file__).resolve().parents[1]
COUNT, SIZE = 30, 16


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example script's dataset: ``images/``, ``masks/``, ``metadata.csv``, ``clean/`` and ``shapes.npz``."""
    folder = tmp_path_factory.mktemp("shapes")
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_masked_shapes.py"), "--out", str(folder / "data"),
                    "--count", str(COUNT), "--size", str(SIZE), "--npz", str(folder / "shapes.npz"), "--clean"],
                   check=True, capture_output=True, timeout=60)
    return folder


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def import_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict | str]:
    """Run ``import-observations`` in this process: (exit code, the JSON summary or the one error line)."""
    code = main(["import-observations", *args])
    captured = capsys.readouterr()
    if code == 0:
        return code, json.loads(captured.out)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diffem: error:"), captured.err
    return code, lines[0]


def test_the_three_routes_import_the_same_observations(shapes: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = shapes / "data"
    import datasets

    saved = tmp_path / "saved-dataset"
    datasets.load_dataset(str(data), split="train").save_to_disk(str(saved))
    routes = {
        "folder": ["folder", "--images", str(data / "images"), "--masks", str(data / "masks")],
        "arrays": ["arrays", "--file", str(shapes / "shapes.npz")],
        "imagefolder": ["dataset", "--dataset", str(data)],
        "saved": ["dataset", "--dataset", str(saved)],
    }
    loaded = {}
    for name, args in routes.items():
        code, summary = import_cli(capsys, *args, "--out", str(tmp_path / name))
        assert code == 0, summary
        assert summary == {"out": str(tmp_path / name), "observations": 27, "held_out": 3, "size": SIZE,
                           "channels": 3, "corruption": "user-mask",
                           "observed_fraction": summary["observed_fraction"]}
        loaded[name] = load_observation_set(tmp_path / name)
    first = loaded["folder"]
    for other in loaded.values():
        torch.testing.assert_close(other.y, first.y)
        torch.testing.assert_close(other.operator.mask, first.operator.mask)


def test_an_imported_set_holds_the_files_in_the_model_scale(shapes: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = shapes / "data"
    code, _ = import_cli(capsys, "folder", "--images", str(data / "images"), "--masks", str(data / "masks"),
                         "--held-out", "0.2", "--sigma-y", "0.02", "--out", str(tmp_path / "set"))
    assert code == 0
    train, test = load_observation_set(tmp_path / "set"), load_observation_set(tmp_path / "set", "test")
    assert (len(train), len(test)) == (24, 6) and train.x is None and test.x is None
    assert isinstance(train.operator, UserMask) and train.operator.sigma_y == 0.02
    names = sorted(p.name for p in (data / "images").iterdir())
    pixels = np.stack([np.asarray(Image.open(data / "images" / n), np.float32) / 255 for n in names])
    masks = np.stack([np.asarray(Image.open(data / "masks" / n)) == 255 for n in names]).astype(np.float32)
    together = torch.cat([train.y, test.y])
    expected = torch.from_numpy(masks[:, None] * (4 * pixels.transpose(0, 3, 1, 2) - 2))
    # the split shuffles rows; compare as sets of rows
    assert sorted(together.flatten(1).sum(1).tolist()) == pytest.approx(sorted(expected.flatten(1).sum(1).tolist()),
                                                                         abs=1e-3)
    meta = read_meta(tmp_path / "set")
    assert meta["info"]["imported"]["importer"] == "folder" and meta["info"]["data"] is None
    mode = stat.S_IMODE(os.stat(tmp_path / "set" / "observations.safetensors").st_mode)
    assert mode == 0o666 & ~current_umask()  # ordinary permissions, not a temporary file's owner-only ones


def test_grey_images_give_one_channel_and_sizes_can_be_changed(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(images / f"{i}.jpg")
        Image.fromarray((rng.random((40, 30)) > 0.3).astype(np.uint8) * 255).save(masks / f"{i}.png")
    code, message = import_cli(capsys, "folder", "--images", str(images), "--masks", str(masks),
                               "--out", str(tmp_path / "a"))
    assert code == 2 and "not square: give --size" in message
    code, summary = import_cli(capsys, "folder", "--images", str(images), "--masks", str(masks), "--size", "24",
                               "--held-out", "0", "--out", str(tmp_path / "b"))
    assert code == 0 and summary["channels"] == 1 and summary["size"] == 24 and summary["held_out"] == 0
    assert load_observation_set(tmp_path / "b").y.shape == (4, 1, 24, 24)


def test_resizing_averages_observed_pixels_only() -> None:
    """Missing pixels hold garbage (1.0); the observed ones 0.25: no resized pixel may see the garbage."""
    pixels = np.full((32, 32, 3), 0.25, np.float32)
    mask = (np.indices((32, 32)).sum(axis=0) % 2).astype(np.float32)  # a checkerboard: half of every 2x2 block
    pixels[mask == 0] = 1.0
    resized = fitted(Observed("checker", pixels, mask=mask), 16, "crop", resizing_allowed=True)
    assert resized.mask is not None and resized.mask.all()  # half of each area observed: observed
    np.testing.assert_allclose(resized.pixels, 0.25, atol=1e-6)
    sparse = mask * (np.indices((32, 32))[0] % 2)  # a quarter of every block: missing after resizing
    fewer = fitted(Observed("sparse", pixels, mask=sparse), 16, "crop", resizing_allowed=True)
    assert fewer.mask is not None and not fewer.mask.any() and not fewer.pixels.any()


def write_pair(images: Path, masks: Path, name: str, size: tuple[int, int] = (16, 16), mask_value: int = 255) -> None:
    Image.fromarray(np.full((*size, 3), 120, np.uint8)).save(images / f"{name}.png")
    Image.fromarray(np.where(np.eye(*size) > 0, mask_value, 0).astype(np.uint8)).save(masks / f"{name}.png")


def bad_folder(tmp_path: Path, case: str) -> tuple[Path, Path]:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for i in range(3):
        write_pair(images, masks, f"a{i}")
    if case == "no mask":
        (masks / "a1.png").unlink()
    elif case == "no image":
        write_pair(images, masks, "b")
        (images / "b.png").unlink()
    elif case == "mask size":
        Image.fromarray(np.zeros((12, 16), np.uint8)).save(masks / "a2.png")
    elif case == "grey mask":
        write_pair(images, masks, "a2", mask_value=128)
    elif case == "not an image":
        (images / "a2.png").write_text("these are notes, not pixels")
    elif case == "mixed sizes":
        write_pair(images, masks, "a2", size=(20, 20))
    elif case == "empty":
        for path in [*images.iterdir(), *masks.iterdir()]:
            path.unlink()
    return images, masks


@pytest.mark.parametrize("case, message", [
    ("no mask", "a1.png has no mask"),
    ("no image", "is a mask without an image"),
    ("mask size", "is 16x12 but the image is 16x16"),
    ("grey mask", "holds values other than 0 and 1 (e.g. 128)"),
    ("not an image", "a2.png is not an image diffem can read"),
    ("mixed sizes", "mixed sizes need --size"),
    ("empty", "holds no images"),
])
def test_bad_folders_get_one_line_exit_code_2_and_leave_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                case: str, message: str) -> None:
    images, masks = bad_folder(tmp_path, case)
    out = tmp_path / "out" / "set"
    code, line = import_cli(capsys, "folder", "--images", str(images), "--masks", str(masks), "--out", str(out))
    assert code == 2 and message in line
    assert not out.exists()
    assert not (out.parent.exists() and list(out.parent.iterdir()))  # no staging folder left behind


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, message", [
    ({"y": np.full((3, 16, 16), np.nan, np.float32), "mask": np.ones((3, 16, 16))}, "NaN"),
    ({"y": np.zeros((3, 16, 16), np.float32)}, "expected y and either mask or kernel"),
    ({"y": np.zeros((3, 16, 16), np.float32), "mask": np.ones((2, 16, 16))}, "one per observation"),
    ({"y": np.zeros((3, 16, 16), np.float32), "mask": np.full((3, 16, 16), 0.5)}, "values other than 0 and 1"),
    ({"y": np.full((3, 16, 16), 7.0, np.float32), "mask": np.ones((3, 16, 16))}, "pixels must lie in [0, 1]"),
    ({"y": np.zeros((3, 16, 16), np.float32), "kernel": np.ones((3, 3)) / 4}, "it must sum to 1"),
    ({"y": np.zeros((0, 16, 16), np.float32), "mask": np.ones((16, 16))}, "holds no observations"),
    ({"y": np.zeros((3, 16, 16), object), "mask": np.ones((16, 16))}, "cannot read"),
])
def test_bad_array_files_get_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      arrays: dict[str, np.ndarray], message: str) -> None:
    file = tmp_path / "observations.npz"
    if arrays["y"].dtype == object:
        np.savez(file, **arrays)  # a pickled object array: never loaded
    else:
        save_npz(file, **arrays)
    code, line = import_cli(capsys, "arrays", "--file", str(file), "--out", str(tmp_path / "set"))
    assert code == 2 and message in line and not (tmp_path / "set").exists()


def test_other_refusals(shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = shapes / "data"
    folder_args = ["folder", "--images", str(data / "images"), "--masks", str(data / "masks")]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    code, line = import_cli(capsys, *folder_args, "--out", str(tmp_path / "taken"))
    assert code == 2 and "never overwrites" in line and (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    code, line = import_cli(capsys, *folder_args, "--size", "8", "--out", str(tmp_path / "small"))
    assert code == 2 and "--size" in line
    code, line = import_cli(capsys, "dataset", "--dataset", str(data), "--mask-column", "masks",
                            "--out", str(tmp_path / "d"))
    assert code == 2 and "no column 'masks'" in line and "image, mask" in line
    code, line = import_cli(capsys, "arrays", "--file", str(data / "metadata.csv"), "--out", str(tmp_path / "e"))
    assert code == 2 and "neither .npz nor .safetensors" in line


def test_blurred_observations_import_with_their_kernels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(6, 3, 16, 16, generator=generator)
    kernel = torch.rand(6, 1, 5, 5, generator=generator)
    kernel = kernel / kernel.sum(dim=(1, 2, 3), keepdim=True)
    blurred = KernelBlur(0.01, kernel)(clean)
    file = tmp_path / "blurred.safetensors"
    from safetensors.numpy import save_file

    save_file({"y": blurred.numpy(), "kernel": kernel[:, 0].numpy()}, str(file))
    code, summary = import_cli(capsys, "arrays", "--file", str(file), "--held-out", "0", "--out", str(tmp_path / "s"))
    assert code == 0 and summary["corruption"] == "kernel-blur"
    imported = load_observation_set(tmp_path / "s")
    assert isinstance(imported.operator, KernelBlur)
    torch.testing.assert_close(imported.y, DataScaling().to_model(blurred))
    torch.testing.assert_close(imported.operator(DataScaling().to_model(clean)), imported.y, atol=1e-5, rtol=1e-5)
    code, line = import_cli(capsys, "arrays", "--file", str(file), "--size", "32", "--out", str(tmp_path / "t"))
    assert code == 2 and "cannot be resized" in line


def test_fresh_corruptions_of_imported_masks_are_drawn_from_them() -> None:
    masks = (torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    drawn = UserMask(0.01, masks).draw(40, (1, 8, 8), torch.Generator().manual_seed(2)).mask
    assert drawn.shape == (40, 1, 8, 8)
    matches = (drawn[:, None] == masks[None]).flatten(2).all(dim=2)
    assert bool(matches.any(dim=1).all()) and int(matches.any(dim=0).sum()) == 5  # all from the set, all used
    single = UserMask(0.01, masks[:1])
    assert single.draw(7, (1, 8, 8)) is single  # one drawn mask broadcasts, as in the app


def test_held_out_pixels_are_hidden_from_the_model_and_scored() -> None:
    from diffem.data.observations import ObservationSet

    generator = torch.Generator().manual_seed(3)
    x = torch.rand(4, 3, 16, 16, generator=generator) * 4 - 2
    mask = (torch.rand(4, 1, 16, 16, generator=generator) > 0.4).float()
    observations = ObservationSet(mask * x, UserMask(0.01, mask), (3, 16, 16))
    held = hide_observed_pixels(observations, torch.Generator().manual_seed(4))
    assert held is not None
    assert bool((held.hidden <= mask).all())  # only observed pixels are hidden
    assert 0.05 < float(held.hidden.sum() / mask.sum()) < 0.15
    assert bool((held.reduced.y[held.hidden.expand_as(x) > 0] == 0).all())
    perfect = held_out_report(x, observations, held)
    assert perfect["heldout_pixel_psnr"] > 90 and perfect["heldout_residual"] < 1e-3
    wrong = held_out_report(torch.zeros_like(x), observations, held)
    assert wrong["heldout_pixel_psnr"] < 15 and wrong["heldout_residual"] > 10


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "diffem", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT)


TINY_TRAINING = ["--laps", "2", "--steps-per-lap", "20", "--batch-size", "16", "--preset", "tiny",
                 "--sampler-steps", "8", "--eval-count", "10", "--eval-samples", "8", "--gaussian-iterations", "2",
                 "--gaussian-rank", "8", "--device", "cpu", "--quiet"]


def test_from_files_to_a_prior_to_restorations(shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The walk-through: import, two laps of EM-MMPS and of DiffEM with no clean image anywhere, restore, sample."""
    data = shapes / "data"
    code, _ = import_cli(capsys, "folder", "--images", str(data / "images"), "--masks", str(data / "masks"),
                         "--held-out", "0.4", "--out", str(tmp_path / "observations"))
    assert code == 0  # 12 held out: more than the 8 a lap's pictures show
    for method in ("em-mmps", "diffem"):
        run = cli("train", "--method", method, "--observations", str(tmp_path / "observations"),
                  "--out", str(tmp_path / method), *TINY_TRAINING)
        assert run.returncode == 0, run.stderr
        metrics = json.loads((tmp_path / method / "laps" / "lap-0002" / "metrics.json").read_text())
        assert {"heldout_pixel_psnr", "heldout_residual"} <= set(metrics) and "frechet_pixels" not in metrics
        assert np.isfinite(metrics["heldout_pixel_psnr"])
        assert (tmp_path / method / "laps" / "lap-0002" / "reconstructions.png").is_file()
    prior = tmp_path / "em-mmps" / "laps" / "lap-0002" / "prior"
    restored = cli("restore", "--prior", str(prior), "--image", str(data / "images" / "shape-0003.png"),
                   "--mask", str(data / "masks" / "shape-0003.png"), "--steps", "8", "--samples", "2",
                   "--out", str(tmp_path / "restored"))
    assert restored.returncode == 0, restored.stderr
    with Image.open(tmp_path / "restored" / "mean.png") as mean:
        assert mean.mode == "RGB"
    conditional = tmp_path / "diffem" / "laps" / "lap-0002" / "conditional"
    restored = cli("restore", "--prior", str(conditional), "--method", "conditional",
                   "--image", str(data / "images" / "shape-0003.png"), "--mask", str(data / "masks" / "shape-0003.png"),
                   "--steps", "8", "--samples", "2", "--out", str(tmp_path / "restored-conditional"))
    assert restored.returncode == 0, restored.stderr
    evaluated = cli("eval", "--prior", str(prior), "--observations", str(tmp_path / "observations"), "--count", "3",
                    "--steps", "8")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "heldout_pixel_psnr" in json.loads(evaluated.stdout)["posterior"]
    sampled = cli("sample", "--prior", str(prior), "--count", "4", "--steps", "8", "--out", str(tmp_path / "s.png"))
    assert sampled.returncode == 0, sampled.stderr
    shutil.rmtree(tmp_path / "diffem")


def test_a_64_pixel_colour_set_trains_with_the_deep_preset(shapes: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = shapes / "data"
    code, summary = import_cli(capsys, "folder", "--images", str(data / "images"), "--masks", str(data / "masks"),
                               "--size", "64", "--limit", "12", "--out", str(tmp_path / "big"))
    assert code == 0 and summary["size"] == 64 and summary["observations"] + summary["held_out"] == 12
    run = cli("train", "--method", "em-mmps", "--observations", str(tmp_path / "big"), "--out", str(tmp_path / "run"),
              "--laps", "1", "--steps-per-lap", "2", "--batch-size", "4", "--preset", "deep", "--sampler-steps", "2",
              "--eval-count", "2", "--eval-samples", "2", "--gaussian-iterations", "1", "--gaussian-rank", "4",
              "--device", "cpu", "--quiet")
    assert run.returncode == 0, run.stderr
    prior = tmp_path / "run" / "laps" / "lap-0001" / "prior"
    assert json.loads((prior / "diffem.json").read_text())["event_shape"] == [3, 64, 64]
    assert len(json.loads((prior / "backbone" / "config.json").read_text())["block_out_channels"]) == 4
    sampled = cli("sample", "--prior", str(prior), "--count", "2", "--steps", "2", "--out", str(tmp_path / "s.png"))
    assert sampled.returncode == 0, sampled.stderr
    with Image.open(tmp_path / "s.png") as grid:
        assert grid.mode == "RGB"


def test_settings_flags_come_from_the_settings_dataclass() -> None:
    from diffem.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["import-observations", "folder", "--images", "i", "--masks", "m", "--out", "o",
                              "--fit", "resize", "--channels", "1", "--held-out", "0.25"])
    from diffem.options import options_from_namespace

    settings = options_from_namespace(args, "", ImportSettings)
    assert (settings.fit, settings.channels, settings.held_out, settings.sigma_y) == ("resize", "1", 0.25, 0.01)
