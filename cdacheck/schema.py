"""The JSON Schema of the report (``RunReport``), generated from the pydantic models.

A copy is shipped in the package (``cdacheck/data/report.schema.json``) and in ``docs/``;
``schema_version`` in every report says which contract it follows (docs/report-schema.md).
"""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

from cdacheck.model import REPORT_SCHEMA_VERSION, RunReport

SCHEMA_ID = f"urn:cdacheck:report:{REPORT_SCHEMA_VERSION}"


def build_schema() -> dict[str, Any]:
    """The schema of a report as ``--format json`` writes it."""
    schema = RunReport.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "cdacheck report", **schema}


def schema_text() -> str:
    return json.dumps(build_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def report_schema() -> dict[str, Any]:
    """The shipped schema (the same as :func:`build_schema` for this version)."""
    path = importlib.resources.files("cdacheck").joinpath("data/report.schema.json")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded
