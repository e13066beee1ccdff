"""METADATA.XML against the CDA it describes (xdm.md §1.9). Each mismatch names both values."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

from cdacheck.checks import xdm_codes as codes
from cdacheck.checks.xdm_ebrim import RegistryObject
from cdacheck.checks.xdm_metadata import class_hit, parse_cx
from cdacheck.model import Code, DocumentFacts, Hit, Location, Participant, Severity, Timestamp
from cdacheck.registry import rule

_TEMPLATE = ("DocumentEntry « {id} » : {attribute} « {meta} » dans METADATA.XML mais "
             "« {doc} » dans le document {member}.")


def _mismatch(id_: str, name: str, severity: Severity, summary: str, source: str) -> str:
    return rule(id_, name, severity, _TEMPLATE, summary, source=source).id


R_UNIQUE = _mismatch("XDM070", "unique-id-mismatch", Severity.ERROR,
                     "uniqueId = ClinicalDocument/id (root^extension).", "xdm.md §1.9")
R_PATIENT = _mismatch("XDM071", "patient-id-mismatch", Severity.ERROR,
                      "patientId = the INS of recordTarget/patientRole/id (matricule and OID).",
                      "xdm.md §1.9; ECO.2.1.2")
R_TYPE = _mismatch("XDM072", "type-code-mismatch", Severity.ERROR,
                   "typeCode = ClinicalDocument/code (@code and @codeSystem).", "xdm.md §1.9")
R_FORMAT = _mismatch("XDM074", "format-code-mismatch", Severity.ERROR,
                     "formatCode follows the level: N1 by the body's media type (ASS_A12), N3 "
                     "by the templateIds (ASS_A11).", "xdm.md §1.9; xds-value-sets.md §3.3")
R_CREATION = _mismatch("XDM075", "creation-time-mismatch", Severity.ERROR,
                       "creationTime = ClinicalDocument/effectiveTime converted to UTC.",
                       "xdm.md §1.9")
R_CONF = _mismatch("XDM076", "confidentiality-mismatch", Severity.ERROR,
                   "First confidentialityCode = ClinicalDocument/confidentialityCode.",
                   "xdm.md §1.9")
R_LANGUAGE = _mismatch("XDM077", "language-mismatch", Severity.WARNING,
                       "languageCode = ClinicalDocument/languageCode (case-insensitive).",
                       "xdm.md §1.9")
R_TITLE = _mismatch("XDM078", "title-mismatch", Severity.WARNING,
                    "title = ClinicalDocument/title (whitespace-normalised).", "xdm.md §1.9")
R_SERVICE = _mismatch("XDM079", "service-time-mismatch", Severity.WARNING,
                      "serviceStart/StopTime = serviceEvent/effectiveTime low/high in UTC.",
                      "xdm.md §1.9")
R_FACILITY = _mismatch("XDM080", "facility-type-mismatch", Severity.ERROR,
                       "healthcareFacilityTypeCode = healthCareFacility/code.", "xdm.md §1.9")
R_PRACTICE = _mismatch("XDM081", "practice-setting-mismatch", Severity.ERROR,
                       "practiceSettingCode = the performer's standardIndustryClassCode.",
                       "xdm.md §1.9")
R_AUTHOR = _mismatch("XDM082", "author-mismatch", Severity.WARNING,
                     "authorPerson identifies one of the document's authors.", "xdm.md §1.9")
R_LEGAL = _mismatch("XDM083", "legal-authenticator-mismatch", Severity.WARNING,
                    "legalAuthenticator identifies the document's legal authenticator.",
                    "xdm.md §1.9")

HitFn = Callable[[str, str, object, object], Hit]
_PRECISION_LEN = {"year": 4, "month": 6, "day": 8, "hour": 10, "minute": 12, "second": 14}
_SPACES = re.compile(r"\s+")


def cross_check(de: RegistryObject, facts: DocumentFacts, level: str, member: str,
                where: Location) -> Iterator[Hit]:
    """Every METADATA.XML vs CDA comparison for one DocumentEntry."""
    base = {"id": de.id, "member": member}

    def hit(rule_id: str, attribute: str, meta: object, doc: object) -> Hit:
        return Hit(rule_id=rule_id, location=where,
                   params={**base, "attribute": attribute, "meta": str(meta), "doc": str(doc)})

    unique = de.ids.get("uniqueId")
    if unique and facts.id is not None and facts.id.root:
        expected = f"{facts.id.root}^{facts.id.extension}" if facts.id.extension else facts.id.root
        if unique != expected:
            yield hit(R_UNIQUE, "uniqueId", unique, expected)
    yield from _patient(de, facts, hit)
    typ = de.code("typeCode")
    if typ is not None and facts.code is not None and facts.code.code:
        if (typ.code, typ.scheme) != (facts.code.code, facts.code.code_system):
            yield hit(R_TYPE, "typeCode", f"{typ.code} ({typ.scheme})",
                      f"{facts.code.code} ({facts.code.code_system})")
    if facts.code is not None and facts.code.code:
        found = class_hit(de, facts.code.code, where)
        if found is not None:
            yield found
    yield from _format(de, facts, level, hit)
    yield from _times(de, facts, hit)
    conf = de.code("confidentialityCode")
    if conf is not None and facts.confidentiality is not None and facts.confidentiality.code:
        if conf.code != facts.confidentiality.code:
            yield hit(R_CONF, "confidentialityCode", conf.code, facts.confidentiality.code)
    lang = de.slot("languageCode")
    if lang and facts.language and lang.casefold() != facts.language.casefold():
        yield hit(R_LANGUAGE, "languageCode", lang, facts.language)
    if de.title and facts.title and _norm(de.title) != _norm(facts.title):
        yield hit(R_TITLE, "title", de.title, facts.title)
    facility = facts.encounter.facility_code if facts.encounter else None
    yield from _coded(de, "healthcareFacilityTypeCode", [facility], R_FACILITY, hit)
    practice = [s.practice_setting for s in facts.service_events]
    yield from _coded(de, "practiceSettingCode", practice, R_PRACTICE, hit)
    yield from _people(de, facts, hit)


def _patient(de: RegistryObject, facts: DocumentFacts, hit: HitFn) -> Iterator[Hit]:
    value = de.ids.get("patientId")
    meta = parse_cx(value)
    if meta is None:
        return
    ins = [p for p in facts.patient_ids
           if p.root in codes.INS_OIDS and p.extension and not p.null_flavor]
    if not ins:
        yield hit(R_PATIENT, "patientId", value, "aucun INS dans recordTarget/patientRole/id")
        return
    if not any((p.extension, p.root) == meta for p in ins):
        yield hit(R_PATIENT, "patientId", value,
                  " ; ".join(f"{p.extension}^^^&{p.root}&ISO^NH" for p in ins))


def _format(de: RegistryObject, facts: DocumentFacts, level: str, hit: HitFn) -> Iterator[Hit]:
    fmt = de.code("formatCode")
    if fmt is None:
        return
    if level not in ("N1", "N3"):
        level = {"nonXMLBody": "N1", "structuredBody": "N3"}.get(facts.body.kind, "unknown")
    if level == "unknown":
        return
    expected = codes.expected_formats(facts.template_roots, level, facts.body.media_type)
    if expected and fmt.code not in expected:
        doc = " ou ".join(sorted(expected))
        yield hit(R_FORMAT, "formatCode", fmt.code, f"{doc} (niveau {level})")
    elif not expected and level == "N3" and codes.is_n1_format(fmt.code):
        yield hit(R_FORMAT, "formatCode", fmt.code,
                  "un corps structuré (N3) : formatCode d'un modèle structuré attendu")


def _times(de: RegistryObject, facts: DocumentFacts, hit: HitFn) -> Iterator[Hit]:
    pairs: list[tuple[str, str, Timestamp | None]] = [
        (R_CREATION, "creationTime", facts.effective_time)]
    period = facts.service_events[0].period if facts.service_events else None
    if period is not None:
        pairs.append((R_SERVICE, "serviceStartTime", period.low))
        pairs.append((R_SERVICE, "serviceStopTime", period.high))
    for rule_id, attribute, ts in pairs:
        meta = de.slot(attribute)
        if not meta or ts is None or not (meta.isascii() and meta.isdigit()):
            continue
        doc = utc_dtm(ts)
        if doc is None:
            continue
        n = min(len(meta), len(doc))
        if meta[:n] != doc[:n]:
            yield hit(rule_id, attribute, meta, f"{ts.raw} soit {doc} en UTC")


def utc_dtm(ts: Timestamp) -> str | None:
    """A CDA timestamp as an XDS DTM string in UTC, at the timestamp's own precision."""
    value = ts.utc or ts.value
    if value is None:
        digits = re.match(r"\d+", ts.raw or "")
        return digits.group(0)[:14] if digits and ts.offset_minutes is None else None
    try:  # year 1 or 9999 shifted by its offset leaves datetime's range
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        elif ts.utc is None and ts.offset_minutes is not None:
            value = value - dt.timedelta(minutes=ts.offset_minutes)
    except (OverflowError, ValueError):
        return None
    text = value.strftime("%Y%m%d%H%M%S")
    length = _PRECISION_LEN.get(ts.precision or "second", 14)
    return text[:length]


