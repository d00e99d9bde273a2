"""Posterior methods as registered classes: options, generated flags and controls, cost, clamping."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
import torch

from diffem import EDMDenoiser, GaussianDenoiser, PriorBundle, VESchedule, make_sampler
from diffem.backbones import make_unet
from diffem.guidance import POSTERIORS, PosteriorDenoiser
from diffem.operators import GaussianBlur, RandomMask
from diffem.posterior import (
    POSTERIOR_METHODS,
    PosteriorOptions,
    add_posterior_arguments,
    describe_posterior_methods,
    make_posterior,
    method_cost,
    posterior_options,
    posterior_options_from_args,
    steps_for_budget,
)

IMAGE = (1, 4, 4)
SCHEDULE = VESchedule(1e-3, 10.0)
OBSERVING = [name for name, cls in POSTERIORS.items() if cls.observes and cls.needs == "unconditional"]


@pytest.fixture
def gaussian_bundle(generator: torch.Generator) -> PriorBundle:
    mean = torch.zeros(IMAGE)
    return PriorBundle(GaussianDenoiser(mean, cov=torch.eye(16)), SCHEDULE, IMAGE)


@pytest.fixture
def conditional_bundle() -> PriorBundle:
    torch.manual_seed(0)
    model = EDMDenoiser(make_unet(1, 8, condition_channels=2, preset="tiny"), condition_channels=2).eval()
    return PriorBundle(model, SCHEDULE, (1, 8, 8), operators=["box"])


def observation(generator: torch.Generator, batch: int = 2) -> tuple[RandomMask, torch.Tensor]:
    operator = RandomMask(sigma_y=0.05, ratio=0.5).draw(batch, IMAGE, generator)
    return operator, operator.observe(1.5 * torch.randn(batch, *IMAGE, generator=generator), generator)


def test_every_method_is_registered_with_options() -> None:
    assert set(POSTERIOR_METHODS) == set(POSTERIORS)
    assert POSTERIOR_METHODS[:4] == ("mmps", "dps", "conditional", "prior")
    assert {"pigdm", "diffpir", "daps", "ddnm"} <= set(POSTERIORS)
    for name, cls in POSTERIORS.items():
        assert issubclass(cls, PosteriorDenoiser) and cls.name == name and cls.summary and cls.source
        assert dataclasses.is_dataclass(cls.Options)


def test_descriptions_are_plain_data_for_app_controls() -> None:
    described = describe_posterior_methods()
    json.dumps(described)  # plain, serialisable
    zeta = described["dps"]["options"][0]
    assert zeta["name"] == "zeta" and zeta["type"] == "float" and zeta["default"] is None and zeta["min"] > 0
    solver = next(o for o in described["mmps"]["options"] if o["name"] == "solver")
    assert solver["choices"] == ["cg", "gmres"] and solver["default"] == "gmres"
    assert described["mmps"]["step_cost"] == {"network": 1, "vjps": 1}
    assert set(describe_posterior_methods("conditional")) == {"conditional"}
    assert "conditional" not in describe_posterior_methods("unconditional")


def test_generated_flags_parse_into_options() -> None:
    parser = argparse.ArgumentParser()
    add_posterior_arguments(parser)
    args = parser.parse_args(["--method", "mmps", "--mmps-solver", "cg", "--mmps-iterations", "3",
                              "--daps-langevin-steps", "7"])
    assert posterior_options_from_args(args) == POSTERIORS["mmps"].Options(solver="cg", iterations=3)
    assert posterior_options_from_args(args, "daps").langevin_steps == 7
    assert posterior_options_from_args(args, "dps").zeta is None
    for bad in (["--mmps-iterations", "0"], ["--mmps-solver", "lu"], ["--dps-zeta", "-1"], ["--mmps-reuse-products", "maybe"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_options_from_values_legacy_and_tuned() -> None:
    assert posterior_options("mmps", {"iterations": 4}).iterations == 4
    assert posterior_options("mmps", PosteriorOptions("cg", 2)).solver == "cg"
    assert posterior_options("dps", PosteriorOptions(zeta=0.3)).zeta == 0.3
    tuned = {"dps": {"mask": {"options": {"zeta": 2.5}}}}
    assert posterior_options("dps", None, tuned, "mask").zeta == 2.5
    assert posterior_options("dps", {"zeta": 0.7}, tuned, "mask").zeta == 0.7  # the user's value wins
    assert posterior_options("dps", None, tuned, "blur").zeta is None
    with pytest.raises(ValueError, match="no option"):
        posterior_options("mmps", {"zeta": 1.0})
    with pytest.raises(ValueError, match="at least 1"):
        posterior_options("mmps", {"iterations": 0})
    with pytest.raises(ValueError, match="unknown posterior method"):
        posterior_options("euler")


@pytest.mark.parametrize("method", OBSERVING + ["prior"])
def test_counted_cost_matches_the_declared_cost(gaussian_bundle: PriorBundle, method: str,
                                                generator: torch.Generator) -> None:
    operator, y = observation(generator)
    options = {"iterations": 2} if method == "mmps" else ({"ode_steps": 3, "langevin_steps": 2} if method == "daps" else None)
    posterior = make_posterior(gaussian_bundle, method, operator, y, options)
    samples = make_sampler("ddpm", SCHEDULE, 5).sample(posterior, (2, *IMAGE), generator=generator)
    expected = method_cost(method, options, 5)
    assert (posterior.cost.network, posterior.cost.vjps) == (expected.network, expected.vjps)
    assert torch.isfinite(samples).all()


def test_budget_gives_the_most_steps_that_fit() -> None:
    assert steps_for_budget("conditional", None, 65) == 64
    assert steps_for_budget("mmps", {"iterations": 3}, 260) == 64  # 64 * 4 + 4 = 260
    assert steps_for_budget("dps", None, 129) == 64  # 64 * 2 + 1
    assert method_cost("dps", None, 64).total == 129


@pytest.mark.parametrize("method", OBSERVING)
def test_estimates_are_clamped_to_the_data_range(gaussian_bundle: PriorBundle, method: str,
                                                 generator: torch.Generator) -> None:
    operator, y = observation(generator)
    y = 10 * y  # far outside [-2, 2]
    x_t = 5 * torch.randn(2, *IMAGE, generator=generator)
    sampler = make_sampler("ddpm", SCHEDULE, 4)
    clamped = make_posterior(gaussian_bundle, method, operator, y)
    _, denoised = sampler.transition(clamped, x_t, torch.tensor(1.0), torch.tensor(0.5), generator)
    assert float(denoised.abs().max()) <= 2.0
    assert float(clamped(x_t, torch.tensor(0.5)).abs().max()) <= 2.0
    free = make_posterior(gaussian_bundle, method, operator, y, clamp=False)
    _, loose = sampler.transition(free, x_t, torch.tensor(1.0), torch.tensor(0.5), generator)
    assert float(loose.abs().max()) > 2.0


def test_model_kinds_and_served_operators_are_named(gaussian_bundle: PriorBundle, conditional_bundle: PriorBundle,
                                                    generator: torch.Generator) -> None:
    operator, y = observation(generator)
    with pytest.raises(ValueError, match="needs a conditional"):
        make_posterior(gaussian_bundle, "conditional", operator, y)
    with pytest.raises(ValueError, match="needs an unconditional prior"):
        make_posterior(conditional_bundle, "pigdm", operator, y)
    with pytest.raises(ValueError, match="needs an observation"):
        make_posterior(gaussian_bundle, "ddnm", None, None)
    blur = GaussianBlur(sigma_y=0.05)
    y8 = blur.observe(torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="serves box, not blur"):
        make_posterior(conditional_bundle, "conditional", blur, y8)
    assert make_posterior(gaussian_bundle, "prior", None, None).cost.total == 0
