"""Atomic writes: build in a temporary sibling, then rename into place.

A reader (or a resumed run) sees either the old complete file/folder or the new complete one,
never a half-written one, even if the writer is killed. What is renamed into place gets the
permissions an ordinary ``open``/``mkdir`` would give it (``0o666``/``0o777`` less the umask),
not the owner-only ones of :mod:`tempfile`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``target`` whole."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
        _settle_tree(staging)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file and a rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def atomic_write_json(target: str | os.PathLike[str], payload: Any) -> None:
    atomic_write_bytes(target, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def current_umask() -> int:
    """The process's umask, read without changing it where Linux reports it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (a brief window in which another thread sees 022)
    os.umask(mask)
    return mask


def _settle_tree(root: Path) -> None:
    """Flush every file to disk and give the tree ordinary permissions.

    ``mkdtemp`` makes the folder owner-only and some writers (safetensors) make owner-only files;
    folders get ``0o777`` and files ``0o666`` (``0o777`` if owner-executable) less the umask.
    """
    umask = current_umask()
    os.chmod(root, 0o777 & ~umask)
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, 0o777 & ~umask)
        elif path.is_file():
            executable = path.stat().st_mode & 0o100
            os.chmod(path, (0o777 if executable else 0o666) & ~umask)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
