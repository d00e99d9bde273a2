"""One real-browser test: Debian's chromium, driven headless by Playwright, restores an example.

Playwright drives the system ``chromium`` through ``executable_path`` (no browser download). The
screenshot is saved to ``$DIFFEM_SCREENSHOTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import app
from test_app import make_checkpoints
from diffem.em.processes import free_local_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage"]

if CHROMIUM is None:
    if os.environ.get("DIFFEM_REQUIRE_BROWSER"):
        pytest.fail("`make test` needs Debian's chromium for the browser test (it runs tools/install-chromium.sh)",
                    pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")



@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    make_checkpoints(root / "checkpoints")
    examples = root / "examples"
    examples.mkdir()
    array = np.zeros((28, 28), dtype=np.uint8)
    array[4:24, 8:20] = 200
    Image.fromarray(array).save(examples / "fashion-test-0004-shirt.png")
    Image.fromarray(255 - array).save(examples / "drawing-negative.png")
    app.EXAMPLES = examples
    app.use_folders(root / "checkpoints", root / "runs")
    demo = app.build_demo()
    port = free_local_port()
    demo.queue(max_size=16).launch(prevent_thread_lock=True, server_port=port, server_name="127.0.0.1")
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_a_person_restores_an_example_in_the_browser(served: str, tmp_path: Path) -> None:
    shots = Path(os.environ.get("DIFFEM_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(served)
        phone.get_by_role("button", name="Restore", exact=True).wait_for(timeout=60_000)
        phone.screenshot(path=str(shots / "first-page-phone.png"), full_page=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(served)
        page.get_by_role("button", name="Restore", exact=True).wait_for(timeout=60_000)
        # on load: a finished example restoration, and the examples as captioned pictures
        assert page.get_by_text("Example result, computed when the server started").is_visible()
        assert page.get_by_text("What am I looking at?").is_visible()
        page.screenshot(path=str(shots / "first-page.png"), full_page=True)
        captions = page.get_by_text("test image 4: shirt")
        assert captions.count() >= 1 and page.get_by_text("not clothing: out of distribution").count() >= 1
        page.get_by_label("Steps (1-1000)").fill("16")
        page.get_by_role("button", name="Restore", exact=True).click()
        page.get_by_text("done: 16 steps").wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "restore.png"), full_page=True)
        assert not page.get_by_text("Example result, computed when the server started").is_visible()
        assert page.locator("img[src*='gradio_api/file']").count() >= 5  # views, live, slider, mean, std
        assert page.get_by_text("PSNR of the mean").is_visible()
        # a sampler's own options (generated from its Options) appear under the Sampler menu once it is chosen
        assert not page.get_by_text("pc sampler options").is_visible()
        page.get_by_label("Sampler", exact=True).click()
        page.get_by_role("option", name="pc", exact=True).click()
        page.get_by_text("pc sampler options").click(timeout=10_000)
        page.get_by_label("delta", exact=True).fill("0.05")
        page.get_by_label("Steps (1-1000)").fill("8")
        page.get_by_role("button", name="Restore", exact=True).click()
        page.get_by_text("done: 8 steps").wait_for(timeout=120_000)
        browser.close()


def test_a_number_left_unset_stays_unset_in_the_browser(served: str) -> None:
    """DPS's zeta and the import's size may be left empty; a Gradio Number, once shown, turns empty into 0 and
    sends it (DPS was refused with "less than minimum value"), so such options are text boxes left empty."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(served)
        page.get_by_role("button", name="Restore", exact=True).wait_for(timeout=60_000)
        page.get_by_label("Prior").click()
        page.get_by_role("option", name="unet", exact=True).click()
        page.get_by_label("Method").click()
        page.get_by_role("option", name="dps:").click()
        page.get_by_text("dps options").click()  # its controls render (and a Number would turn empty into 0)
        page.get_by_label("zeta").wait_for(timeout=10_000)
        page.get_by_label("Steps (1-1000)").fill("4")
        page.get_by_role("button", name="Restore", exact=True).click()
        page.get_by_text("done: 4 steps").wait_for(timeout=60_000)
        page.get_by_role("tab", name="Train (admin)").click()
        size = page.get_by_label("size (16 to 64)")
        assert size.input_value() == "" and "empty" in (size.get_attribute("placeholder") or "")
        browser.close()
