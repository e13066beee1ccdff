"""Every data file of the package ships: an editable install reads them from the source tree
and hides a missing ``package-data`` glob, which only a real (wheel) install shows — as CI
does. Two checks: the globs of pyproject.toml cover every tracked non-Python file under
cdacheck/, and, when cdacheck is imported from an installed copy, those files are there."""

from __future__ import annotations

import fnmatch
import subprocess
import tomllib
from pathlib import Path

import pytest

import cdacheck

ROOT = Path(__file__).resolve().parent.parent


# setup.py maps the top-level schematrons/ folder (our packs) to cdacheck.schematrons.
_MAPPED = {"schematrons/": "cdacheck/schematrons/"}


def _tracked_data_files() -> list[str]:
    """Tracked non-Python files of the package, by their installed path (cdacheck/...)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    out = subprocess.run(["git", "ls-files", "cdacheck", *_MAPPED], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    files = []
    for p in out:
        for source, installed in _MAPPED.items():
            if p.startswith(source):
                p = installed + p[len(source):]
        if not p.endswith(".py"):
            files.append(p)
    return files


def _covered(path: str, package_data: dict[str, list[str]]) -> bool:
    for package, globs in package_data.items():
        folder = package.replace(".", "/") + "/"
        if not path.startswith(folder):
            continue
        rest = path[len(folder):]
        for glob in globs:
            # setuptools' "**/" also matches no folder at all
            if fnmatch.fnmatch(rest, glob) or fnmatch.fnmatch(rest, glob.replace("**/", "")):
                return True
    return False


def test_package_data_globs_cover_every_tracked_data_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    missing = [p for p in _tracked_data_files() if not _covered(p, package_data)]
    assert missing == [], f"not in [tool.setuptools.package-data], so not installed: {missing}"


def test_installed_copy_has_every_data_file() -> None:
    installed = Path(cdacheck.__file__).resolve().parent
    if installed == (ROOT / "cdacheck").resolve():
        pytest.skip("cdacheck is imported from the source tree (editable install)")
    missing = [p for p in _tracked_data_files()
               if not (installed / Path(p).relative_to("cdacheck")).is_file()]
    assert missing == [], f"absent from the installed package {installed}: {missing}"
