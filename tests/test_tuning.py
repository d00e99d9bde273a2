"""Tuning DPS's zeta on validation observations, stored beside the bundle and read back as the default."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch

from diffem import GaussianDenoiser, PriorBundle, VESchedule
from diffem.data.observations import make_observation_set
from diffem.operators import RandomMask
from diffem.posterior import make_posterior
from diffem.registry import PriorRegistry
from diffem.tuning import TUNED_FILE, grid_search, read_tuned, write_tuned

SHAPE = (1, 12, 12)  # SSIM's window needs 11 pixels


def test_grid_search_picks_the_best_zeta_and_make_posterior_reads_it(tmp_path: Path, generator: torch.Generator) -> None:
    bundle = PriorBundle(GaussianDenoiser(torch.zeros(SHAPE), cov=torch.eye(144)), VESchedule(1e-3, 10.0), SHAPE)
    folder = bundle.save_pretrained(tmp_path / "prior")
    clean = torch.rand(4, *SHAPE, generator=generator) * 2 - 1
    validation = make_observation_set(clean, RandomMask(sigma_y=0.01, ratio=0.5), seed=5, keep_clean=True)
    record = grid_search(bundle, validation, grid=(0.01, 0.3, 3.0), steps=6)
    scores = record["grid"]
    assert set(scores) == {"0.01", "0.3", "3.0"} and len(set(scores.values())) == 3
    best = max(scores, key=scores.get)
    assert record["options"] == {"zeta": float(best)} and record["psnr"] == scores[best]
    write_tuned(folder, "dps", "mask", record)
    write_tuned(folder, "dps", "box", {"options": {"zeta": 7.0}})  # another operator keeps the first
    tuned = read_tuned(folder)
    assert json.loads((folder / TUNED_FILE).read_text()) == tuned and set(tuned["dps"]) == {"mask", "box"}
    operator = RandomMask(sigma_y=0.01, ratio=0.5).draw(1, SHAPE, generator)
    y = operator.observe(clean[:1], generator)
    assert make_posterior(bundle, "dps", operator, y, tuned=tuned).zeta == float(best)
    assert make_posterior(bundle, "dps", operator, y, {"zeta": 0.5}, tuned=tuned).zeta == 0.5
    assert make_posterior(bundle, "dps", operator, y).zeta == 1.0  # nothing tuned: the default
    registry = PriorRegistry(tmp_path)
    assert registry.entry("prior").tuned == tuned


def test_no_tuned_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_tuned(tmp_path) == {}


def test_the_grid_is_extended_past_a_best_edge(monkeypatch, generator: torch.Generator) -> None:
    """A score that keeps rising past the grid's top (peak at 27) walks the grid up by its ratio."""
    import diffem.tuning as tuning

    def fake(bundle, validation, method, count, samples, steps, sampler, seed, batch_size, options):
        return {"psnr_single": -abs(math.log(options["zeta"] / 27.0))}

    monkeypatch.setattr(tuning, "evaluate_posterior", fake)
    clean = torch.zeros(2, *SHAPE)
    validation = make_observation_set(clean, RandomMask(sigma_y=0.01, ratio=0.5), seed=5, keep_clean=True)
    record = grid_search(None, validation, grid=(1.0, 3.0), extend=5)
    assert record["options"]["zeta"] == 27.0
    assert sorted(float(k) for k in record["grid"]) == [1.0, 3.0, 9.0, 27.0, 81.0]
    assert grid_search(None, validation, grid=(1.0, 3.0), extend=1)["options"]["zeta"] == 9.0


def test_methods_declare_their_knobs_with_a_grid() -> None:
    from diffem.guidance import POSTERIORS
    from diffem.options import tuning_grids

    grids = {name: tuning_grids(cls.Options) for name, cls in POSTERIORS.items()}
    assert grids["mmps"] == {"iterations": (1, 2, 3, 4)}
    assert grids["dps"] == {"zeta": (0.3, 1.0, 3.0, 10.0, 30.0)}
    assert grids["ddnm"] == {} and grids["conditional"] == {}
    for name, grid in grids.items():
        fields = {f.name: f for f in dataclasses.fields(POSTERIORS[name].Options)}
        for field, values in grid.items():
            low, high = fields[field].metadata["low"], fields[field].metadata["high"]
            assert all(low <= value <= high for value in values), f"{name}.{field}: a grid value out of bounds"


