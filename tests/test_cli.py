"""The command line end to end on tiny data: observations, training, sampling, restoring, evaluating.

Also: ``--help`` and bad arguments answer without importing torch, every registry name appears in
its option's help, and each command says what it did (or refuses before the work).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from diffem.atomic import atomic_write_bytes, current_umask
from diffem.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "diffem", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


@pytest.mark.parametrize("args, message", [
    (["train", "--method", "em-mmps", "--observations", "x", "--out", "y", "--laps", "0"], "--laps"),
    (["make-observations", "--data", "manifold", "--corruption", "smudge:3", "--out", "z"], "unknown corruption"),
    (["restore", "--prior", "no/such/prior/folder", "--image", "a.png", "--corruption", "mask:0.5", "--out", "o"],
     "no prior bundle"),
    (["restore", "--prior", "no/such/prior/folder", "--image", "a.png", "--out", "o"], "give --corruption"),
    (["frobnicate"], "invalid choice"),
    (["sample", "--prior", "p", "--out", "s.png", "--sampler", "zz"], "argument --sampler: invalid choice: 'zz'"),
    (["train", "--method", "em-mmp", "--observations", "x", "--out", "y"], "argument --method: invalid choice"),
    (["sample", "--prior", "p", "--out", "samples.xyz"], "'.xyz' is not an image format"),
    (["restore", "--prior", "checkpoints/nope", "--image", "a.png", "--corruption", "mask:0.5", "--out", "o"],
     "no such folder"),
    (["train", "--method", "diffem-prior", "--observations", "x", "--out", "y"], "--conditional"),
    (["train", "--method", "em-mmps", "--observations", "x", "--out", "y", "--conditional", "c"], "--conditional"),
])
def test_bad_arguments_give_one_line_and_exit_code_2(args: list[str], message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_exit_code(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diffem: error:") and message in lines[0]


def cli_exit_code(args: list[str]) -> int:
    """``main``'s exit code in this process (argparse's refusals exit through ``SystemExit``)."""
    try:
        return main(args)
    except SystemExit as stop:
        return int(stop.code or 0)


@pytest.mark.parametrize("args, message", [
    (["sample", "--prior", "p", "--out", "s.png", "--sampler", "zz"], "argument --sampler: invalid choice: 'zz'"),
    (["restore", "--prior", "no/such/prior/folder", "--image", "a.png", "--corruption", "mask:0.5", "--out", "o"],
     "no prior bundle"),
])
def test_a_real_process_prints_only_the_one_line(args: list[str], message: str) -> None:
    """The same contract for a whole process: no warning or traceback from importing torch joins the line."""
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diffem: error:") and message in lines[0]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(30):
        blob = np.zeros((40, 40), dtype=np.uint8)
        top, left = rng.integers(4, 20, size=2)
        blob[top:top + 14, left:left + 14] = 255
        image = Image.fromarray(blob)
        if i % 3 == 1:
            image = image.convert("RGBA")
        elif i % 3 == 2:
            image = Image.fromarray(blob.astype(np.uint16) * 257)
        image.save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def trained(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("cli")
    observations = work / "obs"
    assert main(["make-observations", "--data", f"folder:{image_folder}", "--corruption", "mask:0.5",
                 "--size", "16", "--out", str(observations)]) == 0
    assert main(["train", "--method", "em-mmps", "--observations", str(observations), "--out", str(work / "run"),
                 "--laps", "1", "--steps-per-lap", "3", "--batch-size", "8", "--preset", "tiny",
                 "--sampler-steps", "2", "--gaussian-iterations", "2", "--gaussian-rank", "4", "--eval-count", "3",
                 "--eval-samples", "4", "--device", "cpu", "--quiet"]) == 0
    return work


def test_make_observations_writes_train_and_test(trained: Path) -> None:
    meta = json.loads((trained / "obs" / "observations.json").read_text())
    assert meta["event_shape"] == [1, 16, 16] and meta["count"] == 27 and meta["test_count"] == 3
    assert meta["operator"]["name"] == "mask"
    lap = json.loads((trained / "run" / "laps" / "lap-0001" / "metrics.json").read_text())
    assert lap["frechet_pixels"] > 0 and 0 <= lap["black_share"] <= 1 and 0 <= lap["test_black_share"] <= 1


def test_sample_restore_and_eval(trained: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prior = trained / "run" / "laps" / "lap-0001" / "prior"
    grid = trained / "grid.png"
    assert main(["sample", "--prior", str(prior), "--count", "4", "--steps", "2", "--out", str(grid),
                 "--device", "cpu"]) == 0
    assert Image.open(grid).size[0] > 16
    out = trained / "restored"
    capsys.readouterr()
    assert main(["restore", "--prior", str(prior), "--image", str(image_folder / "img00.png"), "--corruption",
                 "mask:0.5", "--samples", "2", "--steps", "2", "--out", str(out), "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"psnr_mean", "psnr_observation", "seconds"} <= summary.keys()
    assert {p.name for p in out.iterdir()} >= {"observation.png", "mean.png", "std.png", "sample-0.png", "input.png"}
    assert main(["eval", "--prior", str(prior), "--observations", str(trained / "obs"), "--count", "3",
                 "--prior-samples", "4", "--steps", "2", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 < report["posterior"]["psnr_single"] < 100
    assert report["prior_quality"]["frechet_pixels"] > 0
    assert 0 <= report["prior_quality"]["black_share"] <= 1 and 0 <= report["prior_quality"]["test_black_share"] <= 1


def test_method_options_are_flags_generated_from_each_method(trained: Path, image_folder: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    prior = trained / "run" / "laps" / "lap-0001" / "prior"
    base = ["restore", "--prior", str(prior), "--image", str(image_folder / "img00.png"), "--corruption", "mask:0.5",
            "--samples", "2", "--steps", "2", "--out", str(tmp_path / "o"), "--device", "cpu"]
    capsys.readouterr()
    assert main([*base, "--method", "dps", "--dps-zeta", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "dps"
    assert main([*base, "--method", "pigdm", "--pigdm-data-variance", "0.5"]) == 0
    capsys.readouterr()
    for extra, message in ((["--method", "mmps", "--dps-zeta", "3"], "--dps-zeta is not an option of --method mmps"),
                           (["--mmps-iterations", "0"], "--mmps-iterations"),
                           (["--mmps-solver", "lu"], "invalid choice"), (["--bogus", "1"], "unrecognized")):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert main(["sample", "--prior", str(prior), "--out", str(tmp_path / "g.png"), "--mmps-iterations", "2"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    # a sampler's options likewise: --SAMPLER-OPTION, checked against the chosen --sampler
    assert main([*base, "--sampler", "pc", "--pc-corrections", "0", "--pc-delta", "0.2"]) == 0
    capsys.readouterr()
    assert main([*base, "--mmps-iterations", "2", "--pc-corrections", "0"]) == 2
    assert "--pc-corrections is not an option of --sampler ddpm" in capsys.readouterr().err
    assert main(["samplers"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [o["flag"] for o in listed["pc"]["options"]] == ["--pc-corrections", "--pc-delta"]


def test_methods_lists_every_registered_method_with_its_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from diffem.guidance import POSTERIORS

    assert main(["methods"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert set(described) == set(POSTERIORS)
    assert {o["flag"] for o in described["mmps"]["options"]} >= {"--mmps-solver", "--mmps-iterations"}
    assert described["dps"]["options"][0]["flag"] == "--dps-zeta"


def test_restore_refuses_an_unreadable_image(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    prior = trained / "run" / "laps" / "lap-0001" / "prior"
    assert main(["restore", "--prior", str(prior), "--image", str(bad), "--corruption", "mask:0.5",
                 "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    assert "cannot read this file as an image" in capsys.readouterr().err.lower()


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


PROBE = """
import sys
from diffem.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(name for name in ("torch", "diffusers", "gradio") if name in sys.modules)
print("HEAVY", ",".join(heavy) or "-", "CODE", code, file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], *([name, "--help"] for name in subcommands()),
                                  ["train", "--method", "em-mmps", "--observations", "x", "--out", "y", "--laps", "0"],
                                  ["sample", "--prior", "p", "--out", "/proc/diffem-no/grid.png"]])
