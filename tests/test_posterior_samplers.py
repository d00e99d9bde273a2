"""DPS, MMPS and conditional sampling end to end on tiny networks; streaming; bad input."""

from __future__ import annotations

import pytest
import torch

from diffem import (
    ConditionalPosteriorDenoiser,
    DPSDenoiser,
    EDMDenoiser,
    GaussianDenoiser,
    MMPSDenoiser,
    VESchedule,
    denoising_loss,
    make_sampler,
)
from diffem.backbones import MLPBackbone, make_unet
from diffem.operators import RandomMask, RandomProjection
from diffem.samplers import MAX_STEPS, SAMPLERS

SCHEDULE = VESchedule(1e-3, 1e2)
IMAGE = (1, 8, 8)


@pytest.fixture
def unet_prior() -> EDMDenoiser:
    torch.manual_seed(0)
    return EDMDenoiser(make_unet(1, 8, preset="tiny")).eval()


@pytest.fixture
def conditional_unet() -> EDMDenoiser:
    torch.manual_seed(0)
    return EDMDenoiser(make_unet(1, 8, condition_channels=2, preset="tiny"), condition_channels=2).eval()


def observation(generator: torch.Generator, batch: int = 2) -> tuple[RandomMask, torch.Tensor]:
    operator = RandomMask(sigma_y=0.05, ratio=0.5).draw(batch, IMAGE, generator)
    return operator, operator.observe(torch.randn(batch, *IMAGE, generator=generator), generator)


@pytest.mark.parametrize("solver", ["cg", "gmres"])
def test_mmps_runs_on_a_unet(unet_prior: EDMDenoiser, solver: str, generator: torch.Generator) -> None:
    operator, y = observation(generator)
    posterior = MMPSDenoiser(unet_prior, operator, y, solver=solver, iterations=3)
    samples = make_sampler("ddpm", SCHEDULE, 8).sample(posterior, (2, *IMAGE), generator=generator)
    assert samples.shape == (2, *IMAGE) and torch.isfinite(samples).all()


@pytest.mark.parametrize("solver", ["cg", "gmres"])
def test_mmps_reused_solver_products_equal_one_more_vjp(unet_prior: EDMDenoiser, solver: str,
                                                       generator: torch.Generator) -> None:
    operator, y = observation(generator)
    x_t = torch.randn(2, *IMAGE, generator=generator)
    sigma = torch.tensor([0.7, 2.0])
    cheap = MMPSDenoiser(unet_prior, operator, y, solver=solver, iterations=2)(x_t, sigma)
    official = MMPSDenoiser(unet_prior, operator, y, solver=solver, iterations=2, reuse_products=False)(x_t, sigma)
    assert not torch.allclose(cheap, unet_prior(x_t, sigma))
    torch.testing.assert_close(cheap, official, rtol=1e-4, atol=1e-5)


def test_dps_runs_end_to_end(unet_prior: EDMDenoiser, generator: torch.Generator) -> None:
    operator, y = observation(generator)
    posterior = DPSDenoiser(unet_prior, operator, y, zeta=0.5)
    samples = make_sampler("ddpm", SCHEDULE, 8).sample(posterior, (2, *IMAGE), generator=generator)
    assert samples.shape == (2, *IMAGE) and torch.isfinite(samples).all()
    assert not torch.allclose(samples, make_sampler("ddpm", SCHEDULE, 8).sample(unet_prior, (2, *IMAGE), generator=torch.Generator().manual_seed(1234)))


def test_dps_pulls_a_gaussian_prior_towards_the_observation(generator: torch.Generator) -> None:
    prior = GaussianDenoiser(torch.zeros(IMAGE), cov=torch.eye(64))
    operator = RandomMask(sigma_y=0.01, ratio=0.5).draw(1, IMAGE, generator)
    x = torch.full((1, *IMAGE), 1.5)
    y = operator.observe(x, generator)
    sampler = make_sampler("ddpm", SCHEDULE, 64)
    guided = sampler.sample(DPSDenoiser(prior, operator, y, zeta=1.0), (64, *IMAGE), generator=generator)
    free = sampler.sample(prior, (64, *IMAGE), generator=generator)
    error = lambda s: float(((operator.forward(s) - y) ** 2).mean())  # noqa: E731
    assert error(guided) < 0.5 * error(free)


