"""The cyclic collector is paused while a command starts and always resumed (cdacheck.startup)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = next(iter(sorted((ROOT / "samples").rglob("*.xml"))), None)

_PROBE = """
import gc, sys
from cdacheck import startup
startup.pause()
assert not gc.isenabled()
from cdacheck.cli import main
code = main(sys.argv[1:])
print(code, gc.isenabled(), gc.get_freeze_count() > 0)
"""


def _probe(*args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[-3:]


@pytest.mark.skipif(SAMPLE is None, reason="no bundled sample")
def test_check_resumes_the_collector_once_the_runner_is_built() -> None:
    code, enabled, frozen = _probe("--env", "test", "--format", "json", str(SAMPLE))
    assert code in ("0", "1") and enabled == "True" and frozen == "True"


@pytest.mark.parametrize("args", [("rules",), ("version",), ("xdm", "--help")])
def test_other_commands_resume_it_before_they_run(args: tuple[str, ...]) -> None:
    code, enabled, frozen = _probe(*args)
    assert code == "0" and enabled == "True" and frozen == "True"


def test_a_failing_runner_build_resumes_it_too() -> None:
    code, enabled, _ = _probe("--env", "test", "--kit", str(ROOT / "no-such-kit"), str(ROOT / "samples"))
    assert code != "0" and enabled == "True"


def test_library_import_leaves_the_collector_alone() -> None:
    out = subprocess.run([sys.executable, "-c", "import gc, cdacheck.cli, cdacheck.batch; "
                          "print(gc.isenabled(), gc.get_freeze_count())"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.stdout.split() == ["True", "0"], out.stderr


def test_console_entry_and_python_m_pause_it() -> None:
    probe = ("import gc, runpy, sys; sys.argv = ['cdacheck', '--version'];\n"
             "import cdacheck_entry; cdacheck_entry.quiet_start(); print(gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.stdout.split() == ["False"], out.stderr
