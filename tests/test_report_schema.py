"""The JSON contract: the shipped schema is the one the models generate, and reports of every
kind validate against it (conftest.py also validates every report any test produces)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cdacheck
from cdacheck.model import REPORT_SCHEMA_VERSION
from cdacheck.redact import redact
from cdacheck.reporters import render
from cdacheck.schema import build_schema, report_schema, schema_text

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parent.parent


def _validator() -> "jsonschema.protocols.Validator":
    schema = report_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_shipped_schema_matches_the_models() -> None:
    assert report_schema() == build_schema()
    assert (ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8") == schema_text(), \
        "run python scripts/gen_report_schema.py"
    assert build_schema()["$id"].endswith(REPORT_SCHEMA_VERSION)


@pytest.mark.parametrize("target", ["samples", "samples/documents/ldl-ses-n1.xml",
                                    "samples/xdm", "does-not-exist.xml"])
def test_reports_validate(target: str) -> None:
    report = cdacheck.check(str(ROOT / target), env="test")
    data = json.loads(render(report, "json"))
    _validator().validate(data)
    _validator().validate(json.loads(render(redact(report), "json")))


def test_a_report_that_breaks_the_contract_is_rejected() -> None:
    data = json.loads(render(cdacheck.check(str(ROOT / "samples/documents/ldl-ses-n1.xml"),
                                            env="test"), "json"))
    data["items"][0]["findings"].append({"rule_id": "X", "severity": "grave"})
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(data)
