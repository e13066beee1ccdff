"""CDA header -> French XDS metadata (one DocumentEntry per document, one SubmissionSet).

Pure mapping: header facts in (:class:`cdacheck.model.DocumentFacts`, plus the few elements
the facts do not carry, read from the parsed tree), XDS values out. Every field names its
source in ``docs/xdm.md`` (section "Building an archive"); the mapping follows the ANS PFI
mapping (xdm.md §1.4) and the value sets of xds-value-sets.md. Nothing here writes XML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from cdacheck.checks import xdm_codes as codes
from cdacheck.checks.xdm_cross import utc_dtm
from cdacheck.inputs.xml import HL7
from cdacheck.model import Code, DocumentFacts, Identifier, Participant, Timestamp

_N = {"h": HL7}
RPPS_ROOT = "1.2.250.1.71.4.2.1"  # PS national identifiers (IDNPS)
STRUCT_ROOT = "1.2.250.1.71.4.2.2"  # structure national identifiers (IDNST)
R209 = "1.2.250.1.213.2.2"  # TRE_R209-TypeActivite
R276 = "1.2.250.1.213.1.6.1.128"  # TRE_R276-FormeActivite
ACT_CODE = "2.16.840.1.113883.5.4"
FR_ENCOUNTER = "1.2.250.1.213.1.1.4.2.291"  # EXTERNE, SEANCE (JDV_J142)

# contentTypeCode (JDV_J03 / J59) displays of the codes the encounter mapping can give.
CONTENT_TYPES: dict[tuple[str, str], str] = {
    ("03", R209): "Hospitalisation complète (non compris hospitalisation de semaine)",
    ("07", R209): "Consultations soins externes",
    ("19", R209): "Traitement et cure ambulatoire",
    ("97", R209): "Type d'activité indifférencié",
    ("05", R276): "Hospitalisation à domicile (au domicile du patient)",
}
# encompassingEncounter/code (JDV_J142 TypeRencontre) -> contentTypeCode. IMP, AMB and EMER
# follow the PFI-IG default from PV1-2 (I -> 03, O -> 07, E -> 07); EXTERNE is an outpatient
# visit (O), SEANCE a recurring one (R -> 19), HH home hospitalisation (TRE_R276 05); FLD, VR
# and an absent code have no documented equivalent: 97 "indifférencié" (PFI-IG N -> 97).
ENCOUNTER_CONTENT: dict[str, tuple[str, str]] = {
    "IMP": ("03", R209), "ACUTE": ("03", R209), "NONAC": ("03", R209),
    "AMB": ("07", R209), "EMER": ("07", R209), "EXTERNE": ("07", R209),
    "SEANCE": ("19", R209), "HH": ("05", R276),
}
DEFAULT_CONTENT = ("97", R209)
_HL7_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


@dataclass(frozen=True)
class Coded:
    """A coded XDS attribute: nodeRepresentation, codingScheme, display name."""

    code: str
    scheme: str
    display: str


@dataclass(frozen=True)
class Author:
    """The four author sub-slots (each a list, as in ebRIM)."""

    person: str | None
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntryMetadata:
    """Every XDS attribute of one DocumentEntry, already in its XDS form."""

    uri: str
    mime_type: str
    hash: str
    size: int
    unique_id: str | None
    patient_id: str | None
    source_patient_id: str | None
    source_patient_info: tuple[str, ...]
    type_code: Coded | None
    class_code: Coded | None
    format_code: Coded | None
    confidentiality: tuple[Coded, ...]
    creation_time: str | None
    language: str | None
    title: str | None
    authors: tuple[Author, ...]
    legal_authenticator: str | None
    service_start: str | None
    service_stop: str | None
    facility_type: Coded | None
    practice_setting: Coded | None
    problems: tuple[tuple[str, str], ...] = ()  # (attribute, why it could not be derived)


@dataclass(frozen=True)
class SubmissionMetadata:
    """Every XDS attribute of the SubmissionSet."""

    unique_id: str
    source_id: str
    patient_id: str | None
    submission_time: str
    content_type: Coded
    authors: tuple[Author, ...]
    recipients: tuple[str, ...] = ()
    title: str | None = None


@dataclass(frozen=True)
class FolderMetadata:
    """An optional Folder holding every document of the submission."""

    unique_id: str
    title: str
    patient_id: str | None
    codes: tuple[Coded, ...] = field(default=())


# ------------------------------------------------------------------------ HL7 v2 types


def escape_v2(value: str | None) -> str:
    """A value placed inside an HL7 v2 component (XCN, XON, CX): delimiters escaped."""
    text = " ".join((value or "").split())
    for raw, escaped in _HL7_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def cx(ident: Identifier, id_type: str) -> str | None:
    """``extension^^^&root&ISO^TYPE`` (CX.1, CX.4 as ``&OID&ISO``, CX.5)."""
    if not ident.extension or not ident.root:
        return None
    return f"{escape_v2(ident.extension)}^^^&{ident.root}&ISO^{id_type}"


def _id_type(ident: Identifier) -> tuple[str, str]:
    """XCN.10 (name type) and XCN.13 (identifier type) for an author or authenticator id."""
    if ident.root in codes.INS_OIDS:
        return "D", "NH"  # the patient as author (documents of personal expression)
    if ident.root == RPPS_ROOT:
        return "D", ("EI" if "/" in (ident.extension or "") else "IDNPS")
    return "U", "RI"


Device = tuple[str | None, str | None]


def xcn(person: Participant | None, device: Device | None = None) -> str | None:
    """``id^family^given^^^^^^&root&ISO^D^^^IDNPS`` from a participant's first id and name."""
    if person is None:
        return None
    ident = next((i for i in person.ids if i.extension and i.root), None)
    if ident is None:
        return None
    family, given = (person.family, person.given) if device is None or person.family else device
    name_type, id_type = _id_type(ident)
    return (f"{escape_v2(ident.extension)}^{escape_v2(family)}^{escape_v2(given)}^^^^^^"
            f"&{ident.root}&ISO^{name_type}^^^{id_type}")


