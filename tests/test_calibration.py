"""Calibration metrics against distributions with known answers.

Samples of the true per-pixel distribution must give coverage near the nominal level (randomised PIT,
with any number of samples), a spread-skill ratio near 1, CRPS near its closed form
``(1 + 1/S) sigma / sqrt(pi)``, and a true sample's normalised residual near 1; over-confident
samples must fail all of these. Tolerances are 4 standard errors of each estimate (``n = B * pixels``
independent pixels).
"""

from __future__ import annotations

import math

import pytest
import torch

from diffem.metrics import (GREY_LEVEL, black_share, calibration, crps, interval_coverage, normalised_residual, spread_skill_ratio,
                            within_interval)
from diffem.operators import GaussianBlur, RandomMask

S, B, PIXELS = 64, 32, (1, 8, 8)
N = B * 64


def draws(scale: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``S`` samples of ``N(0, scale^2)`` per pixel, and a truth drawn from ``N(0, 1)``."""
    truth = torch.randn(B, *PIXELS, generator=generator, dtype=torch.float64)
    return scale * torch.randn(S, B, *PIXELS, generator=generator, dtype=torch.float64), truth


def test_samples_of_the_truth_are_calibrated(generator: torch.Generator) -> None:
    samples, truth = draws(1.0, generator)
    for level in (0.5, 0.9):
        tolerance = 4 * math.sqrt(level * (1 - level) / N) + 0.01
        assert abs(float(interval_coverage(samples, truth, level).mean()) - level) < tolerance
        # the empirical interval of S samples covers less than nominal on average: (S - 1)/(S + 1) * level
        empirical = float(within_interval(samples, truth, level).double().mean())
        assert abs(empirical - level * (S - 1) / (S + 1)) < tolerance + 0.01
    expected_crps = (1 + 1 / S) / math.sqrt(math.pi)
    assert abs(float(crps(samples, truth).mean()) - expected_crps) < 4 * 0.43 / math.sqrt(N)
    assert abs(spread_skill_ratio(samples, truth) - 1) < 4 / math.sqrt(N) + 0.02


def test_coverage_is_nominal_with_few_samples(generator: torch.Generator) -> None:
    # the randomised PIT needs no (S - 1)/(S + 1) correction: 4 samples of the truth's law cover 50 % and 90 %
    truth = torch.randn(4096, generator=generator, dtype=torch.float64)
    samples = torch.randn(4, 4096, generator=generator, dtype=torch.float64)
    for level in (0.5, 0.9):
        assert abs(float(interval_coverage(samples[:, :, None], truth[:, None], level, 0.0).mean()) - level) < 0.03


def test_over_confident_samples_are_not(generator: torch.Generator) -> None:
    samples, truth = draws(0.4, generator)
    report = calibration(samples, truth)
    assert report["coverage_50"] < 0.3 and report["coverage_90"] < 0.6
    assert report["spread_skill"] < 0.5
    calibrated = calibration(*draws(1.0, generator))
    assert report["crps"] > calibrated["crps"]


def test_coverage_splits_ties_at_the_grey_level_of_8_bit_truth(generator: torch.Generator) -> None:
    # a posterior sure of each pixel to a fifth of a grey level, its draws all off the 8-bit truth
    truth = torch.randint(0, 256, (B, *PIXELS), generator=generator).double() / 255
    sure = truth + GREY_LEVEL * (0.2 + 0.05 * torch.rand(S, B, *PIXELS, generator=generator, dtype=torch.float64))
    assert float(within_interval(sure, truth, 0.9).double().mean()) == 0  # no empirical interval holds its truth
    for level in (0.5, 0.9):  # sure and right: as a calibrated posterior
        assert calibration(sure, truth)[f"coverage_{round(level * 100)}"] == pytest.approx(level)
    # sure and wrong by more than a grey level: nothing
    wrong = truth + GREY_LEVEL * (1.5 + torch.rand(S, B, *PIXELS, generator=generator, dtype=torch.float64))
    assert calibration(wrong, truth)["coverage_90"] == 0
    assert calibration(sure, truth)["coverage_pixels"] == 0 and calibration(wrong, truth)["coverage_pixels"] == 1
    # the resolution does not move a continuous posterior's coverage at the scale of a pixel's spread
    samples, continuous = draws(1.0, generator)
    shift = calibration(samples, continuous)["coverage_90"] - float(interval_coverage(samples, continuous, 0.9, 0.0).mean())
    assert abs(shift) < 0.01


def eight_bit_draws(shape: tuple[int, ...], black: float, generator: torch.Generator) -> torch.Tensor:
    """8-bit pixels that are black (exactly 0) with probability ``black``, else a uniform grey level."""
    levels = torch.randint(1, 256, shape, generator=generator).double() / 255
    return torch.where(torch.rand(shape, generator=generator, dtype=torch.float64) < black, 0.0, levels)


def test_a_calibrated_posterior_with_atoms_covers_the_nominal_level(generator: torch.Generator) -> None:
    # truth and samples from one law with an atom at black (the background): the pixels where all of them
    # are black are left out, and what is left is still calibrated
    pixels = (4096,)
    truth, samples = eight_bit_draws(pixels, 0.7, generator), eight_bit_draws((4, *pixels), 0.7, generator)
    report = calibration(samples[:, None], truth[None])
    assert abs(report["coverage_pixels"] - (1 - 0.7**5)) < 0.03  # all five black: 0.7^5 of the pixels
    for level in (0.5, 0.9):
        assert abs(report[f"coverage_{round(level * 100)}"] - level) < 0.03
    # a posterior too sure of black is not: it misses the pixels that are not
    sure = eight_bit_draws((4, *pixels), 0.97, generator)
    assert calibration(sure[:, None], truth[None])["coverage_50"] < 0.35


def test_crps_matches_the_pairwise_definition(generator: torch.Generator) -> None:
    samples = torch.randn(5, 2, 1, 2, 2, generator=generator, dtype=torch.float64)
    truth = torch.randn(2, 1, 2, 2, generator=generator, dtype=torch.float64)
    pairwise = (samples[:, None] - samples[None]).abs().mean(dim=(0, 1))
    direct = ((samples - truth).abs().mean(dim=0) - 0.5 * pairwise).flatten(1).mean(dim=1)
    torch.testing.assert_close(crps(samples, truth), direct)


def test_normalised_residual_of_the_truth_is_near_one(generator: torch.Generator) -> None:
    x = torch.randn(B, 1, 16, 16, generator=generator, dtype=torch.float64)
    for operator in (RandomMask(sigma_y=0.05, ratio=0.5).draw(B, (1, 16, 16), generator), GaussianBlur(sigma_y=0.05)):
        y = operator.observe(x, generator)
        value = normalised_residual(x, y, operator)
        assert value.shape == (B,)
        assert abs(float(value.mean()) - 1) < 0.05
        assert float(normalised_residual(x + 0.2, y, operator).mean()) > 2


def test_eval_reports_calibration_cost_and_clamps(generator: torch.Generator) -> None:
    from diffem import GaussianDenoiser, PriorBundle, VESchedule
    from diffem.data.observations import make_observation_set
    from diffem.evaluation import evaluate_posterior

    shape = (1, 12, 12)  # SSIM's window needs 11 pixels
    bundle = PriorBundle(GaussianDenoiser(torch.zeros(shape), cov=4 * torch.eye(144)), VESchedule(1e-3, 10.0), shape)
    clean = (torch.rand(6, *shape, generator=generator) * 4 - 2)
    test = make_observation_set(clean, RandomMask(sigma_y=0.05, ratio=0.5), seed=0, keep_clean=True)
    report = evaluate_posterior(bundle, test, "mmps", count=6, samples=3, steps=8, options={"iterations": 2})
    for key in ("coverage_50", "coverage_90", "crps", "spread_skill", "normalised_residual"):
        assert math.isfinite(report[key])
    assert report["clamped"] and (report["network_calls_per_sample"], report["vjps_per_sample"]) == (9, 18)
    assert 0 < report["normalised_residual"] < 5
    single = evaluate_posterior(bundle, test, "dps", count=6, samples=1, steps=8)
    assert "coverage_50" not in single and single["vjps_per_sample"] == 8


def test_the_black_share_counts_pixels_within_two_grey_levels_of_black(generator: torch.Generator) -> None:
    background = torch.zeros(4, 1, 8, 8)
    background[:, :, :4] = 0.5  # the object: half of the pixels
    assert black_share(background) == 0.5
    faint = background + (2.4 * GREY_LEVEL) * torch.rand(background.shape, generator=generator)
    assert black_share(faint) == 0.5  # noise under two and a half grey levels is no speckle
    speckled = background.clone()
    speckled[:, :, 4:, ::2] = 3 * GREY_LEVEL  # a grey dot on every other background pixel
    assert black_share(speckled) == 0.25
    uniform = torch.rand(100_000, generator=generator)
    assert abs(black_share(uniform) - 2.5 / 255) < 4 * math.sqrt(0.01 / 100_000)