def test_help_and_early_errors_do_not_import_torch(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                            timeout=120, cwd=ROOT)
    assert "HEAVY - CODE" in result.stderr, result.stderr


def test_help_lists_exactly_the_registered_names_and_shows_defaults() -> None:
    for name, parser in subcommands().items():
        for dest, choice in (parser.get_default("registry_choices") or {}).items():
            assert sorted(choice.listed) == sorted(choice.names()), f"{name} {choice.flag}: read from the source " \
                f"{choice.listed}, registered {list(choice.names())}"
            action = next(a for a in parser._actions if a.dest == dest)
            assert all(listed in (action.help or "") for listed in choice.listed)
    from diffem.backbones.unet import UNET_PRESETS
    from diffem.discovery import listed_names
    from diffem.em.methods import EM_METHODS

    method = next(a for a in subcommands()["train"]._actions if a.dest == "method")
    assert all(f"{name}: {cls.summary}" in (method.help or "") for name, cls in EM_METHODS.items())  # read, not typed

    assert listed_names("backbones/unet", "UNET_PRESETS") == tuple(UNET_PRESETS)
    preset = next(a for a in subcommands()["train"]._actions if a.dest == "preset")
    assert list(preset.choices) == list(UNET_PRESETS)
    assert "(default: 64)" in subcommands()["sample"].format_help()


