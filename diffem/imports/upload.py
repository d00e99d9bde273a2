r"""One uploaded file (the app's Train tab) as an importer, read safely.

An upload is untrusted: it may be a zip bomb, try to write outside its folder, or not be what its
name says. The rules, checked before anything is decoded:

- the file is at most :data:`MAX_UPLOAD_BYTES`; its name ends in ``.zip`` or ``.npz`` and its bytes
  are a readable zip archive (an ``.npz`` is one too);
- at most :data:`MAX_MEMBERS` members, whose declared sizes add up to at most
  :data:`MAX_UNCOMPRESSED_BYTES`; a member over :data:`RATIO_FLOOR` bytes inflating more than
  :data:`MAX_RATIO` times its compressed size is refused as a bomb, and a member that inflates
  past its declared size is stopped there;
- member names are relative paths within the archive: no absolute name, drive letter, backslash,
  NUL or ``..``; symlinks, devices and other non-regular members, and encrypted members, are refused.

A ``.zip`` holds an ``images/`` folder and a ``masks/`` folder with the same file names (white =
observed), at its root or under one top folder (``shapes/images/...``, as zipping a folder gives).
Only those two folders are extracted, member by member (never ``extractall``), into a fresh work
folder; anything else (``metadata.csv``, ``__MACOSX/``, hidden files) is skipped. The extracted
pictures may claim at most :data:`MAX_TOTAL_PIXELS` pixels per folder in all (headers are read
first). The pair of folders is then a :class:`~diffem.imports.folder.FolderImporter`.

An ``.npz`` holds arrays ``y`` and ``mask`` (or ``kernel``) as ``.npy`` members without pickles;
each array's header must fit its member's declared size, and ``y`` may hold at most
:data:`MAX_TOTAL_PIXELS` pixels. The checked copy is read by an
:class:`~diffem.imports.arrays.ArraysImporter`.

Every refusal is an :class:`~diffem.imports.base.ObservationImportError` with one line naming the
upload by its file name (never a server path). Nothing here imports torch.
"""

from __future__ import annotations

import math
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .arrays import ArraysImporter, ArraysOptions, channel_axis
from .base import Importer, ObservationImportError
from .folder import FolderImporter, FolderOptions

MAX_UPLOAD_BYTES = 200 * 2**20
MAX_MEMBERS = 20_000
MAX_UNCOMPRESSED_BYTES = 2**30
#: members smaller than this may compress as well as they like (a white mask PNG stored in a zip...)
RATIO_FLOOR = 2**20
MAX_RATIO = 100
MAX_TOTAL_PIXELS = 64_000_000
FOLDERS = ("images", "masks")
CHUNK_BYTES = 2**20
SUFFIXES = (".zip", ".npz")
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
#: the name of an uploaded .npz's checked copy in the work folder
ARRAYS_COPY = "observations.npz"


class UploadedFolder(FolderImporter):
    """The folders extracted from an uploaded zip; its provenance names the upload, not the work folder."""

    def __init__(self, options: FolderOptions, upload: str) -> None:
        super().__init__(options)
        self.upload = upload

    def provenance(self) -> dict[str, Any]:
        return {"upload": self.upload, "format": "zip"}


class UploadedArrays(ArraysImporter):
    """The checked copy of an uploaded ``.npz``; its provenance names the upload."""

    def __init__(self, options: ArraysOptions, upload: str) -> None:
        super().__init__(options)
        self.upload = upload

    def provenance(self) -> dict[str, Any]:
        return {"upload": self.upload, "format": "npz"}


def refuse(upload: str, problem: str) -> ObservationImportError:
    return ObservationImportError(f"{upload}: {problem}")


def upload_importer(path: str | Path, work: str | Path) -> Importer:
    """The importer of the uploaded file ``path``; ``work`` is a new or empty folder it may write in."""
    source, folder = Path(path), Path(work)
    name = source.name
    suffix = source.suffix.lower()
    if suffix not in SUFFIXES:
        raise refuse(name, "upload a .zip (with images/ and masks/ folders) or a .npz (arrays y and mask); "
                           f"{suffix or 'a file without a suffix'} is neither")
    if not source.is_file():
        raise refuse(name, "the upload is missing; upload the file again")
    size = source.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise refuse(name, f"the file is {size / 2**20:.0f} MB; at most {MAX_UPLOAD_BYTES // 2**20} MB please")
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ValueError(f"the work folder {folder} is not empty")
    if suffix == ".zip":
        return extracted_folders(source, folder)
    return checked_arrays(source, folder)


