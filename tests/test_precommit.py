"""The pre-commit hook works as users run it: ``pre-commit run`` with this repository in .pre-commit-config.yaml.

pre-commit builds the hook's own environment (``pip install`` of this repository), so the
test needs the package index; it is skipped when pre-commit is not installed or the project
is not a git checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "documents"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def precommit() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: pre-commit try-repo needs one")
    exe = Path(sys.executable).parent / "pre-commit"
    if not exe.exists():
        pytest.skip("pre-commit is not installed (pip install pre-commit)")
    return [str(exe)]


def _snapshot(dest: Path) -> tuple[Path, str]:
    """This working tree (tracked files, uncommitted edits included) as a one-commit repository.

    ``try-repo`` on a dirty checkout makes a new shadow repository, hence a new hook
    environment (a whole ``pip install``), at every call; a fixed repository and revision
    lets the second call reuse the first one's environment, as users' hooks do."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "-c", "user.name=t", "-c", "user.email=t@test.invalid", "commit", "-qm", "snapshot")
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=dest, capture_output=True, text=True,
                         check=True).stdout.strip()
    return dest, rev


def test_hook_passes_a_valid_document_and_fails_a_defective_one(precommit: list[str], tmp_path: Path) -> None:
    hook_repo, rev = _snapshot(tmp_path / "hook-repo")
    repo = tmp_path / "docs-repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copy(SAMPLES / "ldl-ses-n1.xml", repo / "lettre.xml")
    shutil.copy(SAMPLES / "body-both-kinds.xml", repo / "deux-corps.xml")
    (repo / "cdacheck.toml").write_text('env = "test"\n', encoding="utf-8")  # test identities
    # As users configure it (.pre-commit-config.yaml, a repo and a rev); the second run
    # reuses the hook environment the first one built in PRE_COMMIT_HOME.
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hook_repo}\n  rev: {rev}\n  hooks:\n  - id: cdacheck\n", encoding="utf-8")
    _git(repo, "add", ".")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    run = [*precommit, "run", "cdacheck", "--verbose", "--files"]
    ok = subprocess.run([*run, "lettre.xml"], cwd=repo, capture_output=True, text=True,
                        timeout=900, env=env)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    assert "Passed" in ok.stdout
    bad = subprocess.run([*run, "lettre.xml", "deux-corps.xml"], cwd=repo, capture_output=True,
                         text=True, timeout=900, env=env)
    assert bad.returncode == 1, bad.stdout[-3000:]
    assert "Failed" in bad.stdout and "SCH/header/hdr-body" in bad.stdout, bad.stdout[-3000:]
    assert "Installing environment" not in bad.stdout  # the environment was reused
