"""Samplers' own options (``pc``'s corrector steps and step size), declared once as an ``Options`` dataclass:
they reach the sampler, become CLI flags and app controls, and an EM run keeps them in ``run.json``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from diffem.app.controls import SAMPLER_OPTIONS, chosen_sampler_options, sampler_option_values
from diffem.cli import UsageError, build_parser, extension_options
from diffem.em.config import EMConfig
from diffem.options import option
from diffem.samplers import SAMPLERS, Sampler, describe_samplers, make_sampler, register_sampler, sampler_options
from diffem.schedule import VESchedule

SCHEDULE = VESchedule(1e-3, 10.0)


class CountingDenoiser:
    """``d(x) = x / (1 + sigma^2)`` (a standard normal prior), counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        self.calls += 1
        return x / (1 + sigma.view(-1, *[1] * (x.dim() - 1)) ** 2)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_declares_frozen_options_described_as_plain_data(name: str) -> None:
    cls = SAMPLERS[name]
    assert dataclasses.is_dataclass(cls.Options) and cls.Options.__dataclass_params__.frozen
    described = describe_samplers()[name]
    json.dumps(described)  # plain data, for the app's controls and `diffem samplers`
    assert [o["name"] for o in described["options"]] == [f.name for f in dataclasses.fields(cls.Options)]
    assert make_sampler(name, SCHEDULE, 3).options == cls.Options()


@pytest.mark.parametrize("corrections", [0, 2])
def test_pc_corrections_reach_the_sampler(corrections: int) -> None:
    denoiser = CountingDenoiser()
    sampler = make_sampler("pc", SCHEDULE, 4, {"corrections": corrections})
    sampler.sample(denoiser, (2, 3), generator=torch.Generator().manual_seed(0))
    assert denoiser.calls == 4 * (1 + corrections) + 1  # each corrector step is one more call; then the final one


@pytest.mark.parametrize("values, message", [
    ({"corrections": 9}, "at most 8"),
    ({"delta": 0.0}, "at least 0.001"),
    ({"corections": 1}, "has no option(s) corections"),
])
def test_bad_sampler_options_are_named(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sampler_options("pc", values)


def parsed(argv: list[str]) -> Any:
    args, extra = build_parser().parse_known_args(argv)
    extension_options(args, extra)
    return args


def test_sampler_flags_parse_for_every_sampling_command(tmp_path: Path) -> None:
    tail = ["--sampler", "pc", "--pc-corrections", "2", "--pc-delta", "0.05"]
    commands = {
        "sample": ["sample", "--prior", "p", "--out", str(tmp_path / "s.png")],
        "restore": ["restore", "--prior", "p", "--image", "a.png", "--corruption", "mask:0.5", "--out", "o"],
        "eval": ["eval", "--prior", "p", "--observations", "obs"],
        "train": ["train", "--method", "em-mmps", "--observations", "obs", "--out", str(tmp_path / "run")],
    }
    for argv in commands.values():
        assert parsed([*argv, *tail]).sampler_options == SAMPLERS["pc"].Options(corrections=2, delta=0.05)
    with pytest.raises(UsageError, match="--pc-corrections is not an option of --sampler ddpm"):
        parsed([*commands["sample"], "--pc-corrections", "2"])
    with pytest.raises(UsageError, match="must lie in"):
        parsed([*commands["train"], "--sampler", "pc", "--pc-delta", "0.9"])


def test_a_run_keeps_its_sampler_options_and_an_older_run_json_resumes_with_the_defaults() -> None:
    args = parsed(["train", "--method", "em-mmps", "--observations", "obs", "--out", "run", "--sampler", "pc",
                   "--pc-corrections", "0"])
    config = EMConfig(method="em-mmps", observations="obs", out="run", sampler=args.sampler,
                      sampler_options=dataclasses.asdict(args.sampler_options))
    assert config.to_dict()["sampler_options"] == {"corrections": 0, "delta": 0.1}
    older = {k: v for k, v in config.to_dict().items() if k != "sampler_options"}  # written before samplers had options
    assert EMConfig.from_dict(older).sampler_options == {"corrections": 1, "delta": 0.1}
    assert "sampler_options" in config.fixed_keys()  # a resumed run may not change them
    with pytest.raises(ValueError, match="has no option"):
        EMConfig(method="em-mmps", observations="obs", out="run", sampler="ddpm", sampler_options={"delta": 0.1})


def test_app_controls_cover_every_sampler_option_and_read_back() -> None:
    expected = [(name, o["name"]) for name, d in describe_samplers().items() for o in d["options"]]
    assert [(name, o["name"]) for name, o in SAMPLER_OPTIONS] == expected and ("pc", "corrections") in expected
    values = sampler_option_values("pc", corrections=3)
    assert chosen_sampler_options("pc", values) == {"corrections": 3, "delta": 0.1}
    assert chosen_sampler_options("ddpm", values) == {}
    with pytest.raises(ValueError, match="has no option"):
        sampler_option_values("pc", corection=3)


@pytest.fixture
def jitter_sampler() -> Iterator[type[Sampler]]:
    """A sampler registered the way a new file under ``diffem/samplers/`` registers one (removed afterwards)."""
    @register_sampler
    class JitterSampler(Sampler):
        name = "test-jitter"
        summary = "DDIM plus a little noise (a test's own sampler)"

        @dataclass(frozen=True)
        class Options:
            scale: float = option(0.5, "noise, as a fraction of the step's sigma", low=0.0, high=1.0)

        def update(self, denoiser: Any, x_t: Tensor, denoised: Tensor, sigma_t: Tensor, sigma_s: Tensor,
                   generator: torch.Generator | None) -> Tensor:
            drift = denoised + sigma_s / sigma_t * (x_t - denoised)
            return drift + self.options.scale * sigma_s * torch.randn(x_t.shape, generator=generator)

    yield JitterSampler
    del SAMPLERS["test-jitter"]


def test_a_new_sampler_gets_its_flags_and_descriptions_without_another_edit(jitter_sampler: type[Sampler],
                                                                            tmp_path: Path) -> None:
    args = parsed(["sample", "--prior", "p", "--out", str(tmp_path / "s.png"), "--sampler", "test-jitter",
                   "--test-jitter-scale", "0.25"])
    assert args.sampler_options == jitter_sampler.Options(scale=0.25)
    assert describe_samplers()["test-jitter"]["options"][0]["max"] == 1.0  # what the app's control is built from
    sample = make_sampler("test-jitter", SCHEDULE, 3, {"scale": 0.0}).sample(CountingDenoiser(), (1, 2))
    assert torch.isfinite(sample).all()