def test_conditional_sampling_trains_and_runs(conditional_unet: EDMDenoiser, generator: torch.Generator) -> None:
    """A few training steps of a conditional model, then conditional sampling through a sampler."""
    clean = torch.randn(16, *IMAGE, generator=generator)
    operator = RandomMask(sigma_y=0.05, ratio=0.5).draw(16, IMAGE, generator)
    cond = operator.condition(operator.observe(clean, generator))
    optimizer = torch.optim.Adam(conditional_unet.parameters(), lr=1e-3)
    losses = []
    conditional_unet.train()
    for _ in range(3):
        loss = denoising_loss(conditional_unet, clean, SCHEDULE, cond=cond, generator=generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    conditional_unet.eval()
    assert all(torch.isfinite(torch.tensor(losses)))
    test_operator, y = observation(generator)
    posterior = ConditionalPosteriorDenoiser(conditional_unet, test_operator, y)
    samples = make_sampler("ddim", SCHEDULE, 6).sample(posterior, (2, *IMAGE), generator=generator)
    assert samples.shape == (2, *IMAGE) and torch.isfinite(samples).all()


def test_conditional_mlp_on_projected_vectors(generator: torch.Generator) -> None:
    operator = RandomProjection(sigma_y=0.01, rows=2).draw(4, (5,), generator)
    width = operator.condition_channels((5,))
    denoiser = EDMDenoiser(MLPBackbone(5 + width, 5, hidden_features=32), condition_channels=width).eval()
    y = operator.observe(torch.randn(4, 5, generator=generator), generator)
    samples = make_sampler("ddpm", VESchedule(1e-3, 1e1), 5).sample(
        ConditionalPosteriorDenoiser(denoiser, operator, y), (4, 5), generator=generator)
    assert samples.shape == (4, 5) and torch.isfinite(samples).all()


def test_sampler_streams_every_step(unet_prior: EDMDenoiser) -> None:
    steps = list(make_sampler("ddpm", SCHEDULE, 7).iterate(unet_prior, (1, *IMAGE), generator=torch.Generator().manual_seed(0)))
    assert [s.index for s in steps] == list(range(1, 9))
    assert steps[-1].final and not steps[0].final
    assert all(s.denoised.shape == (1, *IMAGE) for s in steps)
    assert steps[0].sigma > steps[-2].sigma > steps[-1].sigma


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_seeded_runs_are_reproducible(unet_prior: EDMDenoiser, name: str) -> None:
    run = lambda: make_sampler(name, SCHEDULE, 5).sample(unet_prior, (2, *IMAGE), generator=torch.Generator().manual_seed(7))  # noqa: E731
    assert torch.equal(run(), run())


def test_bad_input_is_named(unet_prior: EDMDenoiser, conditional_unet: EDMDenoiser, generator: torch.Generator) -> None:
    operator, y = observation(generator)
    bad = y.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        MMPSDenoiser(unet_prior, operator, bad)
    with pytest.raises(ValueError, match="unknown MMPS solver"):
        MMPSDenoiser(unet_prior, operator, y, solver="lu")
    with pytest.raises(ValueError, match="at least one solver iteration"):
        MMPSDenoiser(unet_prior, operator, y, iterations=0)
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        make_sampler("euler", SCHEDULE, 10)
    for steps in (0, MAX_STEPS + 1, 2.5):
        with pytest.raises(ValueError, match="steps"):
            make_sampler("ddpm", SCHEDULE, steps)
    with pytest.raises(ValueError, match="conditional denoiser"):
        ConditionalPosteriorDenoiser(unet_prior, operator, y)
    wrong = MMPSDenoiser(unet_prior, operator, y[:, :, :4])
    with pytest.raises(ValueError, match="does not match"):
        wrong(torch.randn(2, *IMAGE), torch.ones(2))
    with pytest.raises(ValueError, match="condition"):
        conditional_unet(torch.randn(2, *IMAGE), torch.ones(2))


def test_dps_guides_the_state_and_leaves_the_final_sample_unguided(generator: torch.Generator) -> None:
    """Chung et al.'s form: the step lands on x_s, and the returned sample is d(x, sigma_min) without a jump."""
    prior = GaussianDenoiser(torch.zeros(IMAGE), cov=torch.eye(64))
    operator = RandomMask(sigma_y=0.01, ratio=0.5).draw(2, IMAGE, generator)
    y = operator.observe(torch.full((2, *IMAGE), 1.5), generator)
    posterior = DPSDenoiser(prior, operator, y, zeta=0.5)
    steps = list(make_sampler("ddpm", SCHEDULE, 8).iterate(posterior, (2, *IMAGE), generator=generator))
    penultimate, final = steps[-2], steps[-1]
    torch.testing.assert_close(final.denoised, prior(penultimate.x_t, torch.tensor(SCHEDULE.sigma_min)))
    x_t = torch.randn(2, *IMAGE, generator=generator)
    sigma_t, sigma_s = torch.tensor(2.0), torch.tensor(1.0)
    sampler = make_sampler("ddim", SCHEDULE, 8)
    guided, denoised = sampler.transition(posterior, x_t, sigma_t, sigma_s, generator)
    torch.testing.assert_close(denoised, prior(x_t, sigma_t))
    free = sampler.update(prior, x_t, denoised, sigma_t, sigma_s, generator)
    assert not torch.allclose(guided, free)
    assert posterior.cost.vjps == 9  # 8 guided steps + 1: the final denoising spends none


def test_dps_step_is_normalised_per_sample(generator: torch.Generator) -> None:
    """zeta_t = zeta / ||y - A d|| for each sample: a sample's step does not depend on the rest of the batch."""
    prior = GaussianDenoiser(torch.zeros(IMAGE), cov=torch.eye(64))
    operator = RandomMask(sigma_y=0.01, ratio=0.5).draw(1, IMAGE, generator)
    y = operator.observe(torch.randn(1, *IMAGE, generator=generator), generator)
    x_t = torch.randn(2, *IMAGE, generator=generator)
    x_t[1] *= 50  # a far worse fit
    posterior = DPSDenoiser(prior, operator, y, zeta=0.5)
    _, both = posterior.guidance(x_t, torch.full((2,), 1.0))
    _, alone = posterior.guidance(x_t[:1], torch.full((1,), 1.0))
    torch.testing.assert_close(both[:1], alone)
    # here d = x_t / (1 + sigma^2) and A^T r has the norm of r, so each step's length is exactly
    # zeta ||grad ||r||^2|| / ||r|| = 2 zeta / (1 + sigma^2) = 0.5, whatever the sample's misfit
    torch.testing.assert_close(both.flatten(1).norm(dim=1), torch.full((2,), 0.5))
