"""The demo's library (:mod:`diffem.app`) and the app's launch address, without a server."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

import app
from diffem import GaussianDenoiser, PriorBundle, VESchedule
from diffem.app.controls import LEVEL_OPERATORS
from diffem.app.catalog import best_learned_prior, describe, starting_point
from diffem.app.inputs import InputError, check_int, mask_from_layers
from diffem.app.observation import corruption_operator, observation_picture, observe_picture
from diffem.imaging import MISSING_COLOUR
from diffem.app.stream import Frame, Lane, lane_note, lane_view, make_lane, race, skipped_note, throttled
from diffem.app.summary import summarise
from diffem.app.training import lap_table
from diffem.operators import OPERATORS
from diffem.registry import PriorEntry, PriorRegistry

SIZE = 8


def gaussian_bundle(folder: Path, info: dict) -> Path:
    dim = SIZE * SIZE
    denoiser = GaussianDenoiser(torch.zeros(1, SIZE, SIZE), cov=0.5 * torch.eye(dim))
    PriorBundle(denoiser, VESchedule(), (1, SIZE, SIZE), info=info).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("environ, arguments, expected", [
    ({}, (None, None), ("127.0.0.1", 7860)),
    ({"SPACE_ID": "me/demo"}, (None, None), ("0.0.0.0", 7860)),
    ({"SPACE_ID": "me/demo", "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}, (None, None),
     ("0.0.0.0", 7861)),
    ({"GRADIO_SERVER_NAME": "10.1.2.3"}, (None, None), ("10.1.2.3", 7860)),
    ({"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}, ("127.0.0.5", 9000), ("127.0.0.5", 9000)),
])
def test_the_launch_address_follows_flags_then_gradio_then_the_host(environ: dict, arguments: tuple,
                                                                    expected: tuple) -> None:
    assert app.server_address(*arguments, environ=environ) == expected


def test_every_operator_level_has_a_range_with_its_default_inside() -> None:
    levels = {name: cls.spec_parameter() for name, cls in OPERATORS.items() if cls.spec_argument}
    assert set(levels) == set(LEVEL_OPERATORS) and "denoise" not in levels
    for name, parameter in levels.items():
        default = inspect.signature(OPERATORS[name].__init__).parameters[parameter.name].default
        assert parameter.low <= parameter.default == default <= parameter.high, name
        OPERATORS[name](**{parameter.name: parameter.low})  # both ends of a slider are valid operators
        OPERATORS[name](**{parameter.name: parameter.high})


def test_an_operator_with_a_level_but_no_range_is_refused_at_registration() -> None:
    from diffem.operators import register_operator
    from diffem.operators.identity import Denoise

    class Strength(Denoise):
        name = "strength-without-range"
        spec_argument = "sigma_y"

    with pytest.raises(TypeError, match="no spec_range"):
        register_operator(Strength)
    assert "strength-without-range" not in OPERATORS


def test_denoise_is_offered_for_image_priors(tmp_path: Path) -> None:
    gaussian_bundle(tmp_path / "gauss", {"method": "em-mmps", "lap": 0})
    assert "denoise" in PriorRegistry(tmp_path).entry("gauss").operators


def test_what_the_model_sees_marks_missing_pixels_and_draws_low_resolution_as_such(tmp_path: Path) -> None:
    bundle = PriorBundle.from_pretrained(gaussian_bundle(tmp_path / "gauss", {}), device="cpu")
    picture = torch.rand(1, SIZE, SIZE)
    masked = observe_picture(bundle, picture, corruption_operator("mask", 0.5, 1e-4), seed=0)
    seen = observation_picture(bundle, masked)
    hole = masked.operator.missing(masked.y)[0, 0].bool()
    assert 0 < hole.sum() < SIZE * SIZE
    assert torch.allclose(seen[:, hole], torch.tensor(MISSING_COLOUR)[:, None].expand(3, int(hole.sum())))
    assert torch.allclose(seen[0, ~hole], picture[0, ~hole], atol=1e-3)
    low = observe_picture(bundle, picture, corruption_operator("downsample", 2, 1e-4), seed=0)
    pooled = torch.nn.functional.avg_pool2d(picture[None], 2)[0]
    drawn = observation_picture(bundle, low)[0]
    assert torch.allclose(drawn[::2, ::2], pooled[0], atol=1e-3)  # the low-resolution image, not 4x darker


def test_a_drawn_mask_treats_paint_as_missing() -> None:
    layer = torch.zeros(16, 16, 4, dtype=torch.uint8)
    layer[:8, :, 3] = 255
    mask = mask_from_layers([layer.numpy()], SIZE)
    assert mask.shape == (1, 1, SIZE, SIZE) and mask[0, 0, :4].sum() == 0 and mask[0, 0, 4:].all()
    assert mask_from_layers([torch.zeros(16, 16, 4, dtype=torch.uint8).numpy()], SIZE) is None
    with pytest.raises(InputError, match="Draw on the mask canvas"):
        corruption_operator("user-mask", None, 0.01, None)
    with pytest.raises(InputError, match="whole number between 1 and 5"):
        check_int(2.5, 1, 5, "Steps")


def test_frames_are_throttled_but_the_first_and_the_final_always_come() -> None:
    frames = [Frame(i, 100, torch.zeros(1), 0.0, i == 101) for i in range(1, 102)]
    shown = list(throttled(iter(frames), interval=3600.0))
    assert [f.step for f in shown] == [1, 101]
    assert shown[-1].status().startswith("done: 100 steps") and frames[99].status().startswith("step 100 / 100")
    assert len(list(throttled(iter(frames), interval=0.0))) == 101


def test_a_summary_knows_when_it_cannot_show_uncertainty(tmp_path: Path) -> None:
    bundle = PriorBundle.from_pretrained(gaussian_bundle(tmp_path / "gauss", {}), device="cpu")
    picture = 0.25 + 0.5 * torch.rand(1, SIZE, SIZE)
    observation = observe_picture(bundle, picture, corruption_operator("mask", 0.5, 0.01), seed=0)
    exact = bundle.scaling.to_model(picture)[None]
    one = summarise(bundle, observation, exact, 1.0, 10)
    assert one.spread is None and "2 or more samples" in one.markdown()
    assert 0.5 < one.figures["residual"] < 1.5  # the clean image fits y to within its noise
    far = summarise(bundle, observation, torch.cat([exact + 0.1, exact - 0.1]), 1.0, 10)
    assert far.spread is not None and far.figures["residual"] > 5 and far.figures["psnr_mean"] > 40
    assert far.figures["coverage_90"] == 1.0 and "central 50 % / 90 % range" in far.markdown()  # +-0.1 bracket x: its PIT lies in [1/3, 2/3]


def entry(name: str, info: dict, kind: str = "unconditional", operators: list[str] | None = None) -> PriorEntry:
    config = {"kind": kind, "event_shape": [1, 28, 28], "info": info, "operators": operators or []}
    return PriorEntry(name, "", config)


def test_priors_are_described_in_plain_words_and_start_from_their_own_corruption() -> None:
    blur = entry("blurry", {"method": "diffem", "lap": 3, "data": {"data": "fashion-mnist"},
                            "corruption": {"name": "blur", "kernel_sigma": 2.0},
                            "quality": {"psnr": 19.6, "task": "blurred test images"}}, "conditional", ["blur"])
    assert starting_point(blur).corruption == "blur" and starting_point(blur).amount == 2.0
    words = describe(blur)
    assert "blurred (2-pixel Gaussian blur) Fashion-MNIST" in words and "19.6 dB" in words and "only" in words
    em = entry("em", {"method": "em-mmps", "lap": 3, "corruption": {"name": "mask", "ratio": 0.75},
                      "quality": {"frechet": 120.0, "reference_frechet": 60.0}})
    better = entry("better", {"method": "diffem-prior", "corruption": {"name": "mask", "ratio": 0.75},
                              "quality": {"frechet": 90.0, "reference_frechet": 60.0}})
    clean = entry("clean", {"method": "reference", "upper_bound": "clean", "quality": {"frechet": 60.0,
                                                                                      "reference_frechet": 60.0}})
    assert "75 %-masked" in describe(em) and "**2.00x** the clean-data reference's 60.0" in describe(em)
    assert best_learned_prior([clean, em, better]) is better
    assert "upper bound" in describe(clean)


def test_a_training_log_tail_shows_the_latest_progress_bar_state(tmp_path: Path) -> None:
    from diffem.jobs import log_tail

    log = tmp_path / "train.log"
    log.write_text("lap 1: loss 0.6\nlap 2 M-step:  10%|#  | 50/500\rlap 2 M-step:  20%|## | 100/500\r")
    assert log_tail(log, 2) == ["lap 1: loss 0.6", "lap 2 M-step:  20%|## | 100/500"]


def test_computed_work_runs_on_one_thread_nests_without_deadlock_and_closes_there() -> None:
    import threading

    from diffem.app.compute import computed, run_computed

    where: list[str] = []

    @computed
    def inner() -> str:
        return threading.current_thread().name

    @computed
    def steps(count: int):  # noqa: ANN202 - a generator
        try:
            for index in range(count):
                where.append(inner())  # nested: already on the compute thread, runs inline
                yield index
        finally:
            where.append("closed on " + threading.current_thread().name)

    stream = steps(5)
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()
    assert where[:2] == [where[0]] * 2 and where[0].startswith("diffem-compute")
    assert where[-1] == "closed on " + where[0]
    with pytest.raises(InputError, match="whole number"):
        run_computed(check_int, 2.5, 1, 5, "Steps")


def test_a_prior_says_which_options_were_tuned_for_it(tmp_path: Path) -> None:
    from diffem.tuning import write_tuned

    folder = gaussian_bundle(tmp_path / "gauss", {"method": "em-mmps", "lap": 0})
    write_tuned(folder, "dps", "mask", {"options": {"zeta": 10.0}, "psnr": 17.6})
    words = describe(PriorRegistry(tmp_path).entry("gauss"))
    assert "Tuned on validation observations: dps zeta 10 for mask." in words and "with mmps, dps" in words
    assert "tuned at a cost" not in words
    write_tuned(folder, "mmps", "mask", {"options": {"iterations": 4}}, budget=33)
    write_tuned(folder, "mmps", "box", {"options": {"iterations": 6}}, budget=129)
    words = describe(PriorRegistry(tmp_path).entry("gauss"))
    assert "Tuned on validation observations: dps zeta 10 for mask." in words  # MMPS has no record at steps
    assert "Knobs tuned at a cost, which Compare uses at equal cost: mmps for box, mask at 33, 129 network calls" in words


def test_an_observed_picture_and_its_mask_are_read_as_an_import_reads_them(tmp_path: Path) -> None:
    """Missing pixels hold garbage that must not leak into the fitted observation; sizes and masks are checked."""
    from PIL import Image

    from diffem.app.inputs import read_observed
    from diffem.app.observation import take_observed_picture

    bundle = PriorBundle.from_pretrained(gaussian_bundle(tmp_path / "gauss", {}), device="cpu")
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255  # left half observed
    pixels = np.where(mask[..., None] > 0, np.array([40, 120, 200], np.uint8), np.uint8(255))
    Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "seen.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    picture, observed = read_observed(tmp_path / "seen.png", tmp_path / "mask.png", (1, SIZE, SIZE))
    assert picture.shape == (1, SIZE, SIZE) and observed.shape == (1, 1, SIZE, SIZE)
    assert observed[0, 0, :, :SIZE // 2].all() and not observed[0, 0, :, SIZE // 2:].any()
    grey = (0.299 * 40 + 0.587 * 120 + 0.114 * 200) / 255  # the observed colour, not mixed with the white garbage
    assert torch.allclose(picture[0, :, :SIZE // 2], torch.full((SIZE, SIZE // 2), grey), atol=1e-4)
    colour, _ = read_observed(tmp_path / "seen.png", tmp_path / "mask.png", (3, SIZE, SIZE))
    assert colour.shape == (3, SIZE, SIZE)
    observation = take_observed_picture(bundle, str(tmp_path / "seen.png"), str(tmp_path / "mask.png"), 0.01)
    assert observation.clean is None and observation.operator.name == "user-mask"
    Image.fromarray(mask[:20, :20]).save(tmp_path / "small.png")
    Image.fromarray((mask // 2).astype(np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.zeros_like(mask)).save(tmp_path / "black.png")
    for name, message in (("small.png", "The mask is 20x20 but the image is 32x32"),
                          ("grey.png", "grey.png holds values other than 0 and 1"),
                          ("black.png", "all black: no pixel is observed")):
        with pytest.raises(InputError, match=message):
            take_observed_picture(bundle, str(tmp_path / "seen.png"), str(tmp_path / name), 0.01)
    with pytest.raises(InputError, match="Cannot read the mask as an image"):
        read_observed(tmp_path / "seen.png", tmp_path / "gauss" / "diffem.json", (1, SIZE, SIZE))


def test_import_settings_and_unset_numbers_come_back_typed() -> None:
    from diffem.app.controls import IMPORT_OPTIONS, METHOD_OPTIONS, chosen_import_settings, chosen_options

    defaults = [option["default"] for option in IMPORT_OPTIONS]
    names = [option["name"] for option in IMPORT_OPTIONS]
    assert chosen_import_settings(defaults).size is None
    given = dict(zip(names, defaults)) | {"size": "32", "limit": "", "channels": "3"}
    chosen = chosen_import_settings([given[n] for n in names])
    assert (chosen.size, chosen.limit, chosen.channels) == (32, None, "3")
    for change, message in (({"size": "eight"}, "Size must be a number"), ({"size": 8}, "Size must be a whole number "
                            "between 16 and 64"), ({"fit": "stretch"}, "Fit must be one of crop, resize")):
        values = dict(zip(names, defaults)) | change
        with pytest.raises(InputError, match=message):
            chosen_import_settings([values[n] for n in names])
    values = [None if (m, o["name"]) == ("dps", "zeta") else o["default"] for m, o in METHOD_OPTIONS]
    assert chosen_options("dps", values)["zeta"] is None
    assert chosen_options("dps", ["2.5" if (m, o["name"]) == ("dps", "zeta") else o["default"]
                                  for m, o in METHOD_OPTIONS])["zeta"] == 2.5
    with pytest.raises(InputError, match="Zeta must be a number"):
        chosen_options("dps", ["big" if (m, o["name"]) == ("dps", "zeta") else o["default"] for m, o in METHOD_OPTIONS])


def test_the_lap_table_shows_the_figures_the_laps_have() -> None:
    clean = [{"lap": 0, "frechet_pixels": 50.0, "posterior_psnr": 20.0},
             {"lap": 1, "final_loss": 0.5, "frechet_pixels": 40.0, "black_share": 0.2512345, "posterior_psnr": 21.0}]
    imported = [{"lap": 0, "heldout_pixel_psnr": 12.0, "heldout_residual": 3.0}]
    assert list(lap_table(clean).columns) == ["lap", "loss", "Fréchet", "black share", "posterior PSNR"]
    assert lap_table(clean).values.tolist()[1] == [1, 0.5, 40.0, 0.2512, 21.0]
    assert list(lap_table(imported).columns) == ["lap", "held-out pixel PSNR", "held-out residual"]
    assert lap_table(imported).values.tolist() == [[0, 12.0, 3.0]]


def test_the_observation_a_page_asks_for_is_built_without_gradio_and_reads_only_what_it_may(tmp_path: Path) -> None:
    """An example under a corruption is observed with the seed's mask; an image and its mask file are taken as
    observed (clean unknown); a file the caller does not allow is refused before it is opened."""
    from PIL import Image

    from diffem.app.controls import ObservationValues, observation_controls
    from diffem.app.request import requested_observation

    folder = gaussian_bundle(tmp_path / "gauss", {})
    registry = PriorRegistry(tmp_path, device="cpu")
    registry.load_all()
    chosen, bundle = registry.entry("gauss"), registry.bundle("gauss")
    Image.fromarray(np.full((SIZE, SIZE), 128, np.uint8)).save(tmp_path / "grey.png")
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, :SIZE // 2] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")

    def values(*controls: object, **given: object) -> ObservationValues:
        return ObservationValues.unpack(observation_controls(*controls, **given))

    masked = requested_observation(chosen, bundle, values(str(tmp_path / "grey.png"), "mask", 0.5, seed=3))
    again = requested_observation(chosen, bundle, values(str(tmp_path / "grey.png"), "mask", 0.5, seed=3))
    assert masked.clean is not None and torch.equal(masked.operator.missing(masked.y), again.operator.missing(again.y))
    observed = requested_observation(chosen, bundle, values(str(tmp_path / "grey.png"), "user-mask",
                                                            mask_file=str(tmp_path / "mask.png")))
    assert observed.clean is None and not observed.operator.missing(observed.y)[..., :SIZE // 2].any()

    def only_examples(path: str, what: str) -> str:
        if Path(path).parent != tmp_path:
            raise InputError(f"Only the examples can be read; upload {what} instead")
        return path

    with pytest.raises(InputError, match="upload the mask instead"):
        requested_observation(chosen, bundle, values(str(tmp_path / "grey.png"), "user-mask",
                                                     mask_file=str(folder / "diffem.json")), only_examples)
    with pytest.raises(InputError, match="corruption for this prior"):
        requested_observation(chosen, bundle, values(str(tmp_path / "grey.png"), "kernel-blur"))


def test_lane_notes_and_summaries_write_percentages_as_the_page_does(tmp_path: Path) -> None:
    """Coverage reads "45 %", as the calibrated levels beside it do, in the Restore summary and a Compare lane."""
    import re

    bundle = PriorBundle.from_pretrained(gaussian_bundle(tmp_path / "gauss", {}), device="cpu")
    picture = 0.25 + 0.5 * torch.rand(1, SIZE, SIZE)
    observation = observe_picture(bundle, picture, corruption_operator("mask", 0.5, 0.01), seed=0)
    samples = bundle.scaling.to_model(picture)[None] + 0.1 * torch.randn(4, 1, SIZE, SIZE)
    summary = summarise(bundle, observation, samples, 1.0, 10)
    frame = Frame(11, 10, samples, 1.0, True)
    lane = Lane("gauss", "mmps", 10, iter([]), latest=frame, done=True)
    for text in (summary.markdown(), lane_note(lane, summary)):
        assert re.findall(r"\d %", text) and not re.findall(r"\d%", text), text
    assert "10 steps, 11 network calls + 11 VJPs a sample" in lane_note(lane, summary)  # the final denoising is one more
    assert lane_note(lane, None) == "**mmps** · gauss: done: 10 steps in 1.0 s"


def test_a_prior_counts_its_laps_in_its_method_s_words() -> None:
    """EM methods count EM laps; the naive baseline and DiffEM's prior, which run no EM of their own, do not."""
    masked = {"corruption": {"name": "mask", "ratio": 0.75}}
    assert "3 EM laps" in describe(entry("em", masked | {"method": "em-mmps", "lap": 3}))
    for method in ("naive", "diffem-prior"):
        words = describe(entry(method, masked | {"method": method, "lap": 3}))
        assert "3 laps of training" in words and "EM laps" not in words, words


