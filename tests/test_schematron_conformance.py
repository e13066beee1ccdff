"""cdacheck's Schematron compiler against the public ISO Schematron conformance suite.

The suite (Schematron/schematron-conformance, ``core/`` and ``svrl/``) is read from
``CDACHECK_SCHEMATRON_CONFORMANCE`` (default ``../shared/schematron-conformance`` from the
repo root). Every case must pass except those listed, with their reason, in
``cdacheck/engines/schematron/conformance-exclusions.json`` (also in docs/kit-mode.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cdacheck.engines.schematron.conformance import case_files, exclusions, run_case

ROOT = Path(__file__).resolve().parents[1]
SUITE = Path(os.environ.get("CDACHECK_SCHEMATRON_CONFORMANCE",
                            ROOT.parent / "shared" / "schematron-conformance"))

pytestmark = pytest.mark.skipif(not (SUITE / "core").is_dir(),
                                reason=f"conformance suite absent ({SUITE}); "
                                       "set CDACHECK_SCHEMATRON_CONFORMANCE")


def test_conformance_suite(capsys: pytest.CaptureFixture[str]) -> None:
    excluded = exclusions()
    files = case_files(SUITE)
    assert len(files) >= 50, f"suite incomplete: {len(files)} cases"
    names = {f"{f.parent.name}/{f.stem}" for f in files}
    assert set(excluded) <= names, f"exclusions naming no case: {sorted(set(excluded) - names)}"
    results = [run_case(f) for f in files]
    passed = [r for r in results if r.passed]
    unexpected = [r for r in results if not r.passed and r.case not in excluded]
    # An excluded case that now passes must leave the list (the list stays honest).
    stale = [r.case for r in results if r.passed and r.case in excluded]
    with capsys.disabled():
        print(f"\nSchematron conformance: {len(passed)}/{len(results)} cases pass, "
              f"{len(excluded)} excluded with a reason, {len(unexpected)} unexpected failure(s)")
        for r in results:
            if not r.passed:
                tag = "excluded" if r.case in excluded else "FAIL"
                print(f"  {tag:8} {r.case}: expected {r.expect}, got {r.outcome} {r.detail}")
    assert not unexpected, [(r.case, r.expect, r.outcome, r.detail) for r in unexpected]
    assert not stale, f"excluded cases that pass now: {stale}"


def test_exclusions_have_reasons() -> None:
    for case, reason in exclusions().items():
        assert len(reason) > 20, case


def test_runner_detects_a_wrong_outcome(tmp_path: Path) -> None:
    # A case whose expectation is wrong must fail: the runner is not a rubber stamp.
    src = (SUITE / "core" / "rule-order-01.xml").read_text(encoding="utf-8")
    expect = 'expect="valid"' if 'expect="invalid"' in src else 'expect="invalid"'
    bad = src.replace('expect="invalid"', "X").replace('expect="valid"', expect).replace("X", expect)
    (tmp_path / "core").mkdir()
    case = tmp_path / "core" / "flipped.xml"
    case.write_text(bad, encoding="utf-8")
    assert not run_case(case).passed


def test_element_content_let_alone(tmp_path: Path) -> None:
    # The second schema of let-value-element-content-01 (the first cannot pass, see the
    # exclusion): a let whose value is its element content.
    from lxml import etree

    src = etree.parse(str(SUITE / "core" / "let-value-element-content-01.xml"))
    ts = "{tag:dmaus@dmaus.name,2019:Schematron:Testsuite}"
    schemas = src.getroot().find(f"{ts}schemas")
    first = schemas.find("{http://purl.oclc.org/dsdl/schematron}schema")
    schemas.remove(first)
    (tmp_path / "core").mkdir()
    case = tmp_path / "core" / "second-schema.xml"
    src.write(str(case))
    result = run_case(case)
    assert result.passed, result
