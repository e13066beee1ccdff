"""Issue 10, library and process class: threads, awkward paths, -o, Ctrl-C, terminal
escaping, configuration discovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import cdacheck
from cdacheck.cli import main
from cdacheck.config import find_config, load_settings
from cdacheck.inputs import sources
from cdacheck.inputs.outputs import overwritten_input
from cdacheck.reporters.text import clean

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "samples" / "documents"


def _xsd_messages(report: cdacheck.RunReport) -> list[str]:  # type: ignore[name-defined]
    return sorted(f.message for d in report.documents() for f in d.findings if f.rule_id == "XSD001")


def test_check_is_thread_safe() -> None:
    """Documents with different schema errors, checked from 8 threads at once, each get
    exactly their own XSD findings (one shared XMLSchema mixed them up)."""
    base = (DOCS / "ldl-ses-n1.xml").read_bytes()
    variants = [base.replace(b'<versionNumber value="1"/>', f'<versionNumber value="v{i}"/>'.encode())
                for i in range(8)]
    variants += [base.replace(b"<languageCode", f"<bad{i}/><languageCode".encode()) for i in range(8)]
    expected = [_xsd_messages(cdacheck.check(v, env="test")) for v in variants]
    assert all(expected) and len({tuple(e) for e in expected}) == len(variants)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _round in range(3):
            got = list(pool.map(lambda v: _xsd_messages(cdacheck.check(v, env="test")), variants))
            assert got == expected


def test_non_utf8_file_name_is_a_finding_and_the_batch_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if sys.platform == "darwin":
        pytest.skip("macOS file systems refuse non-UTF-8 names")
    odd = os.fsdecode(b"bad\xff\x1b[31m.xml")
    (tmp_path / odd).write_bytes((DOCS / "cro-n1.xml").read_bytes())
    (tmp_path / "good.xml").write_bytes((DOCS / "cro-n1.xml").read_bytes())
    code = main(["check", "--isolated", "--env", "test", "--format", "json", str(tmp_path)])
    out = capsys.readouterr().out
    labels = [i["source"] for i in json.loads(out)["items"]]
    assert code == 0 and len(labels) == 2
    assert any("\\xff" in label for label in labels)
    main(["check", "--isolated", "--env", "test", str(tmp_path)])
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\\x1b" in text


def test_unreadable_sub_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.xml").write_bytes((DOCS / "cro-n1.xml").read_bytes())
    locked = tmp_path / "locked"
    locked.mkdir()
    real_walk = os.walk

    def walk(top, onerror=None, followlinks=False):  # type: ignore[no-untyped-def]
        for entry in real_walk(top, onerror=onerror, followlinks=followlinks):
            if Path(entry[0]) == locked:
                if onerror is not None:
                    onerror(PermissionError(13, "Permission non accordée", str(locked)))
                continue
            yield entry

    monkeypatch.setattr(sources.os, "walk", walk)
    report = cdacheck.check(tmp_path, env="test")
    rules = {i.source: [f.rule_id for f in i.findings] for i in report.items}
    assert rules[str(locked)] == ["PRS012"]
    assert rules[str(tmp_path / "ok" / "a.xml")] == []


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root reads every file and folder: permissions cannot be tested")
def test_unreadable_file_and_folder_for_real(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    secret = tmp_path / "secret.xml"
    secret.write_bytes(b"<a/>")
    secret.chmod(0)
    (tmp_path / "sub").chmod(0)
    try:
        report = cdacheck.check(tmp_path, env="test")
        rules = sorted(f.rule_id for i in report.items for f in i.findings)
        assert rules == ["PRS010", "PRS012"]
    finally:
        (tmp_path / "sub").chmod(0o755)


def test_too_long_path_and_special_files(tmp_path: Path) -> None:
    long = tmp_path / ("x" * 300 + ".xml")
    deep = tmp_path.joinpath(*(["d" * 200] * 30), "a.xml")
    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)
    report = cdacheck.check([long, deep, fifo, Path("/dev/zero"), Path("/dev/stdin")], env="test")
    assert [[f.rule_id for f in i.findings] for i in report.items] == [["PRS010"]] * 5
    assert "trop long" in report.items[0].findings[0].message
    assert "ordinaire" in report.items[2].findings[0].message


def test_output_never_overwrites_an_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "in.xml"
    original = (DOCS / "cro-n1.xml").read_bytes()
    doc.write_bytes(original)
    hard = tmp_path / "hard.xml"
    os.link(doc, hard)
    link = tmp_path / "link.xml"
    link.symlink_to(doc)
    for output, inputs in ((hard, [str(doc)]), (link, [str(doc)]), (doc, [str(tmp_path)]),
                           (tmp_path / "." / "in.xml", [str(doc)])):
        assert overwritten_input(output, inputs) is not None
        assert main(["check", "--isolated", "-o", str(output), *inputs]) == 2
    with doc.open("rb") as fh:
        assert overwritten_input(doc, ["-"], stdin_fd=fh.fileno()) == "<stdin>"
    assert overwritten_input(tmp_path / "new.json", [str(doc)]) is None
    assert doc.read_bytes() == original
    assert "ne modifie jamais" in capsys.readouterr().err


def test_stdin_file_is_protected_end_to_end(tmp_path: Path) -> None:
    doc = tmp_path / "in.xml"
    doc.write_bytes((DOCS / "cro-n1.xml").read_bytes())
    with doc.open("rb") as fh:
        proc = subprocess.run([sys.executable, "-m", "cdacheck", "--isolated", "-o", str(doc), "-"],
                              stdin=fh, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "<stdin>" in proc.stderr
    assert doc.read_bytes() == (DOCS / "cro-n1.xml").read_bytes()


# From 0.4 s on: the first tens of milliseconds are the interpreter's own start-up (site),
# before any cdacheck code runs; a Ctrl-C there is Python's, not ours.
@pytest.mark.parametrize("delay", [0.4, 1.0, 2.5])
def test_ctrl_c_exits_130_without_traceback(delay: float, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    # Enough work (several seconds) that every delay lands while documents are checked: an
    # interrupt during the interpreter's own shutdown, after the last document, kills the
    # process by the signal (-2), before and beyond any handler of ours.
    for i in range(400):
        (folder / f"d{i:03}.xml").write_bytes((DOCS / "ldl-ses-n1.xml").read_bytes())
    script = Path(sys.executable).with_name("cdacheck")
    if not script.exists():
        pytest.skip("the cdacheck console script is not installed next to this Python")
    proc = subprocess.Popen([str(script), "--isolated", "--env", "test", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run ended before the interrupt")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrompu" in err


def test_clean_escapes_terminal_controls() -> None:
    assert clean("a\x1b[2Jb\x9b31m\u202ec\x07") == "a\\x1b[2Jb\\x9b31m\\u202ec\\x07"
    assert clean("ligne\nsuivante\ttab") == "ligne suivante tab"
    assert clean("Élément « é »") == "Élément « é »"


# ----------------------------------------------------------------------------- configuration

def test_config_only_from_cwd_or_its_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cdacheck.toml").write_text('env = "test"\n')  # above the project: ignored
    project = tmp_path / "project"
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    (project / ".git").mkdir()
    monkeypatch.chdir(sub)
    assert find_config() is None
    (project / "cdacheck.toml").write_text('fail_on = "warning"\n')
    found = find_config()
    assert found is not None and found[0] == project / "cdacheck.toml"
    (sub / "cdacheck.toml").write_text('fail_on = "info"\n')
    settings = load_settings()
    assert settings.fail_on.value == "info" and settings.config_file == str(sub / "cdacheck.toml")
    outside = tmp_path / "loose" / "x"
    outside.mkdir(parents=True)
    monkeypatch.chdir(outside)  # no project root: only the current directory counts
    assert find_config() is None


def test_config_file_is_named_and_isolated_ignores_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cdacheck.toml").write_text('disable = ["PRS001"]\n')
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(empty)]) == 0  # PRS001 disabled by the file
    out = capsys.readouterr().out
    assert f"Configuration : {tmp_path / 'cdacheck.toml'}" in out
    main(["check", "--format", "json", str(empty)])
    assert json.loads(capsys.readouterr().out)["settings"]["config_file"] == str(tmp_path / "cdacheck.toml")
    assert main(["check", "--isolated", str(empty)]) == 1
    assert "Configuration" not in capsys.readouterr().out
    assert main(["check", "--isolated", "--config", str(tmp_path / "cdacheck.toml"), str(empty)]) == 2