def test_a_race_at_equal_cost_gives_each_lane_the_steps_its_budget_buys_and_shows_it_done(tmp_path: Path) -> None:
    """MMPS spends a VJP a step and DDNM none, so an equal budget buys DDNM more steps; a running lane shows its step,
    a done one its samples, their mean and std, and what it cost."""
    from diffem.app.catalog import operator_title
    from diffem.posterior import method_cost

    bundle = PriorBundle.from_pretrained(gaussian_bundle(tmp_path / "gauss", {}), device="cpu")
    picture = 0.25 + 0.5 * torch.rand(1, SIZE, SIZE)
    observation = observe_picture(bundle, picture, corruption_operator("mask", 0.5, 0.01), seed=0)
    lanes = [make_lane(bundle, "gauss", observation, method, "ddpm", 64, 3, seed=0, budget=41)
             for method in ("mmps", "ddnm")]
    assert all(method_cost(lane.method, None, lane.steps).total <= 41 for lane in lanes)
    assert lanes[0].steps < lanes[1].steps
    running = [lane_view(lanes[1], bundle, observation)[1] for _ in race(lanes)][0]
    assert "step" in running and "interval coverage" not in running
    picture, note = lane_view(lanes[0], bundle, observation)
    assert lanes[0].done and round(picture.shape[1] / picture.shape[0]) == 5  # 3 samples, their mean, their std
    assert f"{lanes[0].steps} steps" in note and "interval coverage" in note
    assert skipped_note("conditional", "blurry", ["blur"]).endswith(f"skipped, it restores only {operator_title('blur')}")


