"""The shipped checkpoints: present, small, carded, listed with their operators, and useful.

Each loads from safetensors on the CPU, and one posterior sample of a corrupted held-out
Fashion-MNIST test image (``examples/``) is closer to the clean image than the observation is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffem import PriorBundle, parse_corruption
from diffem.bundle import list_bundles
from diffem.data.image_folder import read_image_file
from diffem.metrics import psnr
from diffem.registry import PriorRegistry
from diffem.restore import observe, restore

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
EXPECTED = {"em-mmps-fashion-mask75": ("unconditional", "mmps", "mask:0.75"),
            "diffem-fashion-mask75": ("conditional", "conditional", "mask:0.75"),
            "diffem-fashion-mask75-prior": ("unconditional", "mmps", "mask:0.75"),
            "diffem-fashion-blur2": ("conditional", "conditional", "blur:2"),
            "reference-fashion-clean": ("unconditional", "mmps", "mask:0.75")}
TEST_IMAGES = sorted((ROOT / "examples").glob("fashion-test-*.png"))[:3]


def test_every_expected_checkpoint_is_shipped_with_a_model_card_within_80_mb() -> None:
    assert {name for name, _ in list_bundles(CHECKPOINTS)} == set(EXPECTED)
    for name in [*EXPECTED, "fashion-features"]:
        card = (CHECKPOINTS / name / "README.md").read_text()
        assert card.startswith("---\nlibrary_name: diffem\n") and "## " in card
    total = sum(path.stat().st_size for path in CHECKPOINTS.rglob("*") if path.is_file())
    assert total <= 80 * 2**20
    assert not list(CHECKPOINTS.rglob("*.bin")) and not list(CHECKPOINTS.rglob("*.pt"))


def test_registry_lists_what_each_checkpoint_restores() -> None:
    registry = PriorRegistry(CHECKPOINTS)
    assert set(registry.names()) == set(EXPECTED)
    assert {"mask", "box", "user-mask"} <= set(registry.entry("diffem-fashion-mask75").operators)
    assert registry.entry("diffem-fashion-blur2").operators == ["blur"]
    assert registry.entry("diffem-fashion-mask75").methods == ("conditional",)
    assert {"mmps", "dps"} <= set(registry.entry("em-mmps-fashion-mask75").methods)
    assert "UPPER BOUND" in registry.entry("reference-fashion-clean").describe()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_posterior_sample_improves_on_the_observation(name: str) -> None:
    kind, method, corruption = EXPECTED[name]
    bundle = PriorBundle.from_pretrained(CHECKPOINTS / name, device="cpu")
    assert bundle.kind == kind
    gains = []
    for seed, path in enumerate(TEST_IMAGES):
        clean = bundle.scaling.to_model(torch.from_numpy(read_image_file(path, 28, 1)))
        y, operator = observe(clean, parse_corruption(corruption, 0.01), seed)
        sample = restore(bundle, y, operator, method, samples=1, steps=32, seed=seed).samples
        to_pixels = bundle.scaling.to_pixels
        gains.append(float(psnr(to_pixels(sample), to_pixels(clean[None])) - psnr(to_pixels(y), to_pixels(clean[None]))))
    assert min(gains) > 0, gains
    assert sum(gains) / len(gains) > 2.0, gains
