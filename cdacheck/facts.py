"""Extraction of the header facts of a CDA document, once per document.

Pure reading of the parsed tree into :class:`cdacheck.model.DocumentFacts`; nothing here
judges the values (the checks and packs do). Missing elements give ``None`` or empty lists.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from lxml import etree

from cdacheck.inputs.xml import HL7, ParsedDocument
from cdacheck.model import (
    Body,
    Code,
    DocumentFacts,
    Encounter,
    Identifier,
    IdentifierClass,
    Participant,
    PatientIdentifier,
    PatientTraits,
    Period,
    RelatedDocument,
    ServiceEvent,
    Timestamp,
)

_N = {"h": HL7}

# recordTarget/patientRole/id/@root -> identifier class (cisis-facts §B.1).
ID_CLASSES: dict[str, IdentifierClass] = {
    "1.2.250.1.213.1.4.8": "INS-NIR",
    "1.2.250.1.213.1.4.9": "INS-NIA",
    "1.2.250.1.213.1.4.10": "INS-NIR-TEST",
    "1.2.250.1.213.1.4.11": "INS-NIR-DEMO",
    "1.2.250.1.213.1.4.13": "NSS-NIR",
    "1.2.250.1.213.1.4.14": "NSS-NIA",
    "1.2.250.1.213.1.4.2": "INS-C",
}
INS_CLASSES: frozenset[str] = frozenset({"INS-NIR", "INS-NIA", "INS-NIR-TEST", "INS-NIR-DEMO"})

_TS_RE = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.\d{1,4})?(?P<tz>[+-]\d{4})?$", re.ASCII
)
_PRECISIONS = ("year", "month", "day", "hour", "minute", "second")


def parse_ts(raw: str | None) -> Timestamp | None:
    """Parse an HL7 TS (``YYYY[MM[DD[HH[MM[SS[.ffff]]]]]][+-ZZZZ]``); None when absent."""
    if raw is None:
        return None
    raw = raw.strip()
    m = _TS_RE.match(raw)
    if not m:
        return Timestamp(raw=raw)
    parts = [m.group(k) for k in ("y", "mo", "d", "h", "mi", "s")]
    given = [p for p in parts if p is not None]
    precision = _PRECISIONS[len(given) - 1]
    nums = [int(p) if p is not None else default for p, default in zip(parts, (0, 1, 1, 0, 0, 0))]
    offset = None
    if m.group("tz"):
        tz = m.group("tz")
        sign = -1 if tz[0] == "-" else 1
        offset = sign * (int(tz[1:3]) * 60 + int(tz[3:5]))
    try:
        value = dt.datetime(*nums)  # type: ignore[arg-type]
    except ValueError:
        return Timestamp(raw=raw, precision=precision, offset_minutes=offset)  # type: ignore[arg-type]
    utc = None
    if offset is not None:
        try:  # an offset beyond ±24 h, or year 1 / 9999 shifted out of range
            tzinfo = dt.timezone(dt.timedelta(minutes=offset))
            value = value.replace(tzinfo=tzinfo)
            utc = value.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            return Timestamp(raw=raw, precision=precision, offset_minutes=offset)  # type: ignore[arg-type]
    return Timestamp(raw=raw, value=value, precision=precision, offset_minutes=offset, utc=utc)  # type: ignore[arg-type]


@lru_cache(maxsize=None)
def _path(path: str) -> etree.XPath:
    # Child paths (h:a/h:b) as compiled XPath: a third of the cost of lxml's find(), which
    # parses and walks them in Python (ElementPath); the first match is the same element.
    return etree.XPath(path, namespaces=_N, regexp=False)


def _one(el: etree._Element | None, path: str) -> etree._Element | None:
    if el is None:
        return None
    found = _path(path)(el)
    return found[0] if found else None


def _all(el: etree._Element | None, path: str) -> list[etree._Element]:
    return [] if el is None else _path(path)(el)


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    text = "".join(el.itertext()).strip()
    return " ".join(text.split()) or None


def _ident(el: etree._Element | None) -> Identifier | None:
    if el is None:
        return None
    return Identifier(root=el.get("root"), extension=el.get("extension"), null_flavor=el.get("nullFlavor"))


def _code(el: etree._Element | None) -> Code | None:
    if el is None:
        return None
    return Code(code=el.get("code"), code_system=el.get("codeSystem"),
                display_name=el.get("displayName"), null_flavor=el.get("nullFlavor"))


def _period(el: etree._Element | None) -> Period | None:
    if el is None:
        return None
    low, high = _one(el, "h:low"), _one(el, "h:high")
    return Period(low=parse_ts(low.get("value")) if low is not None else None,
                  high=parse_ts(high.get("value")) if high is not None else None,
                  value=parse_ts(el.get("value")))


def _participant(holder: etree._Element | None, entity_path: str, person: str, org: str) -> Participant | None:
    if holder is None:
        return None
    entity = _one(holder, entity_path)
    name = _one(entity, f"{person}/h:name")
    organization = _one(entity, org)
    sig = _one(holder, "h:signatureCode")
    time = _one(holder, "h:time")
    return Participant(
        ids=[i for i in map(_ident, _all(entity, "h:id")) if i is not None],
        code=_code(_one(entity, "h:code")),
        family=_text(_one(name, "h:family")),
        given=_text(_one(name, "h:given")),
        organization_ids=[i for i in map(_ident, _all(organization, "h:id")) if i is not None],
        organization_name=_text(_one(organization, "h:name")),
        organization_sector=_code(_one(organization, "h:standardIndustryClassCode")),
        time=parse_ts(time.get("value")) if time is not None else None,
        signature_code=sig.get("code") if sig is not None else None,
    )


# Every element below the patient's names and birthplace (compiled once, not per document).
_OTHER_TRAITS = etree.XPath("h:name//h:*|h:birthplace//h:*", namespaces=_N)


def _patient_traits(patient: etree._Element | None) -> PatientTraits:
    name = _one(patient, "h:name")
    fam_br = next((f for f in _all(name, "h:family") if f.get("qualifier") == "BR"), None)
    fam_cl = next((f for f in _all(name, "h:family") if f.get("qualifier") == "CL"), None)
    givens = _all(name, "h:given")
    given_br = next((g for g in givens if g.get("qualifier") == "BR"), None)
    given_cl = next((g for g in givens if g.get("qualifier") == "CL"), None)
    given_all = next((g for g in givens if g.get("qualifier") is None), None)
    birth = _one(patient, "h:birthTime")
    gender = _one(patient, "h:administrativeGenderCode")
    county = _one(patient, "h:birthplace/h:place/h:addr/h:county")
    named = {id(e) for e in (fam_br, fam_cl, given_br, given_cl, given_all, county) if e is not None}
    other = [] if patient is None else [
        t for e in _OTHER_TRAITS(patient)
        if id(e) not in named and (t := _text(e))]
    return PatientTraits(
        birth_family_name=_text(fam_br),
        birth_given_names=_text(given_all),
        first_birth_given_name=_text(given_br),
        used_family_name=_text(fam_cl),
        used_given_name=_text(given_cl),
        sex=gender.get("code") if gender is not None else None,
        birth_date=parse_ts(birth.get("value")) if birth is not None else None,
        birth_date_null_flavor=birth.get("nullFlavor") if birth is not None else None,
        birthplace_code=_text(county),
        other_traits=sorted(set(other)),
    )


def _body(cda: etree._Element) -> Body:
    non_xml = _all(cda, "h:component/h:nonXMLBody")
    structured = _all(cda, "h:component/h:structuredBody")
    if non_xml and structured:
        return Body(kind="both")
    if non_xml:
        text = _one(non_xml[0], "h:text")
        ref = _one(text, "h:reference")
        payload = "".join(text.itertext()) if text is not None else ""
        return Body(
            kind="nonXMLBody",
            media_type=text.get("mediaType") if text is not None else None,
            representation=text.get("representation") if text is not None else None,
            payload_chars=len("".join(payload.split())),
            reference=ref.get("value") if ref is not None else None,
        )
    if structured:
        sb = structured[0]
        sections = list(sb.iter(f"{{{HL7}}}section"))
        entries = list(sb.iter(f"{{{HL7}}}entry"))
        tids = [t.get("root") for s in _all(sb, "h:component/h:section") for t in _all(s, "h:templateId")]
        return Body(kind="structuredBody", section_count=len(sections), entry_count=len(entries),
                    section_template_ids=[t for t in tids if t])
    return Body(kind="none")


def _encounter(cda: etree._Element) -> Encounter | None:
    enc = _one(cda, "h:componentOf/h:encompassingEncounter")
    if enc is None:
        return None
    return Encounter(
        ids=[i for i in map(_ident, _all(enc, "h:id")) if i is not None],
        code=_code(_one(enc, "h:code")),
        period=_period(_one(enc, "h:effectiveTime")),
        facility_code=_code(_one(enc, "h:location/h:healthCareFacility/h:code")),
        location_organization_ids=[i for i in map(_ident, _all(
            enc, "h:location/h:healthCareFacility/h:serviceProviderOrganization/h:id")) if i is not None],
    )


def _service_events(cda: etree._Element) -> list[ServiceEvent]:
    out = []
    for se in _all(cda, "h:documentationOf/h:serviceEvent"):
        performers = _all(se, "h:performer")
        sector = _one(performers[0], "h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode") if performers else None
        out.append(ServiceEvent(code=_code(_one(se, "h:code")), period=_period(_one(se, "h:effectiveTime")),
                                performer_count=len(performers), practice_setting=_code(sector)))
    return out


def _patient_ids(cda: etree._Element) -> list[PatientIdentifier]:
    out = []
    for el in _all(cda, "h:recordTarget/h:patientRole/h:id"):
        root = el.get("root")
        out.append(PatientIdentifier(root=root, extension=el.get("extension"),
                                     null_flavor=el.get("nullFlavor"),
                                     id_class=ID_CLASSES.get(root or "", "local")))
    return out


def extract_facts(doc: ParsedDocument) -> DocumentFacts:
    """Read every header fact of ``doc.cda`` into a frozen DocumentFacts."""
    cda = doc.cda
    eff = _one(cda, "h:effectiveTime")
    version = _one(cda, "h:versionNumber")
    title = _one(cda, "h:title")
    realm = _one(cda, "h:realmCode")
    language = _one(cda, "h:languageCode")
    related = [
        RelatedDocument(
            type_code=rd.get("typeCode"),
            parent_ids=[i for i in map(_ident, _all(rd, "h:parentDocument/h:id")) if i is not None],
            parent_version=(v.get("value") if (v := _one(rd, "h:parentDocument/h:versionNumber")) is not None else None),
        )
        for rd in _all(cda, "h:relatedDocument")
    ]
    patient = _one(cda, "h:recordTarget/h:patientRole/h:patient")
    custodian_org = _one(cda, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization")
    custodian = None
    if custodian_org is not None:
        custodian = Participant(
            ids=[i for i in map(_ident, _all(custodian_org, "h:id")) if i is not None],
            organization_name=_text(_one(custodian_org, "h:name")),
        )
    return DocumentFacts(
        root_form=doc.root_form,  # type: ignore[arg-type]
        id=_ident(_one(cda, "h:id")),
        set_id=_ident(_one(cda, "h:setId")),
        version_number=version.get("value") if version is not None else None,
        related_documents=related,
        code=_code(_one(cda, "h:code")),
        title=_text(title),
        effective_time=parse_ts(eff.get("value")) if eff is not None else None,
        confidentiality=_code(_one(cda, "h:confidentialityCode")),
        language=language.get("code") if language is not None else None,
        realm=realm.get("code") if realm is not None else None,
        type_id=_ident(_one(cda, "h:typeId")),
        template_ids=[i for i in map(_ident, _all(cda, "h:templateId")) if i is not None],
        body=_body(cda),
        patient_ids=_patient_ids(cda),
        patient=_patient_traits(patient),
        authors=[p for p in (_participant(a, "h:assignedAuthor", "h:assignedPerson", "h:representedOrganization")
                             for a in _all(cda, "h:author")) if p is not None],
        custodian=custodian,
        legal_authenticator=_participant(_one(cda, "h:legalAuthenticator"), "h:assignedEntity",
                                         "h:assignedPerson", "h:representedOrganization"),
        encounter=_encounter(cda),
        service_events=_service_events(cda),
    )