@contextmanager
def opened_upload(path: str | Path) -> Iterator[Importer]:
    """:func:`upload_importer` with a temporary work folder, removed when the block ends. An import error
    raised in the block names files as they are in the upload, not by their place in the work folder."""
    upload = Path(path).name
    with tempfile.TemporaryDirectory(prefix="diffem-upload-") as work:
        try:
            yield upload_importer(path, work)
        except ObservationImportError as error:
            raise ObservationImportError(named_in_upload(str(error), upload, Path(work))) from None


def named_in_upload(message: str, upload: str, work: Path) -> str:
    """``message`` with work-folder paths made relative to the upload, led by the upload's name."""
    message = message.replace(str(work / ARRAYS_COPY), upload).replace(f"{work}/", "")
    return message if message.startswith(f"{upload}") else f"{upload}: {message}"


def open_archive(source: Path) -> zipfile.ZipFile:
    if not zipfile.is_zipfile(source):
        raise refuse(source.name, "not a readable zip archive (corrupt, or another kind of file renamed)")
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
        raise refuse(source.name, f"a corrupt zip archive ({error})") from None


def member_parts(upload: str, info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The member's path inside the archive, as parts; traversal and absolute names are refused."""
    name = info.filename
    if "\\" in name or "\0" in name:
        raise refuse(upload, f"the member {name!r} has a backslash or NUL in its name; refused")
    if name.startswith("/") or DRIVE_LETTER.match(name):
        raise refuse(upload, f"the member {name!r} has an absolute name; refused")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise refuse(upload, f"the member {name!r} points outside the archive (..); refused")
    return parts


def check_member_kind(upload: str, info: zipfile.ZipInfo) -> None:
    """Regular files and folders only, not encrypted."""
    if info.flag_bits & 0x1:
        raise refuse(upload, f"the member {info.filename!r} is encrypted; upload an archive without a password")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise refuse(upload, f"the member {info.filename!r} is a symbolic link; refused")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise refuse(upload, f"the member {info.filename!r} is not a regular file; refused")


def check_members(upload: str, members: list[zipfile.ZipInfo]) -> None:
    """Count, declared sizes and compression ratios, names and kinds of every member."""
    if len(members) > MAX_MEMBERS:
        raise refuse(upload, f"the archive has {len(members)} members; at most {MAX_MEMBERS}")
    total = 0
    for info in members:
        member_parts(upload, info)
        check_member_kind(upload, info)
        total += info.file_size
        ratio = info.file_size // max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise refuse(upload, f"the member {info.filename!r} would inflate {ratio} times (a zip bomb?); refused")
    if total > MAX_UNCOMPRESSED_BYTES:
        raise refuse(upload, f"the archive would unpack to {total / 2**20:.0f} MB; at most "
                             f"{MAX_UNCOMPRESSED_BYTES // 2**20} MB")


def skipped(parts: tuple[str, ...]) -> bool:
    """macOS resource forks and hidden files (``.DS_Store``) are not part of the data."""
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def data_root(upload: str, files: list[tuple[str, ...]]) -> tuple[str, ...]:
    """``()`` when ``images/`` and ``masks/`` are at the archive's root, ``(top,)`` when under one top folder."""
    tops = {parts[0] for parts in files if len(parts) > 1}
    if set(FOLDERS) <= tops:
        return ()
    if len({parts[0] for parts in files}) == 1:
        top = files[0][0]
        inner = {parts[1] for parts in files if len(parts) > 2}
        if set(FOLDERS) <= inner:
            return (top,)
    found = ", ".join(sorted(f"{p}/" for p in tops)) or "no folders"
    raise refuse(upload, f"the zip must hold an images/ folder and a masks/ folder (at its root or in one top "
                         f"folder); it holds {found}")


def extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, upload: str) -> int:
    """Copy one member to ``target`` (a new file), stopping if it inflates past its declared size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with archive.open(info) as source, open(target, "xb") as sink:
            while chunk := source.read(CHUNK_BYTES):
                written += len(chunk)
                if written > info.file_size:
                    raise refuse(upload, f"the member {info.filename!r} inflates past its declared size; refused")
                sink.write(chunk)
    except FileExistsError:
        raise refuse(upload, f"the archive lists {info.filename!r} twice") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise refuse(upload, f"the member {info.filename!r} is corrupt ({error})") from None
    return written


def extracted_folders(source: Path, work: Path) -> UploadedFolder:
    """Extract ``images/`` and ``masks/`` member by member into ``work``, then check their pixel count."""
    upload = source.name
    with open_archive(source) as archive:
        members = archive.infolist()
        check_members(upload, members)
        files = [(info, member_parts(upload, info)) for info in members if not info.is_dir()]
        files = [(info, parts) for info, parts in files if parts and not skipped(parts)]
        root = data_root(upload, [parts for _, parts in files])
        written = 0
        for info, parts in files:
            inside = parts[len(root):]
            if parts[:len(root)] != root or len(inside) < 2 or inside[0] not in FOLDERS:
                continue
            target = work.joinpath(*inside)
            if not target.resolve().is_relative_to(work.resolve()):
                raise refuse(upload, f"the member {info.filename!r} points outside the archive; refused")
            written += extract_member(archive, info, target, upload)
            if written > MAX_UNCOMPRESSED_BYTES:
                raise refuse(upload, f"the archive unpacks to more than {MAX_UNCOMPRESSED_BYTES // 2**20} MB")
    for folder in FOLDERS:
        (work / folder).mkdir(exist_ok=True)
        check_claimed_pixels(upload, work / folder)
    options = FolderOptions(images=str(work / "images"), masks=str(work / "masks"))
    return UploadedFolder(options, upload)


def check_claimed_pixels(upload: str, folder: Path) -> None:
    """The pictures under ``folder`` claim at most :data:`MAX_TOTAL_PIXELS` in all (headers only, nothing decoded);
    a file that is no picture is left to the importer, which names it."""
    total = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
        total += width * height
        if total > MAX_TOTAL_PIXELS:
            raise refuse(upload, f"the pictures in {folder.name}/ hold more than {MAX_TOTAL_PIXELS // 1_000_000} "
                                 "megapixels in all; upload fewer or smaller images")


def checked_arrays(source: Path, work: Path) -> UploadedArrays:
    """Copy the ``.npz`` into ``work``, check its members and array headers, and read that copy."""
    upload = source.name
    copy = work / ARRAYS_COPY
    shutil.copyfile(source, copy)
    with open_archive(copy) as archive:
        members = archive.infolist()
        check_members(upload, members)
        for info in members:
            check_array_member(archive, info, upload)
    return UploadedArrays(ArraysOptions(file=str(copy)), upload)


def array_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, upload: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise refuse(upload, f"the array {info.filename!r} has .npy format {version}; save it with numpy.savez")
    except ObservationImportError:
        raise
    except (ValueError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise refuse(upload, f"the member {info.filename!r} is not a readable .npy array ({error})") from None
    return tuple(int(n) for n in shape), dtype


def check_array_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, upload: str) -> None:
    """A ``.npy`` member without objects, whose header claims no more data than the member holds."""
    if not info.filename.endswith(".npy") or "/" in info.filename:
        raise refuse(upload, f"the member {info.filename!r} is not an array; a .npz holds y and mask (or kernel) only")
    shape, dtype = array_header(archive, info, upload)
    if dtype.hasobject:
        raise refuse(upload, f"the array {info.filename!r} holds Python objects (pickles are never read)")
    if math.prod(shape) * dtype.itemsize > info.file_size:
        raise refuse(upload, f"the array {info.filename!r} claims {shape} of {dtype}, more than its data; refused")
    if info.filename == "y.npy" and observed_pixels(shape) > MAX_TOTAL_PIXELS:
        raise refuse(upload, f"y holds more than {MAX_TOTAL_PIXELS // 1_000_000} megapixels in all; upload fewer "
                             "or smaller images")


def observed_pixels(shape: tuple[int, ...]) -> int:
    """``N x H x W`` of ``y`` shaped ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``."""
    elements = math.prod(shape)
    if len(shape) != 4:
        return elements
    axis = 3 if channel_axis(shape) == 3 else 1  # an unknown layout is refused later, by the importer
    return elements // max(shape[axis], 1)
