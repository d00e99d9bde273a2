"""Every shell and Python block of README.md runs as written, in order, after ``make setup``.

The blocks run one after another in a scratch copy of the repository: a temporary folder of
symbolic links to the repository's own files and folders, without the README examples' outputs
(whatever ``.gitignore`` lists, except ``.venv``), so ``runs/``, ``samples.png`` and ``restored-*/``
are written there and later blocks see what earlier ones wrote. The environment is the one the
README's set-up gives: ``.venv/bin`` first on ``PATH`` (as after ``source .venv/bin/activate``),
``HF_HUB_OFFLINE=1``, and the small settings the README names (``PRIOR_SAMPLES``).

A block that cannot run here is marked in the README by the line

    <!-- readme-test: skip (REASON) -->

right before its fence, with a reason; it is reported as skipped (``pytest -ra`` lists it). Every
fence must say its language, so that no shell or Python block escapes by having none.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHELL = {"bash", "sh", "shell"}
PYTHON = {"python", "py"}
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*-->$")
FENCE = re.compile(r"^```(?P<info>\S*)\s*$")
#: the README's documented knobs for examples that would take minutes at full size
SMALL_SETTINGS = {"PRIOR_SAMPLES": "16"}
BLOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    skip: str | None  # the marker's reason

    @property
    def label(self) -> str:
        return f"line-{self.line}-{self.language or 'unlabelled'}"


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block, with its language and the skip marker just before it (if any)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        start = index
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
        previous = next((lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        marker = SKIP.match(previous)
        blocks.append(Block(start + 1, match["info"].lower(), "\n".join(lines[start + 1:end]) + "\n",
                            marker["reason"].strip() if marker else None))
        index = end + 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
RUNNABLE = [b for b in BLOCKS if b.language in SHELL | PYTHON]


def ignored_patterns() -> list[str]:
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return [line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")]


def scratch_copy(folder: Path) -> Path:
    """Links to the repository's top-level entries, leaving out its git-ignored outputs (not .venv)."""
    patterns = ignored_patterns()
    for entry in ROOT.iterdir():
        ignored = any(fnmatch.fnmatch(entry.name, p) for p in patterns)
        if entry.name == ".git" or (ignored and entry.name != ".venv"):
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.fail("run `make setup` first: the README's examples use its .venv")
    return scratch_copy(tmp_path_factory.mktemp("readme"))


def environment(scratch: Path) -> dict[str, str]:
    venv = scratch / ".venv"
    return {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv), "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1", **SMALL_SETTINGS}


def command_for(block: Block, scratch: Path) -> list[str]:
    if block.language in SHELL:
        return ["bash", "-e", "-o", "pipefail", "-c", block.code]
    script = scratch / f".readme-block-{block.line}.py"
    script.write_text(block.code)
    return [str(scratch / ".venv" / "bin" / "python"), str(script)]


def test_every_fence_names_its_language_and_every_skip_a_reason() -> None:
    unlabelled = [b.line for b in BLOCKS if not b.language]
    assert not unlabelled, f"README.md fences without a language at lines {unlabelled}"
    text = README.read_text(encoding="utf-8")
    markers = [line for line in text.splitlines() if line.lstrip().startswith("<!--") and "readme-test" in line]
    assert len(markers) == sum(b.skip is not None for b in BLOCKS), \
        f"a readme-test marker is malformed or not right before a fence: {markers}"
    assert RUNNABLE, "README.md has no shell or Python block"


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.label for b in RUNNABLE])
def test_readme_block_runs_as_written(block: Block, scratch: Path) -> None:
    if block.skip is not None:
        pytest.skip(f"README.md line {block.line}: {block.skip}")
    result = subprocess.run(command_for(block, scratch), cwd=scratch, env=environment(scratch),
                            capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    assert result.returncode == 0, (f"README.md block at line {block.line} exited with {result.returncode}:\n"
                                    f"{block.code}\n--- stderr (tail) ---\n{result.stderr[-3000:]}")


def test_blocks_and_markers_are_read_as_documented() -> None:
    text = ("intro\n\n<!-- readme-test: skip (GPU only) -->\n```bash\nnvidia-smi\n```\n\n"
            "```python\nprint(1)\n```\n```text\nnot code\n```\n")
    blocks = readme_blocks(text)
    assert [(b.line, b.language, b.skip) for b in blocks] == [(4, "bash", "GPU only"), (8, "python", None),
                                                               (11, "text", None)]
    assert blocks[1].code == "print(1)\n"
    assert SKIP.match("<!-- readme-test: skip () -->") is None, "a skip needs a reason"
