"""``python -m diffem space push``: the allow-list, the LFS rules and the upload, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffem import space

ROOT = Path(__file__).resolve().parents[1]


def fake_checkout(root: Path) -> Path:
    files = {"app.py": "print()", "README.md": "---\nsdk: gradio\n---\n", "requirements.txt": "torch\n",
             "packages.txt": "dataset-fashion-mnist\n", "diffem/__init__.py": "", "diffem/app/stream.py": "",
             "diffem/__pycache__/cli.cpython-311.pyc": "x", "checkpoints/prior/diffem.json": "{}",
             "checkpoints/prior/backbone/model.safetensors": "w" * 2048, "checkpoints/ship.py": "",
             "checkpoints/README.md": "cards", "examples/boot.png": "png", "runs/app/lap/model.safetensors": "w",
             ".venv/lib/site.py": "", ".git/config": "", "notes.txt": "private"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_dry_run_lists_the_allow_list_with_sizes_and_uploads_nothing(tmp_path: Path) -> None:
    report = space.push("me/diffem", fake_checkout(tmp_path), dry_run=True)
    listed = {line.split()[-1] for line in report.splitlines()[:-3]}
    assert listed == {"app.py", "README.md", "requirements.txt", "packages.txt", "diffem/__init__.py",
                      "diffem/app/stream.py", "checkpoints/prior/diffem.json",
                      "checkpoints/prior/backbone/model.safetensors", "checkpoints/README.md", "examples/boot.png"}
    assert "2.0 KB  checkpoints/prior/backbone/model.safetensors" in report
    assert ".gitattributes (LFS: *.png, *.safetensors)" in report and "dry run: nothing was uploaded" in report


def test_the_real_checkout_ships_its_priors_and_never_its_runs() -> None:
    files = {f.path for f in space.space_files(ROOT)}
    assert {"app.py", "requirements.txt", "README.md", "diffem/app/observation.py"} <= files
    assert any(p.startswith("checkpoints/em-mmps-fashion-mask75/") and p.endswith(".safetensors") for p in files)
    assert not [p for p in files if p.startswith(("runs/", ".venv/", ".git/")) or "__pycache__" in p]
    assert "*.safetensors filter=lfs diff=lfs merge=lfs -text\n" in space.lfs_attributes(
        space.lfs_patterns(space.space_files(ROOT)))


def test_a_push_uploads_exactly_the_planned_files_with_the_lfs_rules(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    seen: dict[str, object] = {}

    class RecordingApi:
        def __init__(self, token: str) -> None:
            seen["token"] = token

        def create_repo(self, repo_id: str, **options: object) -> None:
            seen["repo"] = (repo_id, options["repo_type"], options["space_sdk"])

        def upload_folder(self, folder_path: str, repo_id: str, repo_type: str, **_: object) -> None:
            staged = Path(folder_path)
            seen["files"] = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
            seen["attributes"] = (staged / ".gitattributes").read_text()
            seen["type"] = repo_type

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    root = fake_checkout(tmp_path / "checkout")
    report = space.push("me/diffem", root)
    planned = {f.path for f in space.space_files(root)} | {".gitattributes"}
    assert seen["files"] == planned and seen["type"] == "space" and seen["repo"] == ("me/diffem", "space", "gradio")
    assert "*.safetensors filter=lfs" in str(seen["attributes"]) and seen["token"] == "hf_secret"
    assert report.endswith("uploaded to https://huggingface.co/spaces/me/diffem")
    assert not (root / ".gitattributes").exists()  # the checkout itself is left as it was


@pytest.mark.parametrize("repo_id, message", [("no-owner", "OWNER/NAME"), ("me/diffem", "HF_TOKEN")])
def test_a_push_is_refused_without_a_space_id_or_a_token(repo_id: str, message: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(space.SpaceError, match=message):
        space.push(repo_id, fake_checkout(tmp_path))
    with pytest.raises(space.SpaceError, match="no app.py"):
        space.push("me/diffem", tmp_path / "empty", dry_run=True)


def test_the_command_line_dry_run_and_its_one_line_errors(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from diffem.cli import main

    monkeypatch.chdir("/")
    assert main(["space", "push", "me/diffem", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "app.py" in out and ".safetensors" in out and "dry run: nothing was uploaded" in out
    monkeypatch.delenv("HF_TOKEN", raising=False)
    for argv, message in ((["space", "push", "no-owner"], "OWNER/NAME"), (["space", "push", "me/diffem"], "HF_TOKEN")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("diffem: error:") and message in err
