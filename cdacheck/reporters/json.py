"""JSON reporter: the RunReport itself, versioned (``schema_version``)."""

from __future__ import annotations

from cdacheck.model import RunReport


def render(report: RunReport, *, indent: int | None = 2) -> str:
    """The report as JSON text; every other format derives from the same model."""
    return report.model_dump_json(indent=indent) + "\n"