def test_a_knob_that_costs_calls_is_tuned_at_a_matched_budget(monkeypatch) -> None:
    """At a budget, each k runs the steps that fit it; a k that cannot fit one step is never run, and an integer
    grid is extended by its spacing (the fake score peaks at k = 5)."""
    import diffem.tuning as tuning
    from diffem.posterior import method_cost, steps_for_budget

    runs: list[tuple[int, int]] = []

    def fake(bundle, validation, method, count, samples, steps, sampler, seed, batch_size, options):
        runs.append((options["iterations"], steps))
        return {"psnr_single": -abs(options["iterations"] - 5)}

    monkeypatch.setattr(tuning, "evaluate_posterior", fake)
    clean = torch.zeros(2, *SHAPE)
    validation = make_observation_set(clean, RandomMask(sigma_y=0.01, ratio=0.5), seed=5, keep_clean=True)
    record = grid_search(None, validation, "mmps", "iterations", budget=65)
    assert record["options"] == {"iterations": 5} and isinstance(record["options"]["iterations"], int)
    assert runs == [(k, steps_for_budget("mmps", {"iterations": k}, 65)) for k in (1, 2, 3, 4, 5, 6)]
    assert all(method_cost("mmps", {"iterations": k}, steps).total <= 65 for k, steps in runs)
    assert record["validation"]["budget"] == 65 and record["validation"]["steps"]["2"] == runs[1][1]

    runs.clear()
    tight = grid_search(None, validation, "mmps", "iterations", budget=9)  # k = 4: one step and the end cost 10
    assert tight["grid"]["4"] == -math.inf and [k for k, _ in runs] == [1, 2, 3]
    assert tight["options"] == {"iterations": 3}


def test_tune_method_tunes_every_declared_knob_and_skips_a_method_without(monkeypatch) -> None:
    import diffem.tuning as tuning

    def fake(bundle, validation, method, count, samples, steps, sampler, seed, batch_size, options):
        return {"psnr_single": -abs(math.log(options["zeta"] / 3.0))}

    monkeypatch.setattr(tuning, "evaluate_posterior", fake)
    clean = torch.zeros(2, *SHAPE)
    validation = make_observation_set(clean, RandomMask(sigma_y=0.01, ratio=0.5), seed=5, keep_clean=True)
    record = tuning.tune_method(None, validation, "dps", budget=33)
    assert record["options"] == {"zeta": 3.0} and set(record["grids"]) == {"zeta"} and record["psnr"] == 0.0
    assert tuning.tune_method(None, validation, "ddnm", budget=33) == {"options": {}, "psnr": None, "grids": {}}


