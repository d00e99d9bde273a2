"""Operators: adjoint identity, observation noise, configs and parameters round-trip."""

from __future__ import annotations

import json

import pytest
import torch

from diffem.operators import (
    OPERATORS,
    Downsample,
    GaussianBlur,
    KernelBlur,
    LinearOperator,
    RandomMask,
    RandomProjection,
    UserMask,
    operator_from_config,
    parse_corruption,
)

BATCH = 5
IMAGE = (3, 12, 12)


def drawn(name: str, generator: torch.Generator) -> tuple[LinearOperator, tuple[int, ...]]:
    """Every registered operator, with per-sample parameters for a batch, and its input shape."""
    if name == "user-mask":
        mask = (torch.rand(1, 1, *IMAGE[1:], generator=generator) > 0.3).float()
        return UserMask(sigma_y=0.02, mask=mask), IMAGE
    if name == "kernel-blur":
        kernel = torch.rand(BATCH, 1, 5, 5, generator=generator, dtype=torch.float64)
        return KernelBlur(sigma_y=0.02, kernel=kernel / kernel.sum(dim=(1, 2, 3), keepdim=True)), IMAGE
    operator = OPERATORS[name](sigma_y=0.02)
    shape = (8,) if operator.domain == "vector" else IMAGE
    return operator.draw(BATCH, shape, generator), shape


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_adjoint_identity(name: str, generator: torch.Generator) -> None:
    operator, shape = drawn(name, generator)
    x = torch.randn(BATCH, *shape, generator=generator, dtype=torch.float64)
    y = torch.randn(operator.forward(x).shape, generator=generator, dtype=torch.float64)
    lhs = (operator.forward(x) * y).flatten(1).sum(1)
    rhs = (x * operator.adjoint(y)).flatten(1).sum(1)
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_autograd_adjoint_agrees_with_explicit(name: str, generator: torch.Generator) -> None:
    operator, shape = drawn(name, generator)
    y = operator.forward(torch.randn(BATCH, *shape, generator=generator, dtype=torch.float64))
    torch.testing.assert_close(LinearOperator.adjoint(operator, y), operator.adjoint(y))


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_config_and_tensors_round_trip(name: str, generator: torch.Generator) -> None:
    operator, shape = drawn(name, generator)
    rebuilt = operator_from_config(json.loads(json.dumps(operator.config()))).with_tensors(operator.tensors())
    assert rebuilt.config() == operator.config()
    x = torch.randn(BATCH, *shape, generator=generator)
    torch.testing.assert_close(rebuilt.forward(x), operator.forward(x))


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_condition_has_the_declared_width(name: str, generator: torch.Generator) -> None:
    operator, shape = drawn(name, generator)
    y = operator.observe(torch.randn(BATCH, *shape, generator=generator), generator)
    cond = operator.condition(y)
    assert cond.shape[0] == BATCH and cond.shape[1] == operator.condition_channels(shape)
    assert cond.shape[2:] == torch.Size(shape[1:])


def test_observation_noise_has_sigma_y_on_observed_pixels(generator: torch.Generator) -> None:
    operator = RandomMask(sigma_y=0.3, ratio=0.5).draw(64, IMAGE, generator)
    x = torch.zeros(64, *IMAGE)
    y = operator.observe(x, generator)
    observed = operator.mask.expand_as(y).bool()
    assert torch.all(y[~observed] == 0)
    assert abs(float(y[observed].std()) - 0.3) < 0.01
    assert abs(float(1 - operator.mask.mean()) - 0.5) < 0.02


def test_per_sample_masks_differ_and_are_seeded() -> None:
    first = RandomMask(ratio=0.75).draw(4, IMAGE, torch.Generator().manual_seed(0))
    again = RandomMask(ratio=0.75).draw(4, IMAGE, torch.Generator().manual_seed(0))
    assert torch.equal(first.mask, again.mask)
    assert not torch.equal(first.mask[0], first.mask[1])


def test_projection_rows_have_unit_norm(generator: torch.Generator) -> None:
    operator = RandomProjection(rows=2).draw(10, (5,), generator)
    torch.testing.assert_close(operator.matrix.norm(dim=-1), torch.ones(10, 2))


def test_projection_condition_is_the_constraint_set_in_x_coordinates(generator: torch.Generator) -> None:
    operator = RandomProjection(rows=2).draw(10, (5,), generator)
    x = torch.randn(10, 5, generator=generator)
    y = operator.forward(x)
    cond = operator.condition(y)
    assert cond.shape == (10, operator.condition_channels((5,))) == (10, 30)
    solution, projector = cond[:, :5], cond[:, 5:].reshape(10, 5, 5)
    torch.testing.assert_close(operator.forward(solution), y, atol=1e-5, rtol=0)  # A (A^+ y) = y
    torch.testing.assert_close(projector @ projector, projector, atol=1e-5, rtol=0)
    torch.testing.assert_close(projector, projector.transpose(1, 2), atol=1e-5, rtol=0)
    # the least-norm solution is the row-space part of x
    torch.testing.assert_close(solution, torch.einsum("bij,bj->bi", projector, x), atol=1e-5, rtol=0)


def test_select_takes_a_sub_batch(generator: torch.Generator) -> None:
    operator = RandomMask(ratio=0.5).draw(6, IMAGE, generator)
    part = operator.select(slice(2, 4))
    assert torch.equal(part.mask, operator.mask[2:4])


def test_parse_corruption_specs() -> None:
    assert parse_corruption("mask:0.75", sigma_y=0.01).config() == {"name": "mask", "sigma_y": 0.01, "ratio": 0.75}
    assert isinstance(parse_corruption("blur:1.5"), GaussianBlur)
    assert parse_corruption("downsample:4").factor == 4
    assert parse_corruption("denoise", sigma_y=0.2).sigma_y == 0.2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("warp:3", "unknown corruption"),
        ("mask:abc", "not a number"),
        ("mask:1.5", "ratio"),
        ("denoise:3", "takes no value"),
        ("downsample:2.5", "integer"),
        ("blur:-1", "kernel_sigma"),
    ],
)
def test_bad_specs_are_named(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_corruption(spec)


@pytest.mark.parametrize("sigma_y", [0.0, -0.1, float("nan"), float("inf")])
def test_sigma_y_must_be_positive(sigma_y: float) -> None:
    with pytest.raises(ValueError, match="sigma_y"):
        RandomMask(sigma_y=sigma_y)


def test_unknown_operator_config_is_named() -> None:
    with pytest.raises(ValueError, match="unknown operator 'swirl'"):
        operator_from_config({"name": "swirl", "sigma_y": 0.1})


def test_mismatched_shapes_are_named(generator: torch.Generator) -> None:
    operator = RandomMask(ratio=0.5).draw(4, IMAGE, generator)
    with pytest.raises(ValueError, match="batch"):
        operator.forward(torch.zeros(3, *IMAGE))
    with pytest.raises(ValueError, match="does not fit"):
        operator.forward(torch.zeros(4, 3, 10, 10))
    with pytest.raises(ValueError, match="not divisible"):
        Downsample(factor=5).forward(torch.zeros(1, *IMAGE))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        GaussianBlur().forward(torch.zeros(4, 12))
