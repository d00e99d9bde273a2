"""The paired difference of per-image scores: its mean and standard error against known answers."""

from __future__ import annotations

import math

import pytest
import torch

from diffem.metrics import paired_difference


def test_a_hand_worked_example() -> None:
    result = paired_difference([21.0, 22.0, 23.0, 24.0], [20.0, 20.0, 20.0, 20.0])
    # differences 1, 2, 3, 4: mean 2.5, sample standard deviation sqrt(5/3), standard error that over sqrt(4)
    assert result.mean == pytest.approx(2.5)
    assert result.stderr == pytest.approx(math.sqrt(5 / 3) / 2)
    assert result.count == 4
    assert str(result) == "+2.50 ± 0.65"


def test_pairing_cancels_the_spread_between_images(generator: torch.Generator) -> None:
    images = 10 * torch.randn(16, generator=generator, dtype=torch.float64)  # images differ by ~10 dB, the methods by a steady 0.3 dB
    result = paired_difference(images + 0.3, images)
    assert result.mean == pytest.approx(0.3, abs=1e-9)
    assert result.stderr == pytest.approx(0.0, abs=1e-9)


def test_the_standard_error_is_the_spread_of_the_mean(generator: torch.Generator) -> None:
    """Over many repeats of 8 pairs with differences ~ N(-0.5, 1): the means scatter by 1 / sqrt(8), and the
    standard error estimates that (its mean is c4 / sqrt(8), c4 = 0.9650 for 8 items)."""
    repeats, count = 4000, 8
    results = [paired_difference(torch.randn(count, generator=generator) - 0.5, torch.zeros(count))
               for _ in range(repeats)]
    means = torch.tensor([r.mean for r in results], dtype=torch.float64)
    errors = torch.tensor([r.stderr for r in results], dtype=torch.float64)
    assert float(means.mean()) == pytest.approx(-0.5, abs=4 / math.sqrt(count * repeats))
    assert float(means.std()) == pytest.approx(1 / math.sqrt(count), rel=0.05)
    assert float(errors.mean()) == pytest.approx(0.9650 / math.sqrt(count), rel=0.03)


@pytest.mark.parametrize("a, b", [([1.0, 2.0], [1.0]), ([1.0], [2.0]), ([[1.0, 2.0]], [[1.0, 2.0]])])
def test_unpaired_or_too_few_scores_are_refused(a: list, b: list) -> None:
    with pytest.raises(ValueError, match="paired difference"):
        paired_difference(a, b)
