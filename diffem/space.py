"""Deploying the demo to a Hugging Face Space in one command: ``python -m diffem space push OWNER/NAME``.

What a Space needs is an allow-list of this checkout: the app, the package, the shipped
checkpoints, the examples, ``requirements.txt``, ``packages.txt`` (Debian packages) and the
README, whose front matter configures the Space. Training runs, virtual environments, caches and
git metadata never go. The Hub keeps binary files (weights, pictures) in LFS, which the
``.gitattributes`` file written beside them declares. The files are staged in a temporary folder
(the checkout is never modified) and uploaded with ``huggingface_hub.HfApi.upload_folder``
(``repo_type="space"``) with the token in ``HF_TOKEN``. ``--dry-run`` prints the files and their
sizes and touches no network.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: what a Space is made of: paths relative to the checkout, as ``fnmatch`` patterns (whose ``*`` also
#: matches ``/``: ``checkpoints/*/*`` is every file inside a bundle folder, not the scripts beside them)
ALLOW = ("app.py", "requirements.txt", "packages.txt", "README.md", "diffem/*.py", "checkpoints/*/*",
         "checkpoints/README.md", "examples/*.png")
#: never uploaded, even inside an allowed folder
IGNORE = ("*__pycache__*", "*.pyc", "runs/*", ".venv/*", "*.cache/*", ".git/*", "*.tmp", "*.partial")
#: file endings the Hub must keep in LFS
BINARY = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.npz", "*.npy", "*.png", "*.jpg", "*.jpeg",
          "*.webp", "*.gif", "*.zip", "*.gz", "*.parquet")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class SpaceError(ValueError):
    """A refused deployment (bad repository id, no token, nothing to upload)."""


@dataclass(frozen=True)
class SpaceFile:
    path: str
    size: int


def wanted(path: str) -> bool:
    return any(fnmatch.fnmatch(path, p) for p in ALLOW) and not any(fnmatch.fnmatch(path, p) for p in IGNORE)


def space_files(root: str | os.PathLike[str]) -> list[SpaceFile]:
    """The allow-listed files under ``root``, sorted, with their sizes in bytes."""
    root = Path(root)
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and wanted(relative):
            found.append(SpaceFile(relative, path.stat().st_size))
    return found


def lfs_patterns(files: list[SpaceFile]) -> list[str]:
    """The binary kinds (``*.safetensors``...) among ``files``."""
    return sorted({pattern for pattern in BINARY for f in files if fnmatch.fnmatch(f.path, pattern)})


def lfs_attributes(patterns: list[str]) -> str:
    """``.gitattributes`` lines sending each pattern through LFS, as the Hub needs for binary files."""
    return "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in patterns)


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def plan_text(repo_id: str, files: list[SpaceFile], patterns: list[str], attributes: str) -> str:
    lines = [f"{human_size(f.size):>9}  {f.path}" for f in files]
    lines.append(f"{human_size(len(attributes)):>9}  .gitattributes (LFS: {', '.join(patterns)})")
    total = sum(f.size for f in files) + len(attributes)
    lines.append(f"{len(files) + 1} files, {human_size(total)} in all, for the Space {repo_id}")
    return "\n".join(lines)


def stage(root: Path, files: list[SpaceFile], attributes: str, folder: Path) -> None:
    """Copy ``files`` into ``folder`` (same layout) and write the ``.gitattributes`` beside them."""
    for f in files:
        target = folder / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f.path, target)
    (folder / ".gitattributes").write_text(attributes)


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID.match(repo_id):
        raise SpaceError(f"a Space id looks like OWNER/NAME, got {repo_id!r}")
    return repo_id


def push(repo_id: str, root: str | os.PathLike[str], dry_run: bool = False, private: bool = False,
         token: str | None = None) -> str:
    """Upload the Space (or, with ``dry_run``, only say what would be uploaded); returns the report."""
    root = Path(root)
    check_repo_id(repo_id)
    files = space_files(root)
    if not any(f.path == "app.py" for f in files):
        raise SpaceError(f"{root} has no app.py: run this from the diffem checkout (or give --root)")
    patterns = lfs_patterns(files)
    attributes = lfs_attributes(patterns)
    plan = plan_text(repo_id, files, patterns, attributes)
    if dry_run:
        return plan + "\n(dry run: nothing was uploaded)"
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise SpaceError("pushing needs a Hugging Face token with write access in HF_TOKEN")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diffem-space-") as staging:
        stage(root, files, attributes, Path(staging))
        api.upload_folder(folder_path=staging, repo_id=repo_id, repo_type="space",
                          commit_message="Deploy diffem with python -m diffem space push")
    return plan + f"\nuploaded to https://huggingface.co/spaces/{repo_id}"


def default_root() -> Path:
    """The checkout this package runs from (it holds ``app.py``), else the current folder."""
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / "app.py").is_file() else Path(".")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="space_command", required=True, metavar="push", parser_class=type(parser))
    push_parser = actions.add_parser("push", help="upload the app, package, checkpoints and examples to a Space",
                                     formatter_class=parser.formatter_class)
    push_parser.add_argument("repo_id", metavar="OWNER/NAME", help="the Space (created if missing)")
    push_parser.add_argument("--dry-run", action="store_true", help="list the files and sizes; upload nothing")
    push_parser.add_argument("--private", action="store_true", help="create the Space as private")
    push_parser.add_argument("--root", default=str(default_root()), help="the diffem checkout to deploy")


def run(args: argparse.Namespace) -> str:
    return push(args.repo_id, args.root, dry_run=args.dry_run, private=args.private)
