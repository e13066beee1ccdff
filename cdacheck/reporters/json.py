"""JSON reporter: the RunReport itself, versioned (``schema_version``)."""

from __future__ import annotations

from cdacheck.model import ArchiveReport, DocumentReport, RunReport


def render(report: RunReport, *, indent: int | None = 2) -> str:
    """The report as JSON text; every other format derives from the same model."""
    return report.model_dump_json(indent=indent) + "\n"


# Streamed batches write the same document piece by piece (cdacheck.batch): the head
# (everything before the items), each item, then the tail (run findings and summary).
# Pieces are cut from pydantic's own output, so the text is byte for byte render()'s.
_ITEMS = '"items": []'


def render_head(report: RunReport) -> str:
    """The JSON text before the first item (``report`` without items)."""
    text = report.model_copy(update={"items": []}).model_dump_json(indent=2)
    return text[: text.index(_ITEMS) + len(_ITEMS) - 1]


def render_item(item: DocumentReport | ArchiveReport, *, first: bool) -> str:
    """One item of the ``items`` list, indented as inside the report."""
    body = "\n".join("    " + line for line in item.model_dump_json(indent=2).splitlines())
    return ("\n" if first else ",\n") + body


def render_tail(report: RunReport, *, items: int) -> str:
    """The JSON text after the last item (``report`` gives the summary)."""
    text = report.model_copy(update={"items": []}).model_dump_json(indent=2)
    return ("\n  ]" if items else "]") + text[text.index(_ITEMS) + len(_ITEMS):] + "\n"
