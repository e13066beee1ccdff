"""First steps of a newcomer (issue 12, items 4 and 5): the repository root works without an
install, a document given as text is a document, every subcommand has -h, scripts answer
--help without writing anything, a console that cannot show accents does not crash, and the
exit codes cannot mislead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cdacheck
from cdacheck.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "samples" / "documents" / "ldl-ses-n1.xml"


def _run(argv: list[str], cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    full.update(env)
    return subprocess.run(argv, cwd=cwd, env=full, capture_output=True, timeout=300,
                          encoding=env.get("PYTHONIOENCODING", "utf-8"), errors="replace",
                          stdin=subprocess.DEVNULL)


def test_python_m_cdacheck_from_the_repository_root() -> None:
    proc = _run([sys.executable, "-m", "cdacheck", "--env", "test", "-v",
                 "samples/documents/ldl-ses-n1.xml"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "VALIDE" in proc.stdout and "INT0" not in proc.stdout


def test_import_from_the_repository_root_finds_the_packs() -> None:
    code = ("import cdacheck; from cdacheck.engines import packs; "
            "print(packs.pack_path('header').is_file(), cdacheck.is_valid("
            "'samples/documents/ldl-ses-n1.xml', env='test'))")
    proc = _run([sys.executable, "-c", code])
    assert proc.stdout.split() == ["True", "True"], proc.stderr


def test_a_string_holding_a_document_is_a_document() -> None:
    text = DOC.read_text(encoding="utf-8")
    report = cdacheck.check(text, env="test")
    doc = report.documents()[0]
    assert doc.source == "<texte>" and doc.valid and doc.indicator.indicator == "DS 1.1"
    assert cdacheck.check("  \n" + text, env="test").documents()[0].valid


@pytest.mark.parametrize("sub", [[], ["check"], ["rules"], ["version"], ["stats"], ["kit"],
                                 ["xdm"], ["xdm", "build"]])
def test_every_subcommand_has_h(sub: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*sub, "-h"]) == 0
    out = capsys.readouterr()
    assert "Usage" in out.out or "Usage" in out.err


SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py")
                 if "__main__" in p.read_text(encoding="utf-8") or p.name == "gen_xds_tables.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_answer_help_and_write_nothing(script: Path, tmp_path: Path) -> None:
    before = {p for p in ROOT.rglob("*") if ".git" not in p.parts and ".venv" not in p.parts}
    proc = _run([sys.executable, str(script), "--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert proc.stdout.strip(), "--help prints the usage"
    assert list(tmp_path.iterdir()) == [], "nothing written in the current folder"
    after = {p for p in ROOT.rglob("*") if ".git" not in p.parts and ".venv" not in p.parts}
    assert after - before == set() or all("__pycache__" in p.parts for p in after - before)


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_a_console_that_cannot_show_accents(encoding: str) -> None:
    proc = _run([sys.executable, "-m", "cdacheck", "--env", "test",
                 "samples/documents/body-both-kinds.xml"], PYTHONIOENCODING=encoding)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "INVALIDE" in proc.stdout


def test_an_empty_folder_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("rien", encoding="utf-8")
    assert main(["--env", "test", str(tmp_path)]) == 2
    assert "aucun document" in capsys.readouterr().err


def test_an_internal_failure_is_exit_2_and_names_the_document(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cdacheck.checks import CHECKS

    def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setattr("cdacheck.checks.CHECKS", [*CHECKS, broken])
    monkeypatch.setattr("cdacheck.pipeline.CHECKS", [*CHECKS, broken], raising=False)
    code = main(["--env", "test", "--isolated", str(DOC)])
    out = capsys.readouterr()
    assert code == 2
    assert "Vérification incomplète" in out.out and "ldl-ses-n1.xml" in out.out
    assert "vérification incomplète" in out.err


def test_documents_of_a_rejected_archive_feed_no_indicator() -> None:
    report = cdacheck.check(str(ROOT / "samples" / "xdm" / "xdm-defect-hash-mismatch.zip"), env="test")
    arc = report.items[0]
    assert not arc.valid and arc.documents
    for doc in arc.documents:
        assert doc.indicator.indicator == "none"
        assert any("archive XDM" in r for r in doc.indicator.reasons)


def test_valid_follows_the_fail_on_threshold() -> None:
    path = str(ROOT / "samples" / "documents" / "effective-time-no-offset.xml")
    lenient = cdacheck.check(path, env="test")
    strict = cdacheck.check(path, env="test", fail_on="warning")
    assert lenient.documents()[0].valid and not lenient.summary.failed
    assert not strict.documents()[0].valid and strict.summary.failed