def xon(person: Participant) -> str | None:
    """``name^^^^^&root&ISO^IDNST^^^id`` of the represented organization (xds-value-sets §7.2)."""
    ident = next((i for i in person.organization_ids if i.extension and i.root), None)
    name = escape_v2(person.organization_name)
    if ident is None:
        return name or None
    id_type = "IDNST" if ident.root == STRUCT_ROOT else "XX"
    return f"{name}^^^^^&{ident.root}&ISO^{id_type}^^^{escape_v2(ident.extension)}"


def specialty(code: Code | None) -> str | None:
    """``code^display^codeSystem`` (xds-value-sets §7.1)."""
    if code is None or not code.code:
        return None
    return f"{escape_v2(code.code)}^{escape_v2(code.display_name)}^{code.code_system or ''}"


# ------------------------------------------------------------------------ header reading


def _authors(facts: DocumentFacts, cda: etree._Element | None) -> tuple[Author, ...]:
    elements = list(cda.findall("h:author", _N)) if cda is not None else []
    out = []
    for index, person in enumerate(facts.authors):
        el = elements[index] if index < len(elements) else None
        role = _attr(el, "h:functionCode", "displayName") or _attr(el, "h:functionCode", "code")
        device = _device(el)
        institution = xon(person)
        spec = specialty(person.code)
        out.append(Author(person=xcn(person, device),
                          institutions=(institution,) if institution else (),
                          roles=(role,) if role else (), specialties=(spec,) if spec else ()))
    return tuple(a for a in out if a.person)


def _device(author: etree._Element | None) -> Device | None:
    if author is None:
        return None
    dev = author.find("h:assignedAuthor/h:assignedAuthoringDevice", _N)
    if dev is None:
        return None
    model = dev.find("h:manufacturerModelName", _N)
    software = dev.find("h:softwareName", _N)
    return (_text(model), _text(software))


def _attr(el: etree._Element | None, path: str, name: str) -> str | None:
    found = el.find(path, _N) if el is not None else None
    value = found.get(name) if found is not None else None
    return value.strip() if value and value.strip() else None


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return " ".join("".join(el.itertext()).split()) or None


def ins_of(facts: DocumentFacts) -> Identifier | None:
    """The first INS (NIR, NIA, test or demonstration root) with a matricule."""
    return next((p for p in facts.patient_ids
                 if p.root in codes.INS_OIDS and p.extension and not p.null_flavor), None)


def patient_cx(facts: DocumentFacts) -> str | None:
    ins = ins_of(facts)
    return cx(ins, "NH") if ins is not None else None


def _source_patient_id(facts: DocumentFacts) -> str | None:
    local = next((p for p in facts.patient_ids
                  if p.id_class == "local" and p.extension and p.root and not p.null_flavor), None)
    return cx(local, "PI") if local is not None else patient_cx(facts)


def _patient_info(facts: DocumentFacts) -> tuple[str, ...]:
    out = []
    ids = [v for v in (patient_cx(facts), _source_patient_id(facts)) if v]
    for value in dict.fromkeys(ids):
        out.append(f"PID-3|{value}")
    t = facts.patient
    if t.birth_family_name or t.birth_given_names:
        out.append(f"PID-5|{escape_v2(t.birth_family_name)}^{escape_v2(t.birth_given_names)}^^^^^L")
    if t.used_family_name and t.used_family_name != t.birth_family_name:
        out.append(f"PID-5|{escape_v2(t.used_family_name)}^{escape_v2(t.used_given_name)}^^^^^D")
    if t.birth_date is not None and t.birth_date.raw:
        out.append(f"PID-7|{t.birth_date.raw}")
    if t.sex:
        out.append(f"PID-8|{t.sex}")
    return tuple(out)


def _coded(code: Code | None, fallback_display: str = "") -> Coded | None:
    if code is None or not code.code or not code.code_system:
        return None
    return Coded(code.code, code.code_system, code.display_name or fallback_display or code.code)


