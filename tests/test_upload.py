"""Uploaded files as importers (:mod:`diffem.imports.upload`): good zips and npz files import, and every
unsafe archive (bombs, traversal, links, lies about sizes, corrupt or renamed files) is refused in one line."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from diffem.imports import ImportSettings, ObservationImportError, import_observations
from diffem.imports import upload
from diffem.imports.upload import UploadedArrays, UploadedFolder, opened_upload, upload_importer

ROOT = Path(__file__).resolve().parents[1]
COUNT = 12


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples script's folder (images/, masks/, metadata.csv) and its shapes.npz beside it."""
    root = tmp_path_factory.mktemp("shapes")
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_masked_shapes.py"), "--out", str(root / "shapes"),
                    "--count", str(COUNT), "--npz", str(root / "shapes.npz")], check=True, capture_output=True)
    return root


def zip_folder(folder: Path, out: Path, top: str | None = None, extra: dict[str, bytes] | None = None) -> Path:
    """``folder``'s files in a zip, under ``top/`` if given (as zipping a folder gives), plus ``extra`` members."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                archive.write(path, f"{top}/{name}" if top else name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out


def imported(path: Path, tmp_path: Path) -> dict:
    with opened_upload(path) as importer:
        return import_observations(importer, ImportSettings(held_out=0.25), tmp_path / "obs")


@pytest.mark.parametrize("top", [None, "shapes"])
def test_a_zip_of_images_and_masks_imports_at_its_root_or_under_one_folder(shapes: Path, tmp_path: Path,
                                                                           top: str | None) -> None:
    archive = zip_folder(shapes / "shapes", tmp_path / "mine.zip", top,
                         extra={"__MACOSX/shapes/images/._shape-0000.png": b"resource fork",
                                f"{top + '/' if top else ''}images/.DS_Store": b"finder"})
    summary = imported(archive, tmp_path)
    assert summary["observations"] + summary["held_out"] == COUNT
    assert (summary["size"], summary["channels"], summary["corruption"]) == (32, 3, "user-mask")
    assert 0.3 < summary["observed_fraction"] < 0.7
    meta = json.loads((tmp_path / "obs" / "observations.json").read_text())
    assert meta["info"]["imported"] == {"importer": "folder", "upload": "mine.zip", "format": "zip"}


def test_a_npz_imports_through_a_checked_copy(shapes: Path, tmp_path: Path) -> None:
    summary = imported(shapes / "shapes.npz", tmp_path)
    assert summary["observations"] + summary["held_out"] == COUNT and summary["channels"] == 3
    with opened_upload(shapes / "shapes.npz") as importer:
        assert isinstance(importer, UploadedArrays)
        assert Path(importer.options.file).parent != shapes  # the copy in the work folder is what is read
        work = Path(importer.options.file).parent
    assert not work.exists()  # the work folder goes when the block ends


def test_only_images_and_masks_are_extracted(shapes: Path, tmp_path: Path) -> None:
    archive = zip_folder(shapes / "shapes", tmp_path / "mine.zip", extra={"clean/secret.png": b"x", "run.sh": b"rm"})
    work = tmp_path / "work"
    importer = upload_importer(archive, work)
    assert isinstance(importer, UploadedFolder)
    assert sorted(p.name for p in work.iterdir()) == ["images", "masks"]
    assert len(list((work / "images").iterdir())) == COUNT


def bomb(path: Path) -> Path:
    """20 MB of zeros deflated to a few kilobytes: a thousand-fold inflation."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images/a.png", b"\0" * 20_000_000)
        archive.writestr("masks/a.png", b"\0")
    return path


def with_member(path: Path, info: zipfile.ZipInfo, data: bytes = b"x") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("masks/a.png", b"x")
        archive.writestr(info, data)
    return path


def symlink(path: Path) -> Path:
    info = zipfile.ZipInfo("images/a.png")
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return with_member(path, info, b"/etc/passwd")


def device(path: Path) -> Path:
    info = zipfile.ZipInfo("images/a.png")
    info.create_system = 3
    info.external_attr = 0o060644 << 16  # a block device
    return with_member(path, info)


def declared_size(path: Path, size: int, data: bytes = b"\x89PNG" + b"x" * 60) -> Path:
    """A stored member whose central directory entry claims ``size`` uncompressed bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images/a.png", data)
        archive.writestr("masks/a.png", data)
    raw = bytearray(path.read_bytes())
    entry = raw.index(b"PK\x01\x02")
    raw[entry + 24:entry + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(raw))
    return path


def flipped_data(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images/a.png", bytes(range(256)) * 64)
        archive.writestr("masks/a.png", b"x")
    raw = bytearray(path.read_bytes())
    raw[60:70] = b"\xff" * 10  # inside the first member's deflated data
    path.write_bytes(bytes(raw))
    return path


def npz(path: Path, **arrays: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue())
    return path


def npz_claiming(path: Path) -> Path:
    """A y.npy whose header claims a terabyte but holds a few bytes."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**6, 512, 512)}
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("y.npy", stream.getvalue() + b"\0" * 64)
    return path