def test_a_race_with_tuned_knobs_gives_each_lane_the_knobs_tuned_nearest_its_budget_and_says_so(tmp_path: Path) -> None:
    """MMPS's k tuned at 33 calls + VJPs replaces the Restore tab's k = 1 in a race at 41, and buys fewer steps; a
    corruption with nothing tuned keeps the Restore tab's k and says so; a race at equal steps names its knobs."""
    from diffem.posterior import method_cost, steps_for_budget

    bundle = PriorBundle.from_pretrained(gaussian_bundle(tmp_path / "gauss", {}), device="cpu")
    tuned = {"mmps": {"mask": {"budgets": {"33": {"options": {"iterations": 3}}, "257": {"options": {"iterations": 8}}}}}}
    picture = 0.25 + 0.5 * torch.rand(1, SIZE, SIZE)
    masked = observe_picture(bundle, picture, corruption_operator("mask", 0.5, 0.01), seed=0)
    lane = make_lane(bundle, "gauss", masked, "mmps", "ddpm", 64, 2, seed=0, options={"iterations": 1}, tuned=tuned,
                     budget=41, tuned_knobs=True)
    assert lane.options.iterations == 3 and lane.steps == steps_for_budget("mmps", {"iterations": 3}, 41)
    assert lane.steps < steps_for_budget("mmps", {"iterations": 1}, 41)
    assert method_cost("mmps", lane.options, lane.steps).total <= 41
    for _ in race([lane]):
        pass
    note = lane_view(lane, bundle, masked)[1]
    assert f"{lane.steps} steps, k = 3 (tuned at 33 calls + VJPs)" in note, note
    blurred = observe_picture(bundle, picture, corruption_operator("blur", 1.0, 0.01), seed=0)
    untuned = make_lane(bundle, "gauss", blurred, "mmps", "ddpm", 64, 2, seed=0, options={"iterations": 2},
                        tuned=tuned, budget=41, tuned_knobs=True)
    assert untuned.options.iterations == 2 and "the Restore tab's: none tuned" in untuned.knobs
    assert make_lane(bundle, "gauss", masked, "mmps", "ddpm", 4, 2, seed=0, tuned=tuned).knobs == "k = 1"
    assert make_lane(bundle, "gauss", masked, "ddnm", "ddpm", 4, 2, seed=0, tuned=tuned, budget=41,
                     tuned_knobs=True).knobs == ""


