"""The pre-commit hook works as users run it: ``pre-commit try-repo`` on this repository.

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


def test_hook_passes_a_valid_document_and_fails_a_defective_one(precommit: list[str], tmp_path: Path) -> None:
    repo = tmp_path / "docs-repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copy(SAMPLES / "ldl-ses-n1.xml", repo / "lettre.xml")
    shutil.copy(SAMPLES / "body-both-kinds.xml", repo / "deux-corps.xml")
    (repo / "cdacheck.toml").write_text('env = "test"\n', encoding="utf-8")  # test identities
    _git(repo, "add", ".")
    env_home = {"PRE_COMMIT_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
                "HOME": str(tmp_path)}
    ok = subprocess.run([*precommit, "try-repo", str(ROOT), "cdacheck", "--files", "lettre.xml",
                         "--verbose"], cwd=repo, capture_output=True, text=True, timeout=900,
                        env={**env_home, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    assert "Passed" in ok.stdout
    bad = subprocess.run([*precommit, "try-repo", str(ROOT), "cdacheck", "--files", "lettre.xml",
                          "deux-corps.xml"], cwd=repo, capture_output=True, text=True, timeout=900,
                         env={**env_home, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert bad.returncode == 1, bad.stdout[-3000:]
    assert "Failed" in bad.stdout and "SCH/header/hdr-body" in bad.stdout
