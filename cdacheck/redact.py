"""Redaction of patient data in a report (``--redact``): a pure function RunReport -> RunReport.

What is removed: the patient's names, birth date, birthplace and the INS matricule (every
``recordTarget/patientRole/id`` extension), from the facts *and* from every finding (message,
params, XPath), wherever a rule quoted them. Each patient identifier is replaced by a stable
pseudonym (``hmac-sha256:`` + 16 hex digits of an HMAC of root and extension) so documents of
one patient can still be grouped; give a secret ``key`` to make the pseudonyms unlinkable
across organisations. This is pseudonymisation, not anonymisation: the rest of the report
(dates of care, practitioners, establishment) stays.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cdacheck.model import (
    ArchiveReport,
    DocumentFacts,
    DocumentReport,
    Finding,
    JsonScalar,
    PatientIdentifier,
    PatientIdentity,
    PatientTraits,
    RunReport,
)

REDACTED = "[masqué]"
DEFAULT_KEY = b"cdacheck-redact-v1"


def pseudonym(root: str | None, extension: str | None, key: bytes = DEFAULT_KEY) -> str:
    """A stable pseudonym of one patient identifier."""
    digest = hmac.new(key, f"{root or ''}^{extension or ''}".encode(), hashlib.sha256)
    return "hmac-sha256:" + digest.hexdigest()[:16]


def _secrets(facts: DocumentFacts) -> list[str]:
    """The strings of this document that identify its patient, longest first."""
    p = facts.patient
    values = [p.birth_family_name, p.birth_given_names, p.first_birth_given_name,
              p.used_family_name, p.used_given_name, p.birthplace_code,
              p.birth_date.raw if p.birth_date else None]
    values.extend(p.other_traits)
    values.extend(i.extension for i in facts.patient_ids)
    names = {v for v in values if v and len(v.strip()) >= 2}
    for v in list(names):  # given names are often a list: "JEAN PIERRE" -> each name too
        names.update(part for part in v.split() if len(part) >= 3)
    return sorted(names, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s in text:
            text = text.replace(s, REDACTED)
    return text


def _scrub_value(value: JsonScalar, secrets: list[str]) -> JsonScalar:
    return _scrub(value, secrets) if isinstance(value, str) else value


def _finding(f: Finding, secrets: list[str]) -> Finding:
    if not secrets:
        return f
    loc = f.location
    location = loc.model_copy(update={"xpath": _scrub(loc.xpath, secrets)}) if loc.xpath else loc
    return f.model_copy(update={
        "message": _scrub(f.message, secrets),
        "params": {k: _scrub_value(v, secrets) for k, v in f.params.items()},
        "provenance": {k: _scrub(v, secrets) for k, v in f.provenance.items()},
        "location": location,
    })


def _facts(facts: DocumentFacts, key: bytes) -> DocumentFacts:
    p = facts.patient
    traits = PatientTraits(sex=p.sex, birth_date_null_flavor=p.birth_date_null_flavor,
                           other_traits=[])
    ids = [PatientIdentifier(root=i.root, null_flavor=i.null_flavor, id_class=i.id_class,
                             extension=pseudonym(i.root, i.extension, key) if i.extension else None)
           for i in facts.patient_ids]
    return facts.model_copy(update={"identity": PatientIdentity(ids=ids, traits=traits)})


def redact_document(doc: DocumentReport, key: bytes = DEFAULT_KEY) -> DocumentReport:
    """One document report without its patient's identity."""
    if doc.facts is None:
        return doc
    secrets = _secrets(doc.facts)
    indicator = doc.indicator.model_copy(
        update={"reasons": [_scrub(r, secrets) for r in doc.indicator.reasons]})
    update: dict[str, Any] = {"facts": _facts(doc.facts, key), "indicator": indicator,
                              "findings": [_finding(f, secrets) for f in doc.findings]}
    return doc.model_copy(update=update)


def redact_item(item: DocumentReport | ArchiveReport,
                key: bytes = DEFAULT_KEY) -> DocumentReport | ArchiveReport:
    """One input's report (a document, or an archive with its documents) without identities."""
    if isinstance(item, ArchiveReport):
        docs = [redact_document(d, key) for d in item.documents]
        secrets = sorted({s for d in item.documents if d.facts for s in _secrets(d.facts)},
                         key=len, reverse=True)
        return item.model_copy(update={
            "documents": docs, "findings": [_finding(f, secrets) for f in item.findings]})
    return redact_document(item, key)


def redact(report: RunReport, key: bytes = DEFAULT_KEY) -> RunReport:
    """The whole report without patient identities (every format derives from it)."""
    items = [redact_item(item, key) for item in report.items]
    settings = dict(report.settings)
    settings["redact"] = True
    return report.model_copy(update={"items": items, "settings": settings})
