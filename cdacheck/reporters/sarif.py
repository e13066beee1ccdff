"""SARIF 2.1.0 reporter: one run, the rules of the registry, one result per finding.

Code-review and CI tools (GitHub code scanning, GitLab, Azure DevOps, VS Code's SARIF viewer)
read this format. Documents inside an XDM archive are nested artifacts (``parentIndex``), so
a result points at the archive member, not at the ZIP as a whole. The XPath of a finding is
its logical location. Written by hand because no maintained Python library produces SARIF
from an arbitrary report model; the output is validated against the official SARIF 2.1.0
JSON schema in the tests.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from cdacheck import __version__
from cdacheck.model import ArchiveReport, DocumentReport, Finding, RunReport, Severity
from cdacheck.registry import Registry, load_all

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/cdacheck/cdacheck"
_LEVEL = {Severity.FATAL: "error", Severity.ERROR: "error", Severity.WARNING: "warning",
          Severity.INFO: "note"}


def _uri(path: str) -> str:
    """A relative URI reference for a path as given (spaces, accents, '!' percent-encoded)."""
    return quote(path.replace("\\", "/"), safe="/:@-._~")


class _Artifacts:
    """The run's artifacts: every input, and every archive member under its archive."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._index: dict[tuple[str, str | None], int] = {}

    def index(self, source: str, member: str | None = None) -> int:
        key = (source, member)
        found = self._index.get(key)
        if found is not None:
            return found
        entry: dict[str, Any]
        if member is None:
            entry = {"location": {"uri": _uri(source)}}
        else:
            entry = {"location": {"uri": _uri(member)}, "parentIndex": self.index(source)}
        self.items.append(entry)
        self._index[key] = len(self.items) - 1
        return self._index[key]


def _rule(spec_id: str, registry: Registry) -> dict[str, Any]:
    spec = registry.get(spec_id)
    if spec is None:  # a rule outside the registry (kit mode asserts): id only
        return {"id": spec_id, "shortDescription": {"text": spec_id}}
    out: dict[str, Any] = {
        "id": spec.id,
        "name": spec.name,
        "shortDescription": {"text": spec.summary or spec.name},
        "fullDescription": {"text": spec.template},
        "defaultConfiguration": {"level": _LEVEL[spec.severity]},
        "properties": {"severity": spec.severity.value, "engine": spec.engine},
    }
    if spec.source:
        out["properties"]["source"] = spec.source
    return out


def _result(f: Finding, rule_index: int, artifacts: _Artifacts, source: str,
            member: str | None) -> dict[str, Any]:
    loc = f.location
    art_source = loc.file or source
    art_member = loc.member if loc.member is not None else member
    index = artifacts.index(art_source, art_member)
    uri = artifacts.items[index]["location"]["uri"]
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri, "index": index}}
    if loc.line:
        region: dict[str, Any] = {"startLine": loc.line}
        if loc.column:
            region["startColumn"] = loc.column
        physical["region"] = region
    location: dict[str, Any] = {"physicalLocation": physical}
    if loc.xpath:
        location["logicalLocations"] = [{"fullyQualifiedName": loc.xpath, "kind": "element"}]
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [location],
        "properties": {"severity": f.severity.value, "engine": f.engine.value},
    }
    if f.provenance:
        result["properties"]["provenance"] = dict(f.provenance)
    return result


def _findings(report: RunReport) -> list[tuple[Finding, str, str | None]]:
    out: list[tuple[Finding, str, str | None]] = [(f, f.location.file or "", None)
                                                  for f in report.findings]
    for item in report.items:
        if isinstance(item, ArchiveReport):
            out.extend((f, item.source, None) for f in item.findings)
            docs: list[DocumentReport] = item.documents
        else:
            docs = [item]
        for doc in docs:
            out.extend((f, doc.source, doc.member) for f in doc.findings)
    return out


def build(report: RunReport, registry: Registry | None = None) -> dict[str, Any]:
    """The SARIF log as a dict (see :func:`render`)."""
    registry = registry or load_all()
    findings = _findings(report)
    rule_ids = [spec.id for spec in registry]
    known = set(rule_ids)
    rule_ids.extend(sorted({f.rule_id for f, _, _ in findings} - known))
    rule_pos = {rid: i for i, rid in enumerate(rule_ids)}
    artifacts = _Artifacts()
    for item in report.items:  # every input is an artifact, with or without findings
        artifacts.index(item.source)
        if isinstance(item, ArchiveReport):
            for doc in item.documents:
                artifacts.index(doc.source, doc.member)
    results = [_result(f, rule_pos[f.rule_id], artifacts, src, member)
               for f, src, member in findings]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "cdacheck", "version": __version__,
                            "semanticVersion": __version__, "informationUri": INFO_URI,
                            "rules": [_rule(rid, registry) for rid in rule_ids]}},
        "artifacts": artifacts.items,
        "results": results,
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": not _internal_failure(report),
                         "properties": {"failOn": report.summary.fail_on.value,
                                        "failed": report.summary.failed}}],
        "properties": {"schemaVersion": report.schema_version,
                       "summary": report.summary.model_dump(mode="json")},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _internal_failure(report: RunReport) -> bool:
    return any(f.rule_id.startswith("INT") for f in report.all_findings())


def render(report: RunReport, *, indent: int | None = 2, **_: object) -> str:
    """The report as a SARIF 2.1.0 log (JSON text)."""
    return json.dumps(build(report), ensure_ascii=False, indent=indent) + "\n"