def test_options_read_from_the_source_are_the_imported_classes_options() -> None:
    """``--help`` builds the flags of the EM methods, posterior methods and samplers from their ``Options``
    read without an import, and lists every one of them."""
    from diffem.discovery import registered_options
    from diffem.em.methods import EM_METHODS
    from diffem.guidance import POSTERIORS, SOLVERS
    from diffem.options import describe_options, flag_name
    from diffem.samplers import SAMPLERS

    for subpackage, decorator, registry in (("em/methods", "register_method", EM_METHODS),
                                            ("guidance", "register_posterior", POSTERIORS),
                                            ("samplers", "register_sampler", SAMPLERS)):
        read = registered_options(subpackage, decorator)
        assert sorted(read) == sorted(registry)
        for name, cls in registry.items():
            assert list(read[name]) == describe_options(cls.Options), f"{name}: the source and the class differ"
    assert next(o for o in read_options("mmps") if o["name"] == "solver")["choices"] == list(SOLVERS)
    assert "else 1.0" in read_options("dps")[0]["unset"]  # an f-string of the file's DEFAULT_ZETA
    helps = {command: subcommands()[command].format_help() for command in ("restore", "eval", "sample", "train")}
    for command, registry in (("restore", POSTERIORS), ("eval", POSTERIORS), ("restore", SAMPLERS),
                              ("sample", SAMPLERS), ("train", SAMPLERS)):
        for name, cls in registry.items():
            for field in dataclasses.fields(cls.Options):
                assert flag_name(name, field.name) in helps[command], f"{command} --help lacks {name}'s {field.name}"
    from diffem.app.catalog import METHODS as TITLES
    from diffem.discovery import registered_constants

    assert TITLES == {name: cls.title for name, cls in EM_METHODS.items()}  # every method named for a visitor
    assert registered_constants("em/methods", "register_method", "summary") == {n: c.summary for n, c in EM_METHODS.items()}
    train = subcommands()["train"].format_help()
    assert all(f"--{option['name'].replace('_', '-')}" in train
               for options in registered_options("em/methods", "register_method").values() for option in options)


def test_data_sources_read_from_the_source_are_the_registered_ones_with_their_options_as_flags() -> None:
    """``--data``'s help and the sources' flags come from the files; the app names the data by each one's title."""
    from diffem.app.catalog import DATASETS
    from diffem.data.sources import SOURCES, source_specs
    from diffem.discovery import registered_constants, registered_options
    from diffem.jobs import DATA_SOURCES
    from diffem.options import describe_options

    read = registered_options("data/sources", "register_source")
    assert sorted(read) == sorted(SOURCES)
    for name, cls in SOURCES.items():
        assert list(read[name]) == describe_options(cls.Options), f"{name}: the source and the class differ"
    assert registered_constants("data/sources", "register_source", "argument") == \
        {name: cls.argument or "" for name, cls in SOURCES.items()}
    assert DATASETS == {name: cls.title for name, cls in SOURCES.items()}
    assert set(DATA_SOURCES) == {name for name, cls in SOURCES.items() if cls.offered} and "folder" not in DATA_SOURCES
    for command in ("make-observations", "train"):
        text = " ".join(subcommands()[command].format_help().split())
        assert all(spec in text for spec in source_specs()), command
        assert all(f"--{option['name'].replace('_', '-')}" in text for options in read.values() for option in options)