def test_choosing_a_data_source_shows_its_options_and_a_corruption_that_suits_its_data() -> None:
    """The Train tab's Data menu: the chosen source's option group alone is shown, and picking a source puts in the
    corruption field one that acts on its domain (the toy manifold's vectors need a projection, not a pixel mask)."""
    from diffem.data.sources import SOURCES
    from diffem.jobs import DATA_SOURCES
    from diffem.operators import parse_corruption

    for source in DATA_SOURCES:
        groups = app.data_source_controls(source)
        groups = groups if isinstance(groups, list) else [groups]
        assert [group["visible"] for group in groups] == [name == source for name in app.OPTION_DATA_SOURCES]
        corruption = app.data_source_corruption(source)["value"]
        assert parse_corruption(corruption, 0.01).domain in (SOURCES[source].domain, "any"), (source, corruption)
    assert app.data_source_corruption("manifold")["value"] == "projection:2"
    assert "value" not in app.data_source_corruption(app.IMPORTED_DATA)  # an imported set is already corrupted


def test_a_race_plan_runs_the_lanes_that_serve_the_corruption_and_says_why_it_skips_the_others(tmp_path: Path) -> None:
    """A 2-D vector prior does not restore masked pictures: its lane is left out with its line, the image prior's
    lanes race to the end in their own slots, and a race whose every lane is left out is refused."""
    from diffem.app.compare import default_lanes, lane_choices, plan_race, race_views

    gaussian_bundle(tmp_path / "gauss", {"method": "em-mmps", "lap": 2})
    PriorBundle(GaussianDenoiser(torch.zeros(2), cov=torch.eye(2)), VESchedule(), (2,),
                info={"method": "em-mmps", "lap": 1}).save_pretrained(tmp_path / "points")
    registry = PriorRegistry(tmp_path, device="cpu")
    registry.load_all()
    assert {"mmps · gauss", "dps · gauss", "mmps · points"} <= set(lane_choices(registry))
    assert len(default_lanes(registry, 4)) == 4
    picture = 0.25 + 0.5 * torch.rand(1, SIZE, SIZE)
    asked: list[str] = []

    def observation_of(prior: str) -> object:
        asked.append(prior)
        return observe_picture(registry.bundle(prior), picture, corruption_operator("mask", 0.5, 0.01), seed=0)

    plan = plan_race(registry, ["mmps · points", "mmps · gauss", "", "ddnm · gauss"], "mask", observation_of, "ddpm",
                     4, 2, 0, lambda method: None)
    assert sorted(plan.lanes) == [1, 3] and asked == ["gauss", "gauss"] and plan.first[0] is plan.lanes[1]
    assert plan.notes[0].startswith("**mmps** · points: skipped, it restores only") and plan.notes[1:] == ["", "", ""]
    views = list(race_views(registry, plan))
    pictures, notes = views[-1]
    assert pictures[0] is None and pictures[2] is None and pictures[1] is not None and pictures[3] is not None
    assert notes[0] == plan.notes[0] and "4 steps" in notes[1] and "interval coverage" in notes[3] and notes[2] == ""
    with pytest.raises(InputError, match="at least one method that restores this corruption"):
        plan_race(registry, ["mmps · points", ""], "mask", observation_of, "ddpm", 4, 2, 0, lambda method: None)
    with pytest.raises(InputError, match="method to compare"):
        plan_race(registry, ["sorcery · gauss"], "mask", observation_of, "ddpm", 4, 2, 0, lambda method: None)
