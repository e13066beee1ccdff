"""Builder of cdacheck's synthetic CDA R2 samples (our own work, written from the fact sheet).

Everything here is deterministic: fixed dates, identifiers derived with ``uuid5`` from the
sample name, no clock, no randomness. ``build_cda`` writes a complete CI-SIS header that
satisfies every rule of cisis-facts §A, in the element order of the CDA R2 schema, and a
body that is either N1 (``nonXMLBody`` carrying a one-page PDF) or the CR-BIO N3 form of
§D.4. Defect samples start from a valid tree and change one thing (see make_samples.py).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field, replace
from typing import Literal

from lxml import etree

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSL = "http://www.w3.org/1999/XSL/Transform"
SAMPLES_NS = "urn:cdacheck:samples"
LOINC = "2.16.840.1.113883.6.1"

INS_TEST = "1.2.250.1.213.1.4.10"
INS_PROD = "1.2.250.1.213.1.4.8"
NSS_NIR = "1.2.250.1.213.1.4.13"
INS_C = "1.2.250.1.213.1.4.2"
PS_ID = "1.2.250.1.71.4.2.1"
STRUCT_ID = "1.2.250.1.71.4.2.2"

T_HL7_FR = "2.16.840.1.113883.2.8.2.1"
T_CISIS = "1.2.250.1.213.1.1.1.1"
T_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"
N1_TEMPLATES: tuple[tuple[str, str | None], ...] = ((T_HL7_FR, None), (T_CISIS, None), (T_XDS_SD, None))
CR_BIO_TEMPLATES: tuple[tuple[str, str | None], ...] = (
    (T_HL7_FR, None), (T_CISIS, None),
    ("1.3.6.1.4.1.19376.1.3.3", None), ("1.2.250.1.213.1.1.1.55", "2024.01"),
)

# A fixed namespace so that every identifier is a stable function of the sample name.
_UUID_NS = uuid.UUID("6f1c1f0e-3b1e-4d7e-9a51-2c0dcacec0de")


def oid_for(label: str) -> str:
    """A stable OID under the UUID arc 2.25 (ITU-T X.667), minted from a label."""
    return f"2.25.{uuid.uuid5(_UUID_NS, label).int}"


def luhn_key(digits: str) -> str:
    """The Luhn check digit of a digit string (used by FINESS and RPPS numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def nir_key(nir13: str) -> str:
    """NIR/NIA key: 97 - (N mod 97) on 2 digits, with 2A -> 19 and 2B -> 18 (§B.4)."""
    digits = nir13.upper().replace("2A", "19").replace("2B", "18")
    return f"{97 - int(digits) % 97:02d}"


# Fictional professionals and structures (identifiers with a valid Luhn key, not real ones).
FINESS = "75099999" + luhn_key("75099999")
STRUCT_EXT = "1" + FINESS
RPPS = "1099999999" + luhn_key("1099999999")
PS_EXT = "8" + RPPS
IPP_ROOT = oid_for("ipp")
ENCOUNTER_ROOT = oid_for("encounter")


# --------------------------------------------------------------------------- PDF


def _pdf_escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def make_pdf(lines: list[str], pages: int = 1, encrypted: bool = False) -> bytes:
    """A minimal PDF (A4, Helvetica) showing ``lines``; byte-for-byte deterministic.

    ``pages=0`` gives a page tree with no page; ``encrypted`` adds a standard-security
    ``/Encrypt`` dictionary to the trailer (for the "encrypted PDF" defect sample).
    """
    ops = [b"BT /F1 12 Tf 14 TL 56 780 Td"]
    for line in lines:
        ops.append(b"(" + _pdf_escape(line) + b") Tj T*")
    ops.append(b"ET")
    stream = b"\n".join(ops) + b"\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>" if pages else
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"endstream",
        b"<< /Title (" + _pdf_escape(lines[0] if lines else "") + b") /Producer (cdacheck samples) >>",
    ]
    if encrypted:
        objects.append(b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 "
                       b"/O <" + b"41" * 32 + b"> /U <" + b"42" * 32 + b"> >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    extra = (f" /Encrypt {len(objects)} 0 R /ID [<{'00' * 16}> <{'00' * 16}>]" if encrypted
             else "")
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R{extra} >>\n"
            f"startxref\n{xref_at}\n%%EOF\n").encode()
    return bytes(out)


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Patient:
    """A fictional test patient; the NIR is derived from the traits, so sex and birth agree."""

    family: str
    given_all: str
    given_first: str
    sex: Literal["F", "M"]
    birth: str  # YYYYMMDD
    county: str  # INSEE COG code of the birth commune (5 chars, 2A/2B for Corsica)
    city: str
    order: str  # 3-digit order number of the NIR
    ipp: str

    @property
    def nir13(self) -> str:
        sex_digit = "2" if self.sex == "F" else "1"
        return f"{sex_digit}{self.birth[2:4]}{self.birth[4:6]}{self.county}{self.order}"

    @property
    def nir(self) -> str:
        return self.nir13 + nir_key(self.nir13)


