"""Reporters: pure functions ``RunReport -> str``. They never print and never open files."""

from __future__ import annotations

from collections.abc import Callable

from cdacheck.model import RunReport
from cdacheck.reporters import github as github_reporter
from cdacheck.reporters import html as html_reporter
from cdacheck.reporters import json as json_reporter
from cdacheck.reporters import junit as junit_reporter
from cdacheck.reporters import sarif as sarif_reporter
from cdacheck.reporters import jsonl as jsonl_reporter
from cdacheck.reporters import text as text_reporter

FORMATS: dict[str, Callable[..., str]] = {
    "text": text_reporter.render,
    "json": json_reporter.render,
    "sarif": sarif_reporter.render,
    "junit": junit_reporter.render,
    "github": github_reporter.render,
    "html": html_reporter.render,
    "jsonl": jsonl_reporter.render,
}


def render(report: RunReport, fmt: str = "text", **options: object) -> str:
    """Render ``report`` in format ``fmt`` (one of :data:`FORMATS`)."""
    return FORMATS[fmt](report, **options)
