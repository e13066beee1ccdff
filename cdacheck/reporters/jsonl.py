"""JSON Lines reporter: one JSON object per input (document or archive), then a summary line.

Each input line is the ``DocumentReport`` or ``ArchiveReport`` of the JSON report (its
``kind`` says which). The last line has ``"kind": "summary"`` and carries what the JSON
report has besides its items: ``schema_version``, ``tool``, ``settings``, ``kit``,
``findings`` and ``summary``. Streamed batches write the lines as the results come.
"""

from __future__ import annotations

from cdacheck.model import ArchiveReport, DocumentReport, RunReport


def render_item(item: DocumentReport | ArchiveReport) -> str:
    """The line of one input."""
    return item.model_dump_json() + "\n"


def render_summary(report: RunReport) -> str:
    """The closing line: the report without its items."""
    text = report.model_dump_json(exclude={"items"})
    return '{"kind": "summary", ' + text[1:] + "\n"


def render(report: RunReport) -> str:
    """The whole report as JSON Lines."""
    return "".join(render_item(i) for i in report.items) + render_summary(report)