PAT_F = Patient("PAT-TEST", "CLAIRE MARIE", "CLAIRE", "F", "19850412", "75056", "PARIS",
                "123", "IPP-0001")
PAT_CORSE = Patient("DUPONT", "JEAN PIERRE", "JEAN", "M", "19721105", "2A004", "AJACCIO",
                    "045", "IPP-0002")
PAT_M = Patient("ESSAI-MARTIN", "LUC", "LUC", "M", "19600220", "69123", "LYON", "201",
                "IPP-0003")


@dataclass(frozen=True)
class Author:
    code: str
    display: str
    family: str
    given: str


MED_INTERNE = Author("G15_10/SM27", "Médecin - Médecine interne (SM)", "MEDECIN-TEST", "Paul")
CHIRURGIEN = Author("G15_10/SM14", "Médecin - Chirurgie viscérale et digestive (SM)",
                    "CHIRURGIEN-TEST", "Anne")
RADIOLOGUE = Author("G15_10/SM44", "Médecin - Radio-diagnostic (SM)", "RADIOLOGUE-TEST", "Marc")
BIOLOGISTE = Author("G15_10/SM03", "Médecin - Biologie médicale (SM)", "BIOLOGISTE-TEST", "Inès")
ANESTHESISTE = Author("G15_10/SM02", "Médecin - Anesthésie-réanimation (SM)",
                      "ANESTHESISTE-TEST", "Hugo")


@dataclass(frozen=True)
class Encounter:
    code: str  # J142, codeSystem 2.16.840.1.113883.5.4
    display: str
    low: str
    high: str | None


STAY_MARCH = Encounter("IMP", "Hospitalisation (établissement, y compris HAD)",
                       "20240310080000+0100", "20240315160000+0100")
STAY_JUNE = Encounter("IMP", "Hospitalisation (établissement, y compris HAD)",
                      "20240617073000+0200", "20240621110000+0200")
VISIT_LAB = Encounter("AMB", "Ambulatoire", "20240304083000+0100", "20240304093000+0100")


@dataclass(frozen=True)
class DocSpec:
    """What a sample document says; ``body`` picks the N1 or the CR-BIO N3 body."""

    name: str
    code: str
    display: str
    title: str
    effective: str
    patient: Patient
    author: Author
    encounter: Encounter
    service_low: str
    service_high: str | None
    templates: tuple[tuple[str, str | None], ...] = N1_TEMPLATES
    body: Literal["n1", "cr-bio-n3"] = "n1"
    service_code: tuple[str, str, str] | None = None  # code, codeSystem, displayName
    pdf_lines: tuple[str, ...] = ()
    version: int = 1
    lab_results: tuple[tuple[str, str, str, str, str], ...] = field(default=())


