"""Engines: adapters that turn a tool's output (XSD, Schematron, Python checks) into hits.

An engine is built once per run from the Settings, then called once per document. Engines
never print and never decide a severity: they yield :class:`cdacheck.model.Hit`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from cdacheck.detect import Detection
from cdacheck.inputs.xml import ParsedDocument
from cdacheck.model import DocumentFacts, Hit


class DocumentEngine(Protocol):
    """What the pipeline calls for every document."""

    name: str

    def run(self, doc: ParsedDocument, facts: DocumentFacts, detection: Detection) -> Iterable[Hit]:
        """Check one document; raise only on an internal failure (it becomes an INT finding)."""
        ...

    def describe(self) -> dict[str, str]:
        """What this engine used (schema path, pack names and versions), for the report."""
        ...
