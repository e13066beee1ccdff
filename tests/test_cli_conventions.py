"""CLI conventions users know from ruff and check-jsonschema (issue 12, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdacheck.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "samples" / "documents"
BAD = str(DOCS / "body-both-kinds.xml")  # several SCH/ldl-ses and SCH/header errors


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_select_keeps_only_the_named_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "test", "--isolated", BAD]) == 1
    every = _out(capsys)
    assert "SCH/ldl-ses/" in every and "SCH/header/hdr-body" in every
    assert main(["--env", "test", "--isolated", "--select", "SCH/header/", BAD]) == 1
    out = _out(capsys)
    assert "SCH/header/hdr-body" in out and "SCH/ldl-ses/" not in out


def test_ignore_drops_rules_and_can_make_a_document_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "test", "--isolated", "--ignore", "SCH/,XSD,BDY,DOC", BAD]) == 0
    out = _out(capsys)
    assert "SCH/" not in out and "VALIDE" in out


def test_unknown_rule_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "test", "--select", "NOPE123", BAD]) == 2
    assert "NOPE123" in capsys.readouterr().err


def test_statistics_counts_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--env", "test", "--isolated", "-qq", "--statistics", BAD, BAD])
    out = _out(capsys)
    line = next(ln for ln in out.splitlines() if "SCH/header/hdr-body" in ln)
    assert line.split()[0] == "2"
    assert "au total" in out


def test_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "test", "--exit-zero", BAD]) == 0
    assert "INVALIDE" in _out(capsys)
    assert main(["--env", "test", "--exit-zero", str(ROOT / "does-not-exist.d" / "")]) in (0, 1, 2)


@pytest.mark.parametrize(("args", "env", "colored"), [
    (["--color", "always"], {}, True),
    (["--color", "never"], {"FORCE_COLOR": "1"}, False),
    ([], {"FORCE_COLOR": "1"}, True),
    (["--color", "always"], {"NO_COLOR": "1"}, True),
    ([], {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    ([], {}, False),  # captured output is not a terminal
])
def test_color(args: list[str], env: dict[str, str], colored: bool,
               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    main(["--env", "test", *args, BAD])
    assert ("\x1b[" in _out(capsys)) == colored


def test_stdin_filename(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    data = (DOCS / "body-both-kinds.xml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["--env", "test", "--stdin-filename", "lettre-du-dpi.xml", "-"]) == 1
    out = _out(capsys)
    assert "lettre-du-dpi.xml: INVALIDE" in out and "<stdin>" not in out


def test_a_check_that_cannot_run_exits_2_and_names_each_input_once(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cdacheck.engines.packs import PacksEngine

    class Broken:
        def __init__(self, name: str) -> None:
            self.name = name

        def run(self, doc: object) -> None:
            raise RuntimeError(f"paquet {self.name} illisible")

    monkeypatch.setattr(PacksEngine, "native", lambda self, name: Broken(name))
    good = str(DOCS / "ldl-ses-n1.xml")
    assert main(["--env", "test", "--isolated", good, BAD]) == 2
    captured = capsys.readouterr()
    assert "INT103" in captured.out and "illisible" in captured.out
    line = next(x for x in captured.err.splitlines() if "vérification incomplète" in x)
    assert line.endswith(f"pour : {good}, {BAD}"), line  # each once, in order