def with_(spec: DocSpec, **changes: object) -> DocSpec:
    return replace(spec, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- XML


def el(parent: etree._Element | None, tag: str, attrs: dict[str, str] | None = None,
       text: str | None = None) -> etree._Element:
    """Create an HL7 element (``tag`` may carry a ``{ns}`` already), append it to ``parent``."""
    qname = tag if tag.startswith("{") else f"{{{HL7}}}{tag}"
    node = (etree.SubElement(parent, qname) if parent is not None
            else etree.Element(qname, nsmap={None: HL7, "xsi": XSI}))
    for key, value in (attrs or {}).items():
        node.set(key, value)
    if text is not None:
        node.text = text
    return node


def _code(parent: etree._Element, tag: str, code: str, system: str, display: str) -> etree._Element:
    return el(parent, tag, {"code": code, "displayName": display, "codeSystem": system})


def _organization(parent: etree._Element, tag: str, sector: bool) -> None:
    org = el(parent, tag)
    el(org, "id", {"root": STRUCT_ID, "extension": STRUCT_EXT})
    el(org, "name", text="Centre hospitalier de test CDACHECK")
    el(org, "telecom", {"value": "tel:0100000000", "use": "WP"})
    _address(org, "1", "Rue de l'Essai", "75001", "PARIS")
    if sector:
        _code(org, "standardIndustryClassCode", "ETABLISSEMENT", "1.2.250.1.213.1.1.4.9",
              "Etablissement de santé")


def _address(parent: etree._Element, number: str, street: str, postal: str, city: str) -> None:
    addr = el(parent, "addr")
    el(addr, "houseNumber", text=number)
    el(addr, "streetName", text=street)
    el(addr, "postalCode", text=postal)
    el(addr, "city", text=city)


def _person(parent: etree._Element, author: Author) -> None:
    person = el(parent, "assignedPerson")
    name = el(person, "name")
    el(name, "given", text=author.given)
    el(name, "family", text=author.family)
    el(name, "suffix", text="DR")


def _assigned(parent: etree._Element, tag: str, author: Author, sector: bool) -> None:
    entity = el(parent, tag)
    el(entity, "id", {"root": PS_ID, "extension": PS_EXT})
    _code(entity, "code", author.code, "1.2.250.1.213.1.1.4.5", author.display)
    _person(entity, author)
    _organization(entity, "representedOrganization", sector)


def _record_target(root: etree._Element, spec: DocSpec) -> None:
    pat = spec.patient
    role = el(el(root, "recordTarget"), "patientRole")
    el(role, "id", {"root": INS_TEST, "extension": pat.nir})
    el(role, "id", {"root": IPP_ROOT, "extension": pat.ipp})
    _address(role, "10", "Avenue du Test", "75012", "PARIS")
    el(role, "telecom", {"value": "tel:0600000000", "use": "MC"})
    patient = el(role, "patient", {"classCode": "PSN"})
    name = el(patient, "name")
    el(name, "family", {"qualifier": "BR"}, pat.family)
    el(name, "given", text=pat.given_all)
    el(name, "given", {"qualifier": "BR"}, pat.given_first)
    display = "Féminin" if pat.sex == "F" else "Masculin"
    _code(patient, "administrativeGenderCode", pat.sex, "2.16.840.1.113883.5.1", display)
    el(patient, "birthTime", {"value": pat.birth})
    addr = el(el(el(patient, "birthplace"), "place"), "addr")
    el(addr, "county", text=pat.county)
    el(addr, "city", text=pat.city)


def _header(spec: DocSpec) -> etree._Element:
    root = el(None, "ClinicalDocument")
    el(root, "realmCode", {"code": "FR"})
    el(root, "typeId", {"root": "2.16.840.1.113883.1.3", "extension": "POCD_HD000040"})
    for tid, ext in spec.templates:
        el(root, "templateId", {"root": tid, **({"extension": ext} if ext else {})})
    set_root = oid_for(f"set/{spec.name}")
    el(root, "id", {"root": oid_for(f"doc/{spec.name}/v{spec.version}")})
    el(root, "code", {"code": spec.code, "displayName": spec.display, "codeSystem": LOINC,
                      "codeSystemName": "LOINC"})
    el(root, "title", text=spec.title)
    el(root, "effectiveTime", {"value": spec.effective})
    el(root, "confidentialityCode", {"code": "N", "displayName": "Normal",
                                     "codeSystem": "2.16.840.1.113883.5.25"})
    el(root, "languageCode", {"code": "fr-FR"})
    el(root, "setId", {"root": set_root})
    el(root, "versionNumber", {"value": str(spec.version)})
    _record_target(root, spec)
    author = el(root, "author")
    el(author, "time", {"value": spec.effective})
    _assigned(author, "assignedAuthor", spec.author, sector=True)
    custodian_org = el(el(el(root, "custodian"), "assignedCustodian"),
                       "representedCustodianOrganization")
    el(custodian_org, "id", {"root": STRUCT_ID, "extension": STRUCT_EXT})
    el(custodian_org, "name", text="Centre hospitalier de test CDACHECK")
    legal = el(root, "legalAuthenticator")
    el(legal, "time", {"value": spec.effective})
    el(legal, "signatureCode", {"code": "S"})
    _assigned(legal, "assignedEntity", spec.author, sector=False)
    event = el(el(root, "documentationOf"), "serviceEvent")
    if spec.service_code:
        code, system, display = spec.service_code
        _code(event, "code", code, system, display)
    period = el(event, "effectiveTime")
    el(period, "low", {"value": spec.service_low})
    if spec.service_high:
        el(period, "high", {"value": spec.service_high})
    performer = el(event, "performer", {"typeCode": "PRF"})
    _assigned(performer, "assignedEntity", spec.author, sector=True)
    enc = el(el(root, "componentOf"), "encompassingEncounter")
    el(enc, "id", {"root": ENCOUNTER_ROOT, "extension": f"SEJ-{spec.patient.ipp}-{spec.encounter.low[:8]}"})
    _code(enc, "code", spec.encounter.code, "2.16.840.1.113883.5.4", spec.encounter.display)
    eperiod = el(enc, "effectiveTime")
    el(eperiod, "low", {"value": spec.encounter.low})
    if spec.encounter.high:
        el(eperiod, "high", {"value": spec.encounter.high})
    facility = el(el(enc, "location"), "healthCareFacility")
    _code(facility, "code", "SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé")
    return root


def pdf_for(spec: DocSpec) -> bytes:
    lines = list(spec.pdf_lines) or [spec.title]
    lines += [f"Patient : {spec.patient.family} {spec.patient.given_all} (patient fictif de test)",
              f"Date : {spec.effective[6:8]}/{spec.effective[4:6]}/{spec.effective[:4]}",
              "Document synthétique produit par cdacheck (scripts/make_samples.py)."]
    return make_pdf(lines)


def b64_lines(data: bytes, width: int = 76) -> str:
    """Base64 wrapped in lines, as producers usually write it."""
    text = base64.b64encode(data).decode("ascii")
    return "\n" + "\n".join(text[i:i + width] for i in range(0, len(text), width)) + "\n"


def _n1_body(root: etree._Element, spec: DocSpec) -> None:
    body = el(el(root, "component"), "nonXMLBody")
    el(body, "text", {"mediaType": "application/pdf", "representation": "B64"},
       b64_lines(pdf_for(spec)))


# --------------------------------------------------------------------------- CR-BIO N3

# LOINC code, display, value, unit, (low, high) of a result.
DEFAULT_LAB = (
    ("14749-6", "Glucose [Moles/volume] in Serum or Plasma", "5.4", "mmol/L", "3.9-6.1"),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "4.1", "mmol/L", "3.5-5.1"),
)


