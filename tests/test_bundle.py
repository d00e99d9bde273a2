"""Prior bundles: save/load round trips, bit-identical reloads in a fresh process, bad folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from diffem import BundleError, DataScaling, EDMDenoiser, GaussianDenoiser, PriorBundle, VESchedule, make_sampler
from diffem.backbones import MLPBackbone, make_unet

SCHEDULE = VESchedule(1e-3, 1e2)


def unet_bundle(conditional: bool = False) -> PriorBundle:
    torch.manual_seed(0)
    channels = 2 if conditional else 0
    denoiser = EDMDenoiser(make_unet(1, 8, condition_channels=channels, preset="tiny"), condition_channels=channels)
    return PriorBundle(denoiser.eval(), SCHEDULE, (1, 8, 8), DataScaling(-2, 2),
                       info={"dataset": "test", "corruption": {"name": "mask", "ratio": 0.5}},
                       operators=["mask", "box"] if conditional else [])


SAMPLE_SCRIPT = """
import sys, torch
from diffem import PriorBundle, make_sampler
bundle = PriorBundle.from_pretrained(sys.argv[1], device="cpu")
sample = make_sampler("ddpm", bundle.schedule, 4).sample(bundle.denoiser, (2, *bundle.event_shape),
                                                          generator=torch.Generator().manual_seed(3))
torch.save(sample, sys.argv[2])
"""


def test_unet_bundle_reloads_bit_identically_in_a_fresh_process(tmp_path: Path) -> None:
    bundle = unet_bundle()
    bundle.save_pretrained(tmp_path / "prior")
    assert (tmp_path / "prior" / "backbone" / "diffusion_pytorch_model.safetensors").is_file()
    subprocess.run([sys.executable, "-c", SAMPLE_SCRIPT, str(tmp_path / "prior"), str(tmp_path / "out.pt")],
                   check=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                                    # a sum split over another number of threads rounds differently
                                    "OMP_NUM_THREADS": str(torch.get_num_threads())})
    here = make_sampler("ddpm", SCHEDULE, 4).sample(bundle.denoiser, (2, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.load(tmp_path / "out.pt"), here)


def test_bundle_config_round_trips(tmp_path: Path) -> None:
    bundle = unet_bundle(conditional=True)
    bundle.save_pretrained(tmp_path / "cond")
    loaded = PriorBundle.from_pretrained(tmp_path / "cond", device="cpu")
    assert loaded.kind == "conditional" and loaded.denoiser.condition_channels == 2
    assert loaded.config() == bundle.config()
    assert loaded.schedule == SCHEDULE and loaded.event_shape == (1, 8, 8)


def test_mlp_and_gaussian_bundles_round_trip(tmp_path: Path) -> None:
    mlp = PriorBundle(EDMDenoiser(MLPBackbone(5, 5, hidden_features=16)).eval(), VESchedule(1e-3, 10.0), (5,))
    mlp.save_pretrained(tmp_path / "mlp")
    x = torch.randn(3, 5)
    with torch.no_grad():
        torch.testing.assert_close(PriorBundle.from_pretrained(tmp_path / "mlp", device="cpu").denoiser(x, torch.ones(3)),
                                   mlp.denoiser(x, torch.ones(3)), rtol=0, atol=0)
    for gaussian in (GaussianDenoiser(torch.zeros(4), cov=torch.eye(4) * 2),
                     GaussianDenoiser(torch.ones(4), diag=torch.ones(4), factor=torch.randn(4, 2))):
        PriorBundle(gaussian, SCHEDULE, (4,)).save_pretrained(tmp_path / "gauss")
        loaded = PriorBundle.from_pretrained(tmp_path / "gauss", device="cpu")
        assert loaded.kind == "gaussian"
        torch.testing.assert_close(loaded.denoiser.covariance(), gaussian.covariance())


def test_saving_replaces_a_bundle_atomically(tmp_path: Path) -> None:
    unet_bundle().save_pretrained(tmp_path / "prior")
    unet_bundle(conditional=True).save_pretrained(tmp_path / "prior")
    assert PriorBundle.from_pretrained(tmp_path / "prior", device="cpu").kind == "conditional"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prior"]


def test_a_folder_without_safetensors_is_refused(tmp_path: Path) -> None:
    unet_bundle().save_pretrained(tmp_path / "prior")
    weights = tmp_path / "prior" / "backbone" / "diffusion_pytorch_model.safetensors"
    torch.save({"weights": torch.zeros(1)}, weights.with_suffix(".bin"))  # a planted pickle is ignored
    weights.unlink()
    with pytest.raises(BundleError, match="no safetensors"):
        PriorBundle.from_pretrained(tmp_path / "prior", device="cpu")


def test_mismatched_weights_are_named(tmp_path: Path) -> None:
    unet_bundle().save_pretrained(tmp_path / "prior")
    save_file({"conv_in.weight": torch.zeros(3, 3)}, str(tmp_path / "prior" / "backbone" / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(BundleError, match="do not match"):
        PriorBundle.from_pretrained(tmp_path / "prior", device="cpu")


def test_missing_or_bad_config_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="diffem.json is missing"):
        PriorBundle.from_pretrained(tmp_path / "empty")
    (tmp_path / "empty" / "diffem.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        PriorBundle.from_pretrained(tmp_path / "empty")
    (tmp_path / "empty" / "diffem.json").write_text(json.dumps({"kind": "unconditional"}))
    with pytest.raises(BundleError, match="lacks the field"):
        PriorBundle.from_pretrained(tmp_path / "empty")


def test_hub_ids_fail_clearly_when_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(BundleError, match="could not fetch prior 'someone/no-such-prior'"):
        PriorBundle.from_pretrained("someone/no-such-prior")
    with pytest.raises(BundleError, match="no prior bundle folder"):
        PriorBundle.from_pretrained(str(tmp_path / "missing"))


def test_hub_ids_load_from_the_local_cache(hub_cache: Path) -> None:
    """A Hub repo already in the cache loads offline (the cache laid out as huggingface_hub does)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hub_cache / "models--someone--tiny-prior"
    unet_bundle().save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert PriorBundle.from_pretrained("someone/tiny-prior", device="cpu").kind == "unconditional"


class PlantedPickle:
    """Unpickling this touches ``marker``: proof that a planted pickle was (never) loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


@pytest.mark.parametrize("keep_safetensors", [True, False])
def test_a_planted_pickle_is_never_unpickled(tmp_path: Path, keep_safetensors: bool) -> None:
    import pickle

    unet_bundle().save_pretrained(tmp_path / "prior")
    backbone = tmp_path / "prior" / "backbone"
    marker = tmp_path / "unpickled"
    for name in ("diffusion_pytorch_model.bin", "pytorch_model.bin", "model.pt", "model.ckpt"):
        (backbone / name).write_bytes(pickle.dumps(PlantedPickle(marker)))
    if keep_safetensors:
        PriorBundle.from_pretrained(tmp_path / "prior", device="cpu")
    else:
        (backbone / "diffusion_pytorch_model.safetensors").unlink()
        with pytest.raises(BundleError, match="pickled weights are never loaded"):
            PriorBundle.from_pretrained(tmp_path / "prior", device="cpu")
    assert not marker.exists()
