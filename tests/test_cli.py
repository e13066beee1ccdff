"""The CLI contract: every exit-code branch, stdin, formats, rules, version."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cda_builder import minimal_cda

from cdacheck import model, pipeline
from cdacheck.cli import main


@pytest.fixture()
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.xml"
    path.write_text(minimal_cda("cli"), encoding="utf-8")
    return path


def test_exit_1_when_findings_reach_error(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(doc)]) == 1
    out = capsys.readouterr().out
    assert "INVALIDE" in out and "Résumé" in out


def test_exit_0_when_nothing_reaches_the_threshold(tmp_path: Path) -> None:
    # Only warnings (a BOM) on a document checked with fatal as the threshold.
    path = tmp_path / "bom.xml"
    path.write_bytes(b"\xef\xbb\xbf" + minimal_cda().encode())
    assert main(["--fail-on", "fatal", "--no-xsd", "--no-schematron", "--env", "test", str(path)]) == 0


def test_exit_1_for_unreadable_input(tmp_path: Path) -> None:
    assert main([str(tmp_path / "missing.xml")]) == 1


@pytest.mark.parametrize("argv", [[], ["--no-such-option", "x.xml"], ["--format", "yaml", "x.xml"],
                                  ["--fail-on", "serious", "x.xml"]])
def test_exit_2_on_bad_usage(argv: list[str]) -> None:
    assert main(argv) == 2


def test_exit_2_on_missing_schema(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--xsd", "/no/such/schema.xsd", str(doc)]) == 2
    assert "XSD" in capsys.readouterr().err


def test_exit_2_on_unusable_kit(doc: Path, tmp_path: Path) -> None:
    assert main(["--kit", str(tmp_path), str(doc)]) == 2


def test_exit_2_on_bad_configuration(doc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cdacheck.toml"
    cfg.write_text('env = "staging"\nunknown_key = 1\n')
    assert main(["--config", str(cfg), str(doc)]) == 2
    err = capsys.readouterr().err
    assert "env" in err and "unknown_key" in err


def test_exit_2_on_internal_crash(doc: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    def boom(self, src):  # type: ignore[no-untyped-def]
        raise RuntimeError("kaboom")
    monkeypatch.setattr(pipeline.Runner, "check_source", boom)  # what the streamed batch calls
    assert main([str(doc)]) == 2
    assert "kaboom" in capsys.readouterr().err


def test_crash_inside_a_check_becomes_a_finding(doc: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from cdacheck import checks

    def broken(ctx):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("division")
        yield
    monkeypatch.setattr(checks, "CHECKS", [*checks.CHECKS, broken])
    monkeypatch.setattr(pipeline, "CHECKS", checks.CHECKS)
    # the batch goes on, every report says INT001, and the run exits 2: not fully checked
    assert main(["--format", "json", str(doc), str(doc)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert len(report["items"]) == 2
    for item in report["items"]:
        assert "INT001" in {f["rule_id"] for f in item["findings"]}


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(minimal_cda().encode())))
    assert main(["--format", "json", "-"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["items"][0]["source"] == "<stdin>"
    assert report["items"][0]["facts"]["code"]["code"] == "34874-8"


def test_json_report_is_versioned_and_carries_facts(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--format", "json", "--env", "test", str(doc)])
    report = json.loads(capsys.readouterr().out)
    assert report["schema_version"] == model.REPORT_SCHEMA_VERSION
    assert report["tool"]["cdacheck"]
    assert report["settings"]["env"] == "test"
    item = report["items"][0]
    assert item["facts"]["identity"]["ids"][0]["id_class"] == "INS-NIR-TEST"
    assert set(report["summary"]) >= {"documents", "by_severity", "failed"}


def test_output_file_and_never_overwrite_inputs(doc: Path, tmp_path: Path) -> None:
    before = doc.read_bytes()
    out = tmp_path / "report.json"
    assert main(["--format", "json", "-o", str(out), str(doc)]) == 1
    assert json.loads(out.read_text())["items"]
    assert main(["-o", str(doc), str(doc)]) == 2
    assert doc.read_bytes() == before


def test_qq_prints_only_the_summary(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["-qq", str(doc)])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Résumé")


def test_quiet_still_prints_findings(doc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["-q", str(doc)])
    out = capsys.readouterr().out
    assert "INS004" in out and "Résumé" in out and "  indicateur :" not in out


def test_rules_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert "PRS002" in out and "INT001" in out
    assert main(["rules", "--format", "json"]) == 0
    ids = {r["id"] for r in json.loads(capsys.readouterr().out)}
    assert {"PRS001", "PRS010", "INT001"} <= ids
    assert main(["version"]) == 0
    assert "cdacheck" in capsys.readouterr().out
