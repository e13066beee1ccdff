"""Shared fixtures: where the official kit is, and where the project's samples are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def kit_path() -> Path | None:
    """The official ANS kit folder (CDACHECK_KIT, default ../shared/cisis-kit), if present."""
    raw = os.environ.get("CDACHECK_KIT")
    path = Path(raw) if raw else ROOT.parent / "shared" / "cisis-kit"
    return path if (path / "ExemplesCDA").is_dir() else None


def oracle_path() -> Path | None:
    """The official pipeline's recorded results (next to the kit: ../oracle), if present."""
    raw = os.environ.get("CDACHECK_ORACLE")
    kit = kit_path()
    path = Path(raw) if raw else (kit.parent / "oracle" if kit else ROOT.parent / "shared" / "oracle")
    return path if (path / "official-verdicts.json").is_file() else None


@pytest.fixture(scope="session")
def kit_dir() -> Path:
    path = kit_path()
    if path is None:
        pytest.skip("official ANS kit not found: set CDACHECK_KIT to a TestContenuCDA checkout "
                    "(default ../shared/cisis-kit)")
    return path


@pytest.fixture(scope="session")
def oracle_dir() -> Path:
    path = oracle_path()
    if path is None:
        pytest.skip("official pipeline results not found: set CDACHECK_ORACLE "
                    "(default ../shared/oracle)")
    return path


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


# --------------------------------------------------------------------------- report contract

@pytest.fixture(autouse=True, scope="session")
def _every_report_follows_the_schema():  # type: ignore[no-untyped-def]
    """Every RunReport any test builds is validated against the shipped JSON Schema."""
    try:
        import jsonschema
    except ImportError:  # the test extra is not installed: nothing to validate with
        yield
        return
    from cdacheck import pipeline
    from cdacheck.schema import report_schema

    schema = report_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    original = pipeline.Runner.report

    def report(self, items):  # type: ignore[no-untyped-def]
        result = original(self, items)
        errors = sorted(validator.iter_errors(result.model_dump(mode="json")), key=str)
        assert not errors, f"report breaks docs/report.schema.json: {errors[0].message}"
        return result

    pipeline.Runner.report = report  # type: ignore[method-assign]
    yield
    pipeline.Runner.report = original  # type: ignore[method-assign]


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """The parity figures of issue 17 (tests/test_official_parity.py), when that test ran."""
    import sys

    evaluate = sys.modules.get("parity.evaluate")
    lines = getattr(evaluate, "SUMMARY", None)
    if lines:
        terminalreporter.section("official parity (default mode vs the official pipeline)")
        for line in lines:
            terminalreporter.write_line(line)
