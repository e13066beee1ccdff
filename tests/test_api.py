"""The library API: check, iter_findings, is_valid, validate."""

from __future__ import annotations

from pathlib import Path

import pytest
from cda_builder import minimal_cda

import cdacheck


def test_check_several_sources(tmp_path: Path) -> None:
    p = tmp_path / "a.xml"
    p.write_text(minimal_cda())
    report = cdacheck.check([p, minimal_cda().encode(), b"<broken"], env="test")
    assert [i.source for i in report.items] == [str(p), "<bytes>", "<bytes>"]
    assert report.summary.documents == 3


def test_iter_findings_and_validate() -> None:
    report = cdacheck.check(b"<broken")
    assert [f.rule_id for f in cdacheck.iter_findings(report)] == ["PRS002"]
    with pytest.raises(cdacheck.ValidationFailed) as info:
        cdacheck.validate(b"<broken")
    assert info.value.report.summary.failed
    assert "PRS002" in str(info.value)


def test_settings_override_is_recorded() -> None:
    report = cdacheck.check(b"<broken", fail_on="fatal", env="test")
    assert report.settings["fail_on"] == "fatal" and report.settings["env"] == "test"
    assert report.summary.failed  # PRS002 is fatal
    assert cdacheck.is_valid(b"\xef\xbb\xbf" + minimal_cda().encode(), fail_on="fatal", skip_xsd=True,
                             skip_schematron=True, env="test")
