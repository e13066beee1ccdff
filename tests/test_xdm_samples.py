"""Data-driven: every archive under samples/xdm matches its .expected.json sidecar, through
the whole pipeline (archive checks + full validation of every CDA inside) and the CLI."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from cdacheck.cli import main
from cdacheck.config import Settings
from cdacheck.pipeline import Runner

ROOT = Path(__file__).resolve().parent.parent
XDM = ROOT / "samples" / "xdm"
ARCHIVES = sorted(XDM.glob("*.zip"))


def sidecar(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.with_name(path.stem + ".expected.json").read_text(encoding="utf-8"))


_RUNNERS: dict[str, Runner] = {}


def runner(env: str) -> Runner:
    if env not in _RUNNERS:
        _RUNNERS[env] = Runner(Settings(env=env))  # type: ignore[arg-type]
    return _RUNNERS[env]


def test_samples_exist() -> None:
    if not ARCHIVES:
        pytest.skip("samples/xdm is empty: run python scripts/make_samples.py")
    names = {p.stem for p in ARCHIVES}
    for wanted in ("defect-hash-mismatch", "defect-n1-structured-format",
                   "defect-patient-not-ins", "defect-missing-metadata", "defect-traversal",
                   "defect-bomb"):
        assert f"xdm-{wanted}" in names
    for path in ARCHIVES:
        assert path.with_name(path.stem + ".expected.json").is_file()


@pytest.mark.parametrize("path", ARCHIVES, ids=[p.stem for p in ARCHIVES])
def test_archive_matches_sidecar(path: Path) -> None:
    exp = sidecar(path)
    report = runner(exp["env"]).check_archive(path.read_bytes(), path.name)
    found = {f.rule_id for f in report.findings}
    for doc in report.documents:
        found |= {f.rule_id for f in doc.findings}
    assert set(exp["rules"]) <= found, [f.message for f in report.findings]
    assert not set(exp["absent_rules"]) & found
    assert report.valid is exp["valid"], [(f.rule_id, f.message) for f in report.findings]
    assert len(report.documents) == exp["documents"]
    if "indicators" in exp:
        assert [d.indicator.indicator for d in report.documents] == exp["indicators"]


def test_samples_are_up_to_date(tmp_path: Path) -> None:
    """Rebuilding gives byte-identical archives and sidecars (deterministic generator)."""
    if not ARCHIVES:
        pytest.skip("samples/xdm is empty: run python scripts/make_samples.py")
    sys.path.insert(0, str(ROOT / "scripts"))
    import samples_xdm

    docs_dir = tmp_path / "documents"
    docs_dir.mkdir()
    for side in (ROOT / "samples" / "documents").glob("*.expected.json"):
        shutil.copy(side, docs_dir / side.name)
    out = tmp_path / "xdm"
    samples_xdm.build_xdm_samples(out, samples_xdm._documents_from_make_samples())
    built = sorted(p.name for p in out.iterdir())
    assert built == sorted(p.name for p in XDM.iterdir())
    for name in built:
        assert (out / name).read_bytes() == (XDM / name).read_bytes(), name


def test_cli_on_archives(capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: `cdacheck file.zip` exit codes and the JSON archive report."""
    valid = XDM / "xdm-ldl-ses-n1.zip"
    broken = XDM / "xdm-defect-hash-mismatch.zip"
    if not (valid.is_file() and broken.is_file()):
        pytest.skip("samples/xdm is empty: run python scripts/make_samples.py")
    assert main(["--env", "test", "--format", "json", str(valid)]) == 0
    report = json.loads(capsys.readouterr().out)
    (item,) = report["items"]
    assert item["kind"] == "archive" and item["valid"] is True
    assert [d["indicator"]["indicator"] for d in item["documents"]] == ["DS 1.1"]
    assert main(["--env", "test", "--format", "json", str(broken)]) == 1
    item = json.loads(capsys.readouterr().out)["items"][0]
    assert "XDM062" in {f["rule_id"] for f in item["findings"]}