def test_a_data_source_s_flags_belong_to_it(tmp_path: Path) -> None:
    """A folder's size and channels shape its images; a flag of another source, or without --data, is refused."""
    images = tmp_path / "images"
    images.mkdir()
    for index in range(10):
        Image.fromarray(np.random.default_rng(index).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(
            images / f"{index}.png")
    made = run_cli("make-observations", "--data", f"folder:{images}", "--size", "16", "--channels", "3",
                   "--corruption", "mask:0.5", "--out", str(tmp_path / "obs"))
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "obs" / "observations.json").read_text())["event_shape"] == [3, 16, 16]
    for args, message in ((["--data", "manifold", "--size", "16", "--corruption", "projection:2"],
                           "--size is an option of --data folder, not of manifold"),
                          (["--data", "folder", "--corruption", "mask:0.5"], "needs its PATH: folder:PATH"),
                          (["--data", "nowhere", "--corruption", "mask:0.5"], "unknown data source 'nowhere'")):
        refused = run_cli("make-observations", *args, "--out", str(tmp_path / "no"))
        assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr
    trained = run_cli("train", "--method", "em-mmps", "--observations", str(tmp_path / "obs"), "--channels", "3",
                      "--out", str(tmp_path / "run"))
    assert trained.returncode == 2 and "--channels goes with --data" in trained.stderr
    assert not (tmp_path / "no").exists() and not (tmp_path / "run").exists()


def read_options(method: str) -> tuple[dict[str, Any], ...]:
    from diffem.discovery import registered_options

    return registered_options("guidance", "register_posterior")[method]


def test_an_em_method_option_goes_with_its_method_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--observations", str(tmp_path / "obs"), "--out", str(tmp_path / "run")]
    for argv, message in (([*base, "--method", "em-mmps", "--train-corruption", "mask-family"],
                           "--train-corruption is an option of --method diffem, not of --method em-mmps"),
                          ([*base, "--method", "diffem", "--final-prior-steps", "-3"], "--final-prior-steps"),
                          ([*base, "--method", "diffem-prior"], "--conditional (--method diffem-prior) must be given")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_unwritable_out_exits_1_before_any_work(tmp_path: Path) -> None:
    # the prior does not exist: the output is checked first, so exit 1 (file system), not 2 (no prior)
    result = run_cli("sample", "--prior", "no/such/prior/folder", "--out", "/proc/diffem-no/grid.png")
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "diffem: error: --out /proc/diffem-no/grid.png: cannot write in /proc/diffem-no: No such file or directory"]
    result = run_cli("restore", "--prior", "no/such/prior/folder", "--image", "a.png", "--corruption", "mask:0.5",
                     "--out", "/proc/diffem-no/restored")
    assert result.returncode == 1 and "cannot write in /proc" in result.stderr
    (tmp_path / "file").write_text("x")
    assert main(["restore", "--prior", "p", "--image", "a.png", "--corruption", "mask:0.5",
                 "--out", str(tmp_path / "file" / "restored")]) == 2
    assert not (tmp_path / "made").exists()
    assert main(["sample", "--prior", "no/such/prior/folder", "--out", str(tmp_path / "made" / "deep" / "s.png")]) == 2
    assert not (tmp_path / "made").exists(), "the probe leaves no folders behind"


def test_sample_writes_the_format_it_reports(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prior = trained / "run" / "laps" / "lap-0001" / "prior"
    out = trained / "jpeg" / "grid.jpg"
    capsys.readouterr()
    assert main(["sample", "--prior", str(prior), "--count", "4", "--steps", "2", "--out", str(out), "--tensors",
                 "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["out"] == str(out) and report["files"] == [str(out), str(out.with_suffix(".safetensors"))]
    assert Image.open(out).format == "JPEG" and not out.with_suffix(".png").exists()


def test_eval_refuses_more_test_observations_than_the_set_holds(trained: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    prior = trained / "run" / "laps" / "lap-0001" / "prior"
    capsys.readouterr()
    assert main(["eval", "--prior", str(prior), "--observations", str(trained / "obs"), "--count", "256",
                 "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"diffem: error: --count 256: {trained / 'obs'} holds only 3 test observations")


def test_written_files_get_ordinary_permissions(trained: Path, tmp_path: Path) -> None:
    """Not the owner-only modes of tempfile and safetensors: 0o666 / 0o777 less the umask (0644 / 0755)."""
    umask = current_umask()
    folder = trained / "obs"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o666 & ~umask
    old = os.umask(0o077)
    try:
        assert current_umask() == 0o077
        atomic_write_bytes(tmp_path / "b.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o600