def _section(parent: etree._Element, templates: list[str], code: tuple[str, str],
             title: str | None) -> etree._Element:
    section = el(el(parent, "component"), "section")
    for tid in templates:
        el(section, "templateId", {"root": tid})
    el(section, "code", {"code": code[0], "displayName": code[1], "codeSystem": LOINC,
                         "codeSystemName": "LOINC"})
    if title:
        el(section, "title", text=title)
    return section


def _lab_text(section: etree._Element, results: tuple[tuple[str, str, str, str, str], ...]) -> None:
    table = el(el(section, "text"), "table", {"border": "1"})
    head = el(el(table, "thead"), "tr")
    for label in ("Examen", "Résultat", "Valeurs de référence"):
        el(head, "th", text=label)
    tbody = el(table, "tbody")
    for i, (_, display, value, unit, ref) in enumerate(results, start=1):
        row = el(tbody, "tr")
        el(el(row, "td"), "content", {"ID": f"res{i}"}, display)
        el(row, "td", text=f"{value} {unit}")
        el(row, "td", text=ref.replace("-", " - "))


def _lab_observation(act: etree._Element, index: int, result: tuple[str, str, str, str, str],
                     when: str) -> None:
    code, display, value, unit, ref = result
    obs = el(el(act, "entryRelationship", {"typeCode": "COMP"}), "observation",
             {"classCode": "OBS", "moodCode": "EVN"})
    el(obs, "templateId", {"root": "1.3.6.1.4.1.19376.1.3.1.6"})
    el(obs, "templateId", {"root": "1.2.250.1.213.1.1.3.80"})
    obs_code = el(obs, "code", {"code": code, "displayName": display, "codeSystem": LOINC,
                                "codeSystemName": "LOINC"})
    # FR-Resultat-examens-de-biologie (1.2.250.1.213.1.1.3.80): code/originalText/reference.
    el(el(obs_code, "originalText"), "reference", {"value": f"#res{index}"})
    el(el(obs, "text"), "reference", {"value": f"#res{index}"})
    el(obs, "statusCode", {"code": "completed"})
    el(obs, "effectiveTime", {"value": when})
    el(obs, "value", {f"{{{XSI}}}type": "PQ", "value": value, "unit": unit})
    el(obs, "interpretationCode", {"code": "N", "codeSystem": "2.16.840.1.113883.5.83"})
    low, high = ref.split("-")
    rng = el(el(obs, "referenceRange"), "observationRange")
    ivl = el(rng, "value", {f"{{{XSI}}}type": "IVL_PQ"})
    el(ivl, "low", {"value": low, "unit": unit})
    el(ivl, "high", {"value": high, "unit": unit})
    el(rng, "interpretationCode", {"code": "N", "codeSystem": "2.16.840.1.113883.5.83"})