def test_the_command_line_refuses_a_knob_that_is_no_number_with_one_line(capsys) -> None:
    import pytest

    from diffem.tuning import main

    prior = Path(__file__).resolve().parents[1] / "checkpoints" / "em-mmps-fashion-mask75"
    with pytest.raises(SystemExit) as exit_info:
        main(["--prior", str(prior), "--corruption", "mask:0.75", "--method", "mmps", "--field", "solver",
              "--count", "1", "--no-write"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("mmps's option 'solver' is a str, not a number to tune")


def test_the_fair_crps_is_unbiased_with_two_samples_where_the_plain_one_is_not(generator: torch.Generator) -> None:
    from diffem.metrics import crps

    pair = torch.tensor([0.0, 1.0]).reshape(2, 1, 1)
    assert float(crps(pair, torch.zeros(1, 1), fair=True)) == 0.0 and float(crps(pair, torch.zeros(1, 1))) == 0.25
    # samples of the truth's own law N(0, 1): the distribution's CRPS is 1 / sqrt(pi)
    truth = torch.randn(1, 200_000, generator=generator)
    samples = torch.randn(2, 1, 200_000, generator=generator)
    assert abs(float(crps(samples, truth, fair=True)) - 1 / math.sqrt(math.pi)) < 0.01
    assert abs(float(crps(samples, truth)) - 1.5 / math.sqrt(math.pi)) < 0.01


def test_knobs_can_be_tuned_for_the_crps(tmp_path: Path, generator: torch.Generator) -> None:
    import pytest

    bundle = PriorBundle(GaussianDenoiser(torch.zeros(SHAPE), cov=torch.eye(144)), VESchedule(1e-3, 10.0), SHAPE)
    clean = torch.rand(3, *SHAPE, generator=generator) * 2 - 1
    validation = make_observation_set(clean, RandomMask(sigma_y=0.01, ratio=0.5), seed=5, keep_clean=True)
    record = grid_search(bundle, validation, "mmps", "iterations", grid=(1, 2), budget=13, metric="crps")
    assert "fair CRPS" in record["validation"]["metric"] and record["options"]["iterations"] in (1, 2)
    assert all(-1.0 < score < 0.0 for score in record["grid"].values())
    with pytest.raises(ValueError, match="unknown tuning metric"):
        grid_search(bundle, validation, "mmps", "iterations", grid=(1,), budget=13, metric="ssim")


def test_knobs_tuned_at_a_budget_are_kept_beside_the_step_record_and_the_nearest_budget_is_used(tmp_path: Path) -> None:
    from diffem.tuning import knob_text, knobs_at_budget, options_at_budget

    write_tuned(tmp_path, "mmps", "mask", {"options": {"iterations": 4}}, budget=33)
    write_tuned(tmp_path, "mmps", "mask", {"options": {"iterations": 9}}, budget=129)
    write_tuned(tmp_path, "dps", "mask", {"options": {"zeta": 3.0}})  # at a step count
    write_tuned(tmp_path, "dps", "mask", {"options": {"zeta": 30.0}}, budget=65)
    write_tuned(tmp_path, "dps", "mask", {"options": {"zeta": 10.0}})  # re-tuned at steps: the budgets stay
    tuned = read_tuned(tmp_path)
    assert tuned["dps"]["mask"]["options"] == {"zeta": 10.0} and set(tuned["dps"]["mask"]["budgets"]) == {"65"}
    assert set(tuned["mmps"]["mask"]["budgets"]) == {"33", "129"} and "options" not in tuned["mmps"]["mask"]
    assert knobs_at_budget(tuned, "mmps", "mask", 40) == ({"iterations": 4}, 33)
    assert knobs_at_budget(tuned, "mmps", "mask", 65) == ({"iterations": 4}, 33)  # log(65/33) < log(129/65)
    assert knobs_at_budget(tuned, "mmps", "mask", 1000) == ({"iterations": 9}, 129)
    assert knobs_at_budget(tuned, "mmps", "box", 65) is None and knobs_at_budget(tuned, "pigdm", "mask", 65) is None
    assert knobs_at_budget({"mmps": {"mask": {"budgets": {"many": {"options": {"iterations": 2}}}}}},
                           "mmps", "mask", 65) is None  # a key that is no budget is passed over

    options, at = options_at_budget("mmps", {"iterations": 1, "solver": "cg"}, tuned, "mask", 129)
    assert (options.iterations, options.solver, at) == (9, "cg", 129)  # the knob replaced, the other option kept
    options, at = options_at_budget("mmps", {"iterations": 2}, tuned, "blur", 129)
    assert (options.iterations, at) == (2, None)
    assert options_at_budget("dps", None, tuned, "mask", 70)[0].zeta == 30.0
    assert knob_text("mmps", {"iterations": 4}) == "k = 4" and knob_text("dps", options_at_budget(
        "dps", None, tuned, "mask", 70)[0]) == "zeta = 30"
    assert knob_text("ddnm", None) == "" and knob_text("daps", {"ode_steps": 2}) == "ODE steps = 2"


def test_the_command_line_tunes_several_methods_at_several_budgets_into_the_bundle(tmp_path: Path, monkeypatch,
                                                                                  capsys) -> None:
    import pytest

    import diffem.tuning as tuning

    bundle = PriorBundle(GaussianDenoiser(torch.zeros(SHAPE), cov=torch.eye(144)), VESchedule(1e-3, 10.0), SHAPE)
    folder = bundle.save_pretrained(tmp_path / "prior")
    write_tuned(folder, "dps", "mask", {"options": {"zeta": 3.0}})
    validation = make_observation_set(torch.zeros(2, *SHAPE), RandomMask(sigma_y=0.01, ratio=0.5), seed=5,
                                      keep_clean=True)
    monkeypatch.setattr(tuning, "validation_observations", lambda *args, **kwargs: validation)

    def fake(bundle, validation, method, count, samples, steps, sampler, seed, batch_size, options):
        knob = options.get("iterations") or options.get("zeta")
        return {"psnr_single": -abs(math.log(knob / 2.0)) + steps / 1000}

    monkeypatch.setattr(tuning, "evaluate_posterior", fake)
    tuning.main(["--prior", str(folder), "--corruption", "mask:0.5", "--method", "mmps", "dps", "--budget", "9", "33"])
    printed = json.loads(capsys.readouterr().out)
    tuned = read_tuned(folder)
    assert set(printed) == {"mmps", "dps"} and set(printed["mmps"]) == {"9", "33"}
    assert set(tuned["mmps"]["mask"]["budgets"]) == set(tuned["dps"]["mask"]["budgets"]) == {"9", "33"}
    assert tuned["mmps"]["mask"]["budgets"]["33"]["options"] == {"iterations": 2}
    assert tuned["dps"]["mask"]["options"] == {"zeta": 3.0}  # the record tuned at a step count is kept
    with pytest.raises(SystemExit) as exit_info:
        tuning.main(["--prior", str(folder), "--corruption", "mask:0.5", "--method", "ddnm", "--budget", "9"])
    assert exit_info.value.code == 2 and "ddnm declares no knob to tune" in capsys.readouterr().err