def _vs_display(key: str, code: Code | None) -> str:
    vs = codes.cisis_value_set(key)
    return vs.displays.get(code.code or "", "") if vs is not None and code is not None else ""


def _format(facts: DocumentFacts, level: str) -> Coded:
    if level == "N1":
        media = (facts.body.media_type or "application/pdf").lower()
        entry = codes.media_to_format().get(media) or codes.media_to_format()["application/pdf"]
        code = entry["format"]
    else:
        table = codes.model_to_format()
        code = next((table[t]["format"] for t in facts.template_roots if t in table),
                    codes.OUT_OF_PROFILE_FORMAT)
    info = codes.format_codes().get(code, {})
    return Coded(code, info.get("scheme") or codes.IHE_FORMAT_SCHEME, info.get("display") or code)


def _class(facts: DocumentFacts) -> Coded | None:
    row = codes.type_to_class().get(facts.code.code or "") if facts.code else None
    if row is None:
        return None
    info = codes.class_codes().get(row["class"], {})
    return Coded(row["class"], row["class_scheme"], info.get("display") or row["class"])


def _confidentiality(facts: DocumentFacts) -> tuple[Coded, ...]:
    conf = facts.confidentiality
    if conf is None or not conf.code:
        return ()
    info = codes.confidentiality_codes().get(conf.code, {})
    return (Coded(conf.code, conf.code_system or info.get("scheme") or codes.CONF_SCHEME,
                  conf.display_name or info.get("display") or conf.code),)


def _dtm(ts: Timestamp | None) -> str | None:
    return utc_dtm(ts) if ts is not None else None


def mime_type(facts: DocumentFacts) -> str:
    """text/xml, or application/xslt+xml for an auto-presentable CDA (xsl:stylesheet root)."""
    return "application/xslt+xml" if facts.root_form == "xsl:stylesheet" else "text/xml"


def unique_id(facts: DocumentFacts) -> str | None:
    """``root^extension`` (or ``root``) of ClinicalDocument/id."""
    if facts.id is None or not facts.id.root:
        return None
    return f"{facts.id.root}^{facts.id.extension}" if facts.id.extension else facts.id.root


def document_entry(facts: DocumentFacts, cda: etree._Element | None, level: str, *, uri: str,
                   sha1: str, size: int) -> EntryMetadata:
    """Every DocumentEntry attribute of one CDA (``problems`` lists what could not be derived)."""
    period = facts.service_events[0].period if facts.service_events else None
    start = (period.low or period.value) if period is not None else None
    stop = period.high if period is not None else None
    facility = facts.encounter.facility_code if facts.encounter else None
    practice = next((s.practice_setting for s in facts.service_events if s.practice_setting), None)
    type_code = _coded(facts.code)
    class_code = _class(facts)
    problems = []
    if class_code is None and facts.code is not None and facts.code.code:
        problems.append(("classCode", f"le typeCode « {facts.code.code} » n'a pas de ligne "
                                      "dans ASS_X04"))
    return EntryMetadata(
        uri=uri, mime_type=mime_type(facts), hash=sha1, size=size,
        unique_id=unique_id(facts), patient_id=patient_cx(facts),
        source_patient_id=_source_patient_id(facts), source_patient_info=_patient_info(facts),
        type_code=type_code, class_code=class_code, format_code=_format(facts, level),
        confidentiality=_confidentiality(facts), creation_time=_dtm(facts.effective_time),
        language=facts.language, title=facts.title, authors=_authors(facts, cda),
        legal_authenticator=xcn(facts.legal_authenticator), service_start=_dtm(start),
        service_stop=_dtm(stop),
        facility_type=_coded(facility, _vs_display("J02", facility)),
        practice_setting=_coded(practice, _vs_display("J04", practice)),
        problems=tuple(problems))


def content_type(facts: DocumentFacts) -> Coded:
    """contentTypeCode from encompassingEncounter/code (else an ActCode serviceEvent code)."""
    candidates: list[Code | None] = [facts.encounter.code if facts.encounter else None]
    candidates += [s.code for s in facts.service_events
                   if s.code is not None and s.code.code_system == ACT_CODE]
    for code in candidates:
        if code is not None and code.code in ENCOUNTER_CONTENT:
            return content_coded(*ENCOUNTER_CONTENT[code.code])
    return content_coded(*DEFAULT_CONTENT)


def content_coded(code: str, scheme: str) -> Coded:
    return Coded(code, scheme, CONTENT_TYPES.get((code, scheme), code))


_CODED_RE = re.compile(r"^([^^]+)\^([^^]*)\^([0-9.]+|[A-Z]+)$")


def parse_coded(value: str) -> Coded | None:
    """``code^display^scheme`` given on the command line, or None when malformed."""
    m = _CODED_RE.match(value.strip())
    if m is None:
        return None
    code, display, scheme = m.groups()
    return Coded(code, scheme, display or CONTENT_TYPES.get((code, scheme), code))