def _coded(de: RegistryObject, attribute: str, doc_codes: list[Code | None], rule_id: str,
           hit: HitFn) -> Iterator[Hit]:
    coded = de.code(attribute)
    present = [c for c in doc_codes if c is not None and c.code]
    if coded is None or not present:
        return
    if not any(c.code == coded.code for c in present):
        yield hit(rule_id, attribute, coded.code, " ; ".join(str(c.code) for c in present))


def _people(de: RegistryObject, facts: DocumentFacts, hit: HitFn) -> Iterator[Hit]:
    persons = [p for a in de.authors for p in a.get("authorPerson", []) if p]
    doc_ids = _ids(facts.authors)
    if persons and doc_ids:
        meta_ids = [xcn_id(p) for p in persons]
        if not any(m in doc_ids for m in meta_ids if m):
            yield hit(R_AUTHOR, "authorPerson", persons[0], " ; ".join(sorted(doc_ids)))
    legal = de.slot("legalAuthenticator")
    legal_ids = _ids([facts.legal_authenticator] if facts.legal_authenticator else [])
    if legal and legal_ids and xcn_id(legal) not in legal_ids:
        yield hit(R_LEGAL, "legalAuthenticator", legal, " ; ".join(sorted(legal_ids)))


def xcn_id(value: str) -> str | None:
    """XCN.1 (the identifier) of an XCN string."""
    first = value.split("^", 1)[0].strip()
    return first or None


def _ids(people: list[Participant]) -> set[str]:
    return {i.extension for p in people for i in p.ids if i.extension}


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()