def _cr_bio_header(root: etree._Element, spec: DocSpec) -> None:
    """What the volet CR-BIO adds to the common header (Entete_CR-BIO): the laboratory
    director's time, addr and telecom in serviceEvent/performer, and the responsible
    biologist (encompassingEncounter/responsibleParty)."""
    performer = root.find(f"{{{HL7}}}documentationOf/{{{HL7}}}serviceEvent/{{{HL7}}}performer")
    if performer is not None:
        performer.insert(0, etree.Element(f"{{{HL7}}}time", value=spec.service_low))
        entity = performer.find(f"{{{HL7}}}assignedEntity")
        person = entity.find(f"{{{HL7}}}assignedPerson") if entity is not None else None
        if person is not None:
            holder = etree.Element("holder")
            _address(holder, "1", "Rue de l'Essai", "75001", "PARIS")
            el(holder, "telecom", {"value": "tel:0100000001", "use": "WP"})
            for child in list(holder):
                person.addprevious(child)
    enc = root.find(f"{{{HL7}}}componentOf/{{{HL7}}}encompassingEncounter")
    location = enc.find(f"{{{HL7}}}location") if enc is not None else None
    if location is not None:
        party = etree.Element(f"{{{HL7}}}responsibleParty")
        location.addprevious(party)
        entity = el(party, "assignedEntity")
        el(entity, "id", {"root": PS_ID, "extension": PS_EXT})
        _code(entity, "code", spec.author.code, "1.2.250.1.213.1.1.4.5", spec.author.display)
        _person(entity, spec.author)


def _cr_bio_body(root: etree._Element, spec: DocSpec, with_entries: bool = True) -> None:
    _cr_bio_header(root, spec)
    body = el(el(root, "component"), "structuredBody")
    specialty = _section(body, ["1.3.6.1.4.1.19376.1.3.3.2.1", "1.2.250.1.213.1.1.2.70"],
                         ("18719-5", "Biochimie"), "Biochimie")
    item = _section(specialty, ["1.3.6.1.4.1.19376.1.3.3.2.2", "1.2.250.1.213.1.1.2.71"],
                    ("18719-5", "Biochimie"), "Biochimie sanguine")
    results = spec.lab_results or DEFAULT_LAB
    _lab_text(item, results)
    if with_entries:
        # IHE PALM puts the Laboratory Report Data Processing Entry templateIds on the entry.
        entry = el(item, "entry", {"typeCode": "DRIV"})
        el(entry, "templateId", {"root": "1.3.6.1.4.1.19376.1.3.1"})
        el(entry, "templateId", {"root": "1.2.250.1.213.1.1.3.21"})
        act = el(entry, "act", {"classCode": "ACT", "moodCode": "EVN"})
        el(act, "code", {"code": "18719-5", "displayName": "Biochimie", "codeSystem": LOINC,
                         "codeSystemName": "LOINC"})
        el(act, "statusCode", {"code": "completed"})
        for i, result in enumerate(results, start=1):
            _lab_observation(act, i, result, spec.service_low)
    copy = _section(body, ["1.2.250.1.213.1.1.2.243"], ("55108-5", "Copie du document"),
                    "Copie du document")
    el(el(copy, "text"), "renderMultiMedia", {"referencedObject": "pdf-copie"})
    if with_entries:
        org = el(el(copy, "entry"), "organizer", {"classCode": "CLUSTER", "moodCode": "EVN"})
        el(org, "templateId", {"root": "1.2.250.1.213.1.1.3.18"})
        el(org, "id", {"root": "1.2.250.1.213.1.1.9", "extension": f"{spec.name}-pdf"})
        el(org, "code", {"code": "55107-7", "displayName": "Document attaché",
                         "codeSystem": LOINC, "codeSystemName": "LOINC"})
        el(org, "statusCode", {"code": "completed"})
        # FR-Type-document-attache: the type of the attached document (CI-SIS models).
        kind = el(el(org, "component"), "observation", {"classCode": "OBS", "moodCode": "EVN"})
        el(kind, "templateId", {"root": "1.3.6.1.4.1.19376.1.5.3.1.4.13"})
        el(kind, "templateId", {"root": "1.2.250.1.213.1.1.3.48.18"})
        el(kind, "id", {"root": "1.2.250.1.213.1.1.9", "extension": f"{spec.name}-pdf-type"})
        el(kind, "code", {"code": "69764-9", "displayName": "Type de document",
                          "codeSystem": LOINC, "codeSystemName": "LOINC"})
        el(el(kind, "text"), "reference", {"value": "#pdf-copie"})
        el(kind, "statusCode", {"code": "completed"})
        el(kind, "effectiveTime", {"nullFlavor": "NA"})
        el(kind, "value", {f"{{{XSI}}}type": "CD", "code": "55108-5", "displayName": "Copie du document",
                           "codeSystem": LOINC, "codeSystemName": "LOINC"})
        media = el(el(org, "component"), "observationMedia",
                   {"classCode": "OBS", "moodCode": "EVN", "ID": "pdf-copie"})
        el(media, "value", {"mediaType": "application/pdf", "representation": "B64"},
           b64_lines(pdf_for(spec)))


