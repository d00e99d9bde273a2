"""A battery of odd files and bad parameters against the served app (gradio_client, loopback).

Unusual but valid images (16-bit, CMYK, palette, RGBA, animated GIF, EXIF-rotated) are restored;
everything else gets a clear message naming the problem, and the server keeps serving. Path-like
strings are refused wherever a name or a file is accepted, and nothing outside the app's folders
is read (a marker file next to the server would otherwise be served back).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from diffem.app.controls import method_option_values, observation_controls, sampler_option_values
from test_app import client, picture, shirt  # noqa: F401  (the served app and a small test picture)

ROOT = Path(__file__).resolve().parents[1]

Args = tuple[object, ...]


def args(image: object, prior: str = "gauss", corruption: str = "mask", amount: object = 0.5, sigma_y: object = 0.01,
         seed: object = 0, editor: object = None, method: str = "mmps", sampler: str = "ddpm", steps: object = 3,
         samples: object = 1, solver: str = "gmres", iterations: object = 1) -> Args:
    upload = handle_file(image) if isinstance(image, (str, Path)) and Path(image).is_file() else image
    options = method_option_values("mmps", solver=solver, iterations=iterations)
    return (prior, *observation_controls(upload, corruption, amount, sigma_y, seed, editor), method, sampler, steps,
            samples, *options, *sampler_option_values())


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` (a decompression bomb's signature)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def write(folder: Path, name: str, make: Callable[[Path], None]) -> Path:
    path = folder / name
    make(path)
    return path


FILES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "truncated png": ("cut.png", lambda p: (shirt().save(p), p.write_bytes(p.read_bytes()[:60]))),
    "text with a .png name": ("notes.png", lambda p: p.write_text("hello, not an image")),
    "empty file": ("empty.png", lambda p: p.write_bytes(b"")),
    "html with a .png name": ("page.png", lambda p: p.write_text("<html><script>alert(1)</script></html>")),
    "decompression bomb": ("bomb.png", lambda p: p.write_bytes(png_claiming(30000, 30000))),
    "1x1 image": ("dot.png", lambda p: Image.new("L", (1, 1)).save(p)),
    "10000x2 image": ("line.png", lambda p: Image.new("L", (10000, 2)).save(p)),
}
ACCEPTED: dict[str, tuple[str, Callable[[Path], None]]] = {
    "16-bit png": ("deep.png", lambda p: Image.fromarray(np.asarray(shirt()).astype(np.uint16) * 257).save(p)),
    "cmyk jpeg": ("cmyk.jpg", lambda p: shirt("CMYK").save(p)),
    "rgba png": ("alpha.png", lambda p: shirt("RGBA").save(p)),
    "palette png": ("palette.png", lambda p: shirt("P").save(p)),
    "animated gif": ("moving.gif", lambda p: shirt().save(p, save_all=True, append_images=[shirt().rotate(90)])),
    "exif-rotated jpeg": ("rotated.jpg", lambda p: shirt("RGB").save(p, exif=_rotated_exif())),
}


def _rotated_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    return exif


@pytest.mark.parametrize("case", sorted(FILES))
def test_an_unreadable_file_gets_a_clear_error(client: Client, tmp_path: Path, case: str) -> None:  # noqa: F811
    name, make = FILES[case]
    with pytest.raises(Exception, match="Cannot read this file|megapixels|at least 8x8"):
        client.predict(*args(write(tmp_path, name, make)), api_name="/restore")


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_an_unusual_but_valid_image_is_restored(client: Client, tmp_path: Path, case: str) -> None:  # noqa: F811
    name, make = ACCEPTED[case]
    outputs = list(client.submit(*args(write(tmp_path, name, make)), api_name="/restore"))
    assert "done: 3 steps" in outputs[-1][1]


#: Gradio's own component checks answer first where a component has a range or a choice list;
#: NaN cannot even be sent (JSON has no NaN), so the client refuses it before the server sees it
OUT_OF_RANGE = "greater than maximum value|less than minimum value"
NOT_A_CHOICE = "is not in the list of choices"
NO_NAN = "not JSON compliant"
PARAMETERS: dict[str, tuple[dict[str, object], str]] = {
    "steps nan": ({"steps": float("nan")}, NO_NAN),
    "steps negative": ({"steps": -5}, "Steps must be"),
    # a string where a number belongs fails in Gradio's preprocessing: its generic message, no detail
    "steps text": ({"steps": "ten"}, "raised an exception"),
    "samples zero": ({"samples": 0}, OUT_OF_RANGE),
    "samples huge": ({"samples": 10**9}, OUT_OF_RANGE),
    "iterations huge": ({"iterations": 10**6}, OUT_OF_RANGE),
    "noise nan": ({"sigma_y": float("nan")}, NO_NAN),
    "noise negative": ({"sigma_y": -0.1}, f"Noise sigma must be|{OUT_OF_RANGE}"),
    "noise huge": ({"sigma_y": 1e30}, f"Noise sigma must be|{OUT_OF_RANGE}"),
    "seed negative": ({"seed": -1}, "Seed must be"),
    "seed huge": ({"seed": 1e30}, "Seed must be"),
    "mask ratio above 1": ({"amount": 5.0}, OUT_OF_RANGE),
    "mask ratio nan": ({"amount": float("nan")}, NO_NAN),
    "unknown corruption path": ({"corruption": "../../etc/passwd"}, f"Unknown corruption|{NOT_A_CHOICE}"),
    "unknown method": ({"method": "magic"}, f"Unknown method|{NOT_A_CHOICE}"),
    "unknown solver": ({"solver": "/bin/sh"}, NOT_A_CHOICE),
    "unknown sampler path": ({"sampler": "../../../etc/shadow"}, f"Unknown sampler|{NOT_A_CHOICE}"),
    "prior path": ({"prior": "/etc"}, f"Unknown prior|{NOT_A_CHOICE}"),
    "conditional method on a prior": ({"method": "conditional"}, "Unknown method for gauss"),
    "drawn mask missing": ({"corruption": "user-mask"}, "Draw on the mask canvas first"),
}


@pytest.mark.parametrize("case", sorted(PARAMETERS))
def test_a_bad_parameter_gets_a_clear_error(client: Client, picture: str, case: str) -> None:  # noqa: F811
    changes, message = PARAMETERS[case]
    with pytest.raises(Exception, match=message):
        client.predict(*args(picture, **changes), api_name="/restore")  # type: ignore[arg-type]


def test_a_server_side_path_instead_of_an_upload_is_not_read(client: Client, tmp_path: Path) -> None:  # noqa: F811
    """Raw HTTP, since gradio_client would upload a local path itself: the server must refuse it."""
    secret = tmp_path / "secret.png"
    shirt().save(secret)
    base = client.src.rstrip("/")
    for path in (str(secret), "../../etc/passwd", "/etc/passwd", str(ROOT / "examples" / "fashion-test-0000-boot.png")):
        data = list(args({"path": path, "meta": {"_type": "gradio.FileData"}}))
        event = httpx.post(f"{base}/gradio_api/call/restore", json={"data": data}, timeout=30).json()["event_id"]
        stream = httpx.get(f"{base}/gradio_api/call/restore/{event}", timeout=60).text
        assert "event: error" in stream and "event: complete" not in stream, stream[-300:]
        assert str(secret.parent) not in stream
    for path in (secret, Path("/etc/passwd")):
        assert not app.is_readable_upload(str(path))  # the app's own check behind Gradio's


def test_the_server_still_serves_after_the_battery(client: Client, picture: str) -> None:  # noqa: F811
    assert "done: 3 steps" in list(client.submit(*args(picture), api_name="/restore"))[-1][1]