CASES: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "zip bomb": ("bomb.zip", bomb, "inflate 1\\d{3} times"),
    "declared 4 GB": ("big.zip", lambda p: declared_size(p, 2**32 - 1), "inflate|unpack to"),
    "inflates past its declared size": ("liar.zip", lambda p: declared_size(p, 10), "inflates past|corrupt"),
    "parent traversal": ("up.zip", lambda p: with_member(p, zipfile.ZipInfo("images/../../evil.png")),
                         "outside the archive"),
    "absolute name": ("abs.zip", lambda p: with_member(p, zipfile.ZipInfo("/tmp/evil.png")), "absolute name"),
    "drive letter": ("c.zip", lambda p: with_member(p, zipfile.ZipInfo("C:/evil.png")), "absolute name"),
    "backslashes": ("win.zip", lambda p: with_member(p, zipfile.ZipInfo("images\\..\\..\\evil.png")), "backslash"),
    "symlink": ("link.zip", symlink, "symbolic link"),
    "device": ("dev.zip", device, "not a regular file"),
    "corrupt member": ("flip.zip", flipped_data, "corrupt"),
    "truncated zip": ("cut.zip", lambda p: (p.write_bytes(bomb(p).read_bytes()[:200]), p)[1], "not a readable zip"),
    "text named .zip": ("notes.zip", lambda p: (p.write_text("hello"), p)[1], "not a readable zip"),
    "another kind of file": ("notes.txt", lambda p: (p.write_text("hello"), p)[1], "neither"),
    "no masks folder": ("half.zip", lambda p: (zipfile.ZipFile(p, "w").writestr("images/a.png", b"x"), p)[1],
                        "images/ folder and a masks/ folder"),
    "npz of objects": ("objects.npz", lambda p: npz(p, y=np.array([{"a": 1}], dtype=object), mask=np.ones(1)),
                       "Python objects"),
    "npz header lies": ("huge.npz", npz_claiming, "more than its data"),
    "npz with a folder member": ("odd.npz", lambda p: (zipfile.ZipFile(p, "w").writestr("sub/y.npy", b"x"), p)[1],
                                 "'sub/y.npy' is not an array"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unsafe_or_unreadable_upload_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    name, make, message = CASES[case]
    path = make(tmp_path / name)
    work = tmp_path / "sub" / "work"
    with pytest.raises(ObservationImportError, match=message) as error:
        upload_importer(path, work)
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{name}: ") and str(tmp_path) not in text
    assert not list(tmp_path.rglob("evil.png"))  # nothing was written outside the work folder
    written = [p for p in work.rglob("*") if p.is_file()] if work.exists() else []
    assert all(p.stat().st_size <= 64 for p in written if p.suffix == ".png")


@pytest.mark.parametrize("limit, value, message", [
    ("MAX_UPLOAD_BYTES", 1000, "the file is .* MB; at most"),
    ("MAX_MEMBERS", 5, "members; at most 5"),
    ("MAX_UNCOMPRESSED_BYTES", 2000, "unpack to"),
    ("MAX_TOTAL_PIXELS", 5000, "megapixels in all"),
])
def test_each_limit_refuses_an_archive_over_it(shapes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               limit: str, value: int, message: str) -> None:
    archive = zip_folder(shapes / "shapes", tmp_path / "mine.zip")
    upload_importer(archive, tmp_path / "first")  # within the real limits
    monkeypatch.setattr(upload, limit, value)
    with pytest.raises(ObservationImportError, match=message):
        upload_importer(archive, tmp_path / "second")


def test_an_npz_over_the_pixel_limit_is_refused_from_its_header(shapes: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upload, "MAX_TOTAL_PIXELS", COUNT * 32 * 32 - 1)
    with pytest.raises(ObservationImportError, match="y holds more than"):
        upload_importer(shapes / "shapes.npz", tmp_path / "work")


def test_a_member_that_inflates_past_its_declared_size_is_stopped_there(shapes: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """zipfile itself stops at the declared size (then fails the CRC); behind it the extraction counts too."""
    archive = zip_folder(shapes / "shapes", tmp_path / "mine.zip")
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info, *a, **k: io.BytesIO(b"x" * (info.file_size + 1)))
    with pytest.raises(ObservationImportError, match="inflates past its declared size"):
        upload_importer(archive, tmp_path / "work")


def test_an_import_error_names_files_as_they_are_in_the_upload(shapes: Path, tmp_path: Path) -> None:
    archive = zip_folder(shapes / "shapes", tmp_path / "mine.zip", extra={"images/extra.png": b"x"})
    with pytest.raises(ObservationImportError) as error:
        imported(archive, tmp_path)
    assert str(error.value) == "mine.zip: images/extra.png has no mask: expected masks/extra.png"
    broken = npz(tmp_path / "odd.npz", y=np.zeros((3, 32, 32)), mask=np.full((3, 32, 32), 0.5))
    with pytest.raises(ObservationImportError, match=r"^odd.npz: mask odd.npz\[0\] holds values other than 0 and 1"):
        imported(broken, tmp_path)