# --------------------------------------------------------------------------- entry points


def build_cda(spec: DocSpec, n3_entries: bool = True) -> etree._Element:
    """The ClinicalDocument element of a sample (header + body)."""
    root = _header(spec)
    if spec.body == "n1":
        _n1_body(root, spec)
    else:
        _cr_bio_body(root, spec, with_entries=n3_entries)
    return root


def serialize(root: etree._Element, encoding: str = "UTF-8") -> bytes:
    """XML bytes with a declaration; lxml output is stable for a given tree."""
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding=encoding,
                          pretty_print=True)


def wrap_signature(cda: etree._Element) -> etree._Element:
    """A ``ds:Signature`` root enveloping the document in a ``ds:Object`` (enveloping form).

    The signature value is a placeholder: cdacheck validates the CDA, not the signature.
    """
    sig = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    info = etree.SubElement(sig, f"{{{DS}}}SignedInfo")
    etree.SubElement(info, f"{{{DS}}}CanonicalizationMethod",
                     Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    etree.SubElement(info, f"{{{DS}}}SignatureMethod",
                     Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    ref = etree.SubElement(info, f"{{{DS}}}Reference", URI="#cda")
    etree.SubElement(ref, f"{{{DS}}}DigestMethod",
                     Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(ref, f"{{{DS}}}DigestValue").text = base64.b64encode(bytes(32)).decode()
    etree.SubElement(sig, f"{{{DS}}}SignatureValue").text = base64.b64encode(bytes(64)).decode()
    obj = etree.SubElement(sig, f"{{{DS}}}Object", Id="cda")
    obj.append(cda)
    return sig


def wrap_stylesheet(cda: etree._Element) -> etree._Element:
    """An auto-presentable document: ``xsl:stylesheet`` root with the CDA in a data element."""
    sheet = etree.Element(f"{{{XSL}}}stylesheet", nsmap={"xsl": XSL, "data": SAMPLES_NS},
                          version="1.0")
    etree.SubElement(sheet, f"{{{XSL}}}output", method="html", encoding="UTF-8")
    holder = etree.SubElement(sheet, f"{{{SAMPLES_NS}}}Contenu")
    holder.append(cda)
    template = etree.SubElement(sheet, f"{{{XSL}}}template", match="/")
    html = etree.SubElement(template, "html")
    body = etree.SubElement(html, "body")
    h1 = etree.SubElement(body, "h1")
    etree.SubElement(h1, f"{{{XSL}}}value-of",
                     select="document('')//*[local-name()='ClinicalDocument']/*[local-name()='title']")
    return sheet
