"""IHE XDM sample archives, built from our own synthetic CDA documents.

``build_xdm_samples(out_dir, documents)`` is called by scripts/make_samples.py with the valid
sample documents (name -> bytes). It writes one valid archive per document, one archive per
patient holding all of that patient's documents with their PDF twins, and archives that
each carry exactly one defect, every one with a ``<name>.expected.json`` sidecar in the
format of the document samples (env, valid, rules, absent_rules, exit_code, description)
plus ``indicators`` (one per document, in report order).

Run alone: ``python scripts/samples_xdm.py [OUT_DIR]`` (default samples/xdm) builds the
documents through make_samples. The METADATA.XML is written from the CDA with our own XPath
reading (not with cdacheck.facts), so that a bug in cdacheck's fact extraction shows up as
a mismatch instead of being copied into the samples. Output is byte-for-byte deterministic.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import sys
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cdacheck.checks import xdm_codes  # noqa: E402  (the XDS tables are data)

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}
_UUIDS = uuid.UUID("0d5c7a8e-5b1f-4f3a-9a0e-cdacdacdac07")
_DATE = (2024, 1, 1, 0, 0, 0)
INDEX_HTM = (b"<html><head><title>IHE XDM</title></head><body>"
             b"<p>Support IHE XDM produit par cdacheck (exemples synth\xc3\xa9tiques).</p>"
             b"<p><a href=\"README.TXT\">README.TXT</a> - "
             b"<a href=\"IHE_XDM/SUBSET01/METADATA.XML\">METADATA.XML</a></p></body></html>\n")
README_TXT = (b"cdacheck samples - IHE XDM media creator: cdacheck scripts/samples_xdm.py\r\n"
              b"Contact: cdacheck developers. Synthetic test data only.\r\n")
SHA_UPPER = "0123456789abcdef"
BOMB_SIZE = 8 * 1024 * 1024


# ------------------------------------------------------------------------ CDA header


def _cda(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    if root.tag == f"{{{HL7}}}ClinicalDocument":
        return root
    found = next(root.iter(f"{{{HL7}}}ClinicalDocument"))
    return found


def _attr(root: etree._Element, path: str, name: str) -> str | None:
    found = root.xpath(path, namespaces=NS)
    return found[0].get(name) if found else None


def _text(root: etree._Element, path: str) -> str | None:
    found = root.xpath(path, namespaces=NS)
    return " ".join((found[0].text or "").split()) if found else None


def utc(value: str | None) -> str | None:
    """An HL7 TS ``YYYYMMDDhhmmss+hhmm`` as an XDS DTM in UTC (no offset: kept as written)."""
    if not value:
        return None
    digits, sign, offset = value, None, ""
    for s in "+-":
        if s in value[8:]:
            digits, offset = value.split(s, 1)
            sign = s
    if sign is None or len(digits) < 12:
        return digits
    fmt = "%Y%m%d%H%M%S"[: {12: 10, 14: 12}.get(len(digits), 12)]
    local = dt.datetime.strptime(digits[:14], fmt)
    delta = dt.timedelta(hours=int(offset[:2]), minutes=int(offset[2:4] or 0))
    moment = local - delta if sign == "+" else local + delta
    return moment.strftime("%Y%m%d%H%M%S")[: len(digits)]


@dataclass(frozen=True)
class Header:
    """What METADATA.XML needs from one CDA."""

    unique_id: str
    code: str
    code_system: str
    code_display: str
    title: str
    creation: str
    creation_raw: str
    confidentiality: tuple[str, str, str]
    language: str
    ins: tuple[str, str]
    ipp: tuple[str, str] | None
    patient_info: tuple[str, ...]
    author_xcn: str
    author_xon: str | None
    author_specialty: str | None
    legal_xcn: str
    start: str | None
    stop: str | None
    facility: tuple[str, str, str]
    practice: tuple[str, str, str]
    templates: tuple[str, ...]
    level: str
    media_type: str | None
    pdf: bytes | None


def read_header(data: bytes) -> Header:
    cda = _cda(data)
    root_id, ext = _attr(cda, "h:id", "root"), _attr(cda, "h:id", "extension")
    ins = ipp = None
    for pid in cda.xpath("h:recordTarget/h:patientRole/h:id", namespaces=NS):
        if pid.get("root") in xdm_codes.INS_OIDS and ins is None:
            ins = (pid.get("extension"), pid.get("root"))
        elif ipp is None and pid.get("extension"):
            ipp = (pid.get("extension"), pid.get("root"))
    if ins is None:
        raise ValueError("no INS in recordTarget/patientRole/id")
    patient = "h:recordTarget/h:patientRole/h:patient"
    family = _text(cda, f"{patient}/h:name/h:family[@qualifier='BR']") or \
        _text(cda, f"{patient}/h:name/h:family") or ""
    given = _text(cda, f"{patient}/h:name/h:given") or ""
    info = (f"PID-3|{ins[0]}^^^&{ins[1]}&ISO^NH", f"PID-5|{family}^{given}^^^^^L",
            f"PID-7|{_attr(cda, f'{patient}/h:birthTime', 'value') or ''}",
            f"PID-8|{_attr(cda, f'{patient}/h:administrativeGenderCode', 'code') or ''}")
    author = "h:author[1]/h:assignedAuthor"
    legal = "h:legalAuthenticator/h:assignedEntity"
    body_text = cda.xpath("h:component/h:nonXMLBody/h:text", namespaces=NS)
    pdf = None
    media = None
    if body_text:
        media = body_text[0].get("mediaType")
        if media == "application/pdf":
            pdf = base64.b64decode("".join((body_text[0].text or "").split()))
    practice = "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/" \
               "h:representedOrganization/h:standardIndustryClassCode"
    org = f"{author}/h:representedOrganization"
    org_ext = _attr(cda, f"{org}/h:id", "extension")
    spec_code = _attr(cda, f"{author}/h:code", "code")
    return Header(
        unique_id=f"{root_id}^{ext}" if ext else str(root_id),
        code=str(_attr(cda, "h:code", "code")), code_system=str(_attr(cda, "h:code", "codeSystem")),
        code_display=_attr(cda, "h:code", "displayName") or "",
        title=_text(cda, "h:title") or "",
        creation=utc(_attr(cda, "h:effectiveTime", "value")) or "",
        creation_raw=_attr(cda, "h:effectiveTime", "value") or "",
        confidentiality=(str(_attr(cda, "h:confidentialityCode", "code")),
                         str(_attr(cda, "h:confidentialityCode", "codeSystem")),
                         _attr(cda, "h:confidentialityCode", "displayName") or ""),
        language=_attr(cda, "h:languageCode", "code") or "",
        ins=ins, ipp=ipp, patient_info=info,
        author_xcn=_xcn(cda, author),
        author_xon=(f"{_text(cda, f'{org}/h:name') or ''}^^^^^&{_attr(cda, f'{org}/h:id', 'root')}"
                    f"&ISO^IDNST^^^{org_ext}") if org_ext else None,
        author_specialty=(f"{spec_code}^{_attr(cda, f'{author}/h:code', 'displayName') or ''}^"
                          f"{_attr(cda, f'{author}/h:code', 'codeSystem') or ''}")
        if spec_code else None,
        legal_xcn=_xcn(cda, legal),
        start=utc(_attr(cda, "h:documentationOf/h:serviceEvent/h:effectiveTime/h:low", "value")),
        stop=utc(_attr(cda, "h:documentationOf/h:serviceEvent/h:effectiveTime/h:high", "value")),
        facility=_coded(cda, "h:componentOf/h:encompassingEncounter/h:location/"
                             "h:healthCareFacility/h:code"),
        practice=_coded(cda, practice),
        templates=tuple(t.get("root") for t in cda.xpath("h:templateId", namespaces=NS)),
        level="N1" if body_text else "N3", media_type=media, pdf=pdf)


def _coded(cda: etree._Element, path: str) -> tuple[str, str, str]:
    return (_attr(cda, path, "code") or "", _attr(cda, path, "codeSystem") or "",
            _attr(cda, path, "displayName") or "")


def _xcn(cda: etree._Element, path: str) -> str:
    ident = _attr(cda, f"{path}/h:id", "extension") or ""
    root = _attr(cda, f"{path}/h:id", "root") or ""
    family = _text(cda, f"{path}/h:assignedPerson/h:name/h:family") or ""
    given = _text(cda, f"{path}/h:assignedPerson/h:name/h:given") or ""
    return f"{ident}^{family}^{given}^^^^^^&{root}&ISO^D^^^IDNPS"


# ------------------------------------------------------------------------ METADATA.XML


@dataclass
class Entry:
    """One DocumentEntry: the file, its header and what to write (overridable per defect)."""

    uri: str
    data: bytes
    header: Header
    mime: str = "text/xml"
    values: dict[str, str] = field(default_factory=dict)

    def value(self, key: str, default: str) -> str:
        return self.values.get(key, default)


def _uuid(label: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_UUIDS, label)}"


def _slot(name: str, *values: str | None) -> str:
    vals = "".join(f"<rim:Value>{escape(v)}</rim:Value>" for v in values if v is not None)
    return f'<rim:Slot name="{name}"><rim:ValueList>{vals}</rim:ValueList></rim:Slot>'


def _name(value: str) -> str:
    return f"<rim:Name><rim:LocalizedString value={quoteattr(value)}/></rim:Name>"


def _class(scheme: str, obj: str, cid: str, code: str, system: str, display: str) -> str:
    return (f'<rim:Classification id="{cid}" classificationScheme="{scheme}" '
            f'classifiedObject="{obj}" nodeRepresentation={quoteattr(code)}>'
            f"{_slot('codingScheme', system)}{_name(display)}</rim:Classification>")


def _ext_id(scheme: str, obj: str, eid: str, value: str, label: str) -> str:
    return (f'<rim:ExternalIdentifier id="{eid}" identificationScheme="{scheme}" '
            f'registryObject="{obj}" value={quoteattr(value)}>{_name(label)}'
            f"</rim:ExternalIdentifier>")


def patient_cx(header: Header) -> str:
    return f"{header.ins[0]}^^^&{header.ins[1]}&ISO^NH"


def document_entry(entry: Entry, label: str, patient: str) -> str:
    h = entry.header
    eid = _uuid(f"{label}/{entry.uri}")
    cls = xdm_codes.type_to_class()[h.code]
    if entry.mime == "application/pdf":
        fmt = xdm_codes.media_to_format()["application/pdf"]["format"]
    else:
        found = sorted(xdm_codes.expected_formats(list(h.templates), h.level, h.media_type))
        fmt = found[0] if found else xdm_codes.OUT_OF_PROFILE_FORMAT
    fmt = entry.value("formatCode", fmt)
    fmt_scheme = xdm_codes.format_codes()[fmt]["scheme"]
    digest = entry.value("hash", hashlib.sha1(entry.data).hexdigest())
    source_pid = f"{h.ipp[0]}^^^&{h.ipp[1]}&ISO^PI" if h.ipp else patient_cx(h)
    unique = h.unique_id if entry.mime != "application/pdf" else f"{h.unique_id}.PDF"
    author = (f'<rim:Classification id="{eid}-a" classificationScheme="urn:uuid:93606bcf-9494-'
              f'43ec-9b4e-a7748d1a838d" classifiedObject="{eid}" nodeRepresentation="">'
              f"{_slot('authorPerson', h.author_xcn)}"
              f"{_slot('authorInstitution', h.author_xon) if h.author_xon else ''}"
              f"{_slot('authorRole', 'Auteur du document')}"
              f"{_slot('authorSpecialty', h.author_specialty) if h.author_specialty else ''}"
              f"</rim:Classification>")
    slots = "".join([
        _slot("creationTime", entry.value("creationTime", h.creation)),
        _slot("hash", digest), _slot("languageCode", h.language),
        _slot("legalAuthenticator", h.legal_xcn),
        _slot("serviceStartTime", h.start) if h.start else "",
        _slot("serviceStopTime", h.stop) if h.stop else "",
        _slot("size", str(len(entry.data))),
        _slot("sourcePatientId", source_pid),
        _slot("sourcePatientInfo", *h.patient_info),
        _slot("URI", entry.value("URI", entry.uri)),
    ])
    codes = "".join([
        author,
        _class("urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a", eid, f"{eid}-c", cls["class"],
               cls["class_scheme"], xdm_codes.class_codes()[cls["class"]]["display"]),
        _class("urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f", eid, f"{eid}-k",
               *h.confidentiality),
        _class("urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d", eid, f"{eid}-f", fmt,
               fmt_scheme, xdm_codes.format_codes().get(fmt, {}).get("display", fmt)),
        _class("urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1", eid, f"{eid}-h", *h.facility),
        _class("urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead", eid, f"{eid}-p", *h.practice),
        _class("urn:uuid:f0306f51-975f-434e-a61c-c59651d33983", eid, f"{eid}-t", h.code,
               h.code_system, h.code_display),
    ])
    ids = (_ext_id("urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427", eid, f"{eid}-i",
                   entry.value("patientId", patient), "XDSDocumentEntry.patientId")
           + _ext_id("urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab", eid, f"{eid}-u",
                     unique, "XDSDocumentEntry.uniqueId"))
    return (f'<rim:ExtrinsicObject id="{eid}" mimeType="{entry.mime}" '
            f'objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1" '
            f'status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved">'
            f"{slots}{_name(h.title)}{codes}{ids}</rim:ExtrinsicObject>")


def metadata_xml(entries: list[Entry], label: str, patient: str | None = None) -> bytes:
    """A SubmitObjectsRequest with one SubmissionSet, the entries and HasMember links."""
    first = entries[0].header
    ss_patient = patient or patient_cx(first)
    ss = _uuid(f"{label}/ss")
    unique = "1.2.250.1.213.1.1.9." + str(uuid.uuid5(_UUIDS, label).int % 10**12)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" '
        'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"><rim:RegistryObjectList>\n']
    for entry in entries:
        parts.append(document_entry(entry, label, patient or patient_cx(entry.header)) + "\n")
    parts.append(
        f'<rim:RegistryPackage id="{ss}" '
        f'status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved">'
        f"{_slot('submissionTime', first.creation)}"
        f"{_slot('intendedRecipient', '|Destinataire de test^CDACHECK^Ana^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS')}"
        f"{_name('Envoi de documents (exemple cdacheck)')}"
        f'<rim:Classification id="{ss}-a" classificationScheme="urn:uuid:a7058bb9-b4e4-4307-ba5b-'
        f'e3f0ab85e12d" classifiedObject="{ss}" nodeRepresentation="">'
        f"{_slot('authorPerson', first.author_xcn)}"
        f"{_slot('authorInstitution', first.author_xon) if first.author_xon else ''}"
        f"{_slot('authorRole', 'Auteur du document')}"
        f"{_slot('authorSpecialty', first.author_specialty) if first.author_specialty else ''}"
        f"</rim:Classification>"
        + _class("urn:uuid:aa543740-bdda-424e-8c96-df4873be8500", ss, f"{ss}-c", "03",
                 "1.2.250.1.213.2.2", "Hospitalisation complète")
        + _ext_id("urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446", ss, f"{ss}-i", ss_patient,
                  "XDSSubmissionSet.patientId")
        + _ext_id("urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832", ss, f"{ss}-s",
                  "1.2.250.1.213.1.1.9.99", "XDSSubmissionSet.sourceId")
        + _ext_id("urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8", ss, f"{ss}-u", unique,
                  "XDSSubmissionSet.uniqueId")
        + "</rim:RegistryPackage>\n"
        f'<rim:Classification id="{ss}-n" classifiedObject="{ss}" '
        f'classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"/>\n')
    for i, entry in enumerate(entries, start=1):
        target = _uuid(f"{label}/{entry.uri}")
        parts.append(
            f'<rim:Association id="{ss}-m{i}" '
            f'associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" '
            f'sourceObject="{ss}" targetObject="{target}">{_slot("SubmissionSetStatus", "Original")}'
            f"</rim:Association>\n")
    parts.append("</rim:RegistryObjectList></lcm:SubmitObjectsRequest>\n")
    return "".join(parts).encode("utf-8")


# ------------------------------------------------------------------------ ZIP


def zip_bytes(files: list[tuple[str, bytes]]) -> bytes:
    """A deterministic ZIP (fixed dates, deflate) holding ``files`` in the given order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


@dataclass(frozen=True)
class Archive:
    """How to lay out one archive: entries, extra files and overrides."""

    entries: list[Entry]
    label: str
    patient: str | None = None
    metadata: bool = True
    extra: tuple[tuple[str, bytes], ...] = ()
    rename: dict[str, str] = field(default_factory=dict)
    after: Callable[[list[tuple[str, bytes]]], list[tuple[str, bytes]]] | None = None


def archive_bytes(spec: Archive) -> bytes:
    folder = "IHE_XDM/SUBSET01/"
    files: list[tuple[str, bytes]] = [("INDEX.HTM", INDEX_HTM), ("README.TXT", README_TXT)]
    if spec.metadata:
        files.append((folder + "METADATA.XML", metadata_xml(spec.entries, spec.label, spec.patient)))
    files += [(folder + e.uri, e.data) for e in spec.entries]
    files += list(spec.extra)
    files = [(spec.rename.get(n, n), d) for n, d in files]
    if spec.after is not None:
        files = spec.after(files)
    return zip_bytes(files)


# ------------------------------------------------------------------------ samples


def _entries(docs: list[tuple[str, bytes]], twins: bool = False) -> list[Entry]:
    out: list[Entry] = []
    for i, (_name_, data) in enumerate(docs, start=1):
        header = read_header(data)
        out.append(Entry(uri=f"DOC{i:04d}.XML", data=data, header=header))
        if twins and header.pdf is not None:
            out.append(Entry(uri=f"DOC{i:04d}.PDF", data=header.pdf, header=header,
                             mime="application/pdf"))
    return out


def _other_patient(header: Header) -> str:
    """A valid test INS that is not the document's (same NIR, last serial digits changed)."""
    body = header.ins[0][:13]
    serial = f"{(int(body[10:13]) + 1) % 1000:03d}"
    nir13 = body[:10] + serial
    digits = nir13.replace("2A", "19").replace("2B", "18")
    key = 97 - int(digits) % 97
    return f"{nir13}{key:02d}^^^&{header.ins[1]}&ISO^NH"


def _flip_hash(entry: Entry) -> Entry:
    digest = hashlib.sha1(entry.data).hexdigest()
    return replace(entry, values={**entry.values,
                                  "hash": digest[:-1] + ("0" if digest[-1] != "0" else "1")})


def defect_archives(base: Entry, n1: bool) -> list[tuple[str, Archive, list[str], str]]:
    """(name, archive, rules that must appear, description): one defect each."""
    out: list[tuple[str, Archive, list[str], str]] = [
        ("defect-hash-mismatch", Archive([_flip_hash(base)], "hash"), ["XDM062"],
         "Le hash de METADATA.XML ne correspond pas aux octets du document."),
        ("defect-patient-not-ins", Archive([base], "pid", patient=_other_patient(base.header)),
         ["XDM071"], "patientId (INS de test valide) qui n'est pas l'INS du document."),
        ("defect-missing-metadata", Archive([base], "nometa", metadata=False), ["XDM023"],
         "Dossier de lot sans METADATA.XML ; le document est tout de même vérifié."),
        ("defect-traversal", Archive([base], "trav", extra=(
            ("../../cdacheck-xdm-evil.txt", b"zip-slip\n"),
            ("/tmp/cdacheck-xdm-evil.txt", b"absolute\n"))), ["XDM002"],
         "Membres « ../../ » et chemin absolu : signalés, jamais écrits."),
        ("defect-bomb", Archive([base], "bomb", extra=(
            ("IHE_XDM/SUBSET01/BOMB.BIN", b"\0" * BOMB_SIZE),)), ["XDM011"],
         "Membre de 8 Mio de zéros compressé ~1000:1 (bombe de décompression) : non lu."),
        ("defect-creation-time-local", Archive([replace(base, values={
            "creationTime": base.header.creation_raw[:14]})], "ctime"), ["XDM075"],
         "creationTime recopié en heure locale au lieu d'UTC."),
    ]
    if n1:
        out.insert(1, ("defect-n1-structured-format", Archive([replace(base, values={
            "formatCode": "urn:asip:ci-sis:ldl-ses:2017"})], "fmt"), ["XDM074"],
            "Document N1 (PDF) déclaré avec le formatCode structuré de la LDL-SES."))
    return out


def _expectations(out_dir: Path, names: list[str]) -> dict[str, dict[str, object]]:
    """Each document's sidecar (written by make_samples next to ``out_dir``), else EXPECT."""
    found: dict[str, dict[str, object]] = {}
    for name in names:
        path = out_dir.parent / "documents" / f"{name}.expected.json"
        if path.is_file():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    try:
        from sample_expectations import EXPECT
    except ImportError:
        return found
    for name in names:
        if name not in found and name in EXPECT:
            found[name] = {"env": "test", **EXPECT[name]}
    return found


def _pick(documents: dict[str, bytes], expect: dict[str, dict[str, object]]) -> list[str]:
    """One document per indicator (the shortest name), test environment only."""
    chosen: dict[object, str] = {}
    for name in sorted(documents, key=lambda n: (len(n), n)):
        exp = expect.get(name, {})
        if exp.get("env", "test") != "test":
            continue
        key = exp.get("indicator") or read_header(documents[name]).code
        chosen.setdefault(key, name)
    return sorted(chosen.values())


def _error_rules() -> list[str]:
    from cdacheck.model import Severity
    from cdacheck.checks import xdm  # noqa: F401 - declares the XDM check rules
    from cdacheck.registry import REGISTRY, load_all
    load_all()
    return sorted(r.id for r in REGISTRY if r.family == "XDM"
                  and r.severity.at_least(Severity.ERROR))


def build_xdm_samples(out_dir: Path, documents: dict[str, bytes]) -> list[Path]:
    """Write the XDM sample archives and sidecars under ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    expect = _expectations(out_dir, list(documents))
    errors = _error_rules()
    written: list[Path] = []

    def write(name: str, spec: Archive, docs: list[str], rules: list[str], valid: bool,
              description: str) -> None:
        path = out_dir / f"{name}.zip"
        path.write_bytes(archive_bytes(spec))
        side: dict[str, object] = {
            "env": "test", "valid": valid, "rules": rules,
            "absent_rules": [] if not valid else errors,
            "exit_code": 0 if valid else 1, "description": description,
            # an archive that would be rejected (its own XDM errors) feeds no indicator
            "indicators": (["none"] * len(docs) if not valid and rules
                           and all(r.startswith("XDM") for r in rules)
                           else [expect.get(d, {}).get("indicator") for d in docs]),
            "documents": len(docs),
        }
        if any(i is None for i in side["indicators"]):  # type: ignore[attr-defined]
            side.pop("indicators")
        sidecar = out_dir / f"{name}.expected.json"
        sidecar.write_text(json.dumps(side, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.extend([path, sidecar])

    by_patient: dict[str, list[tuple[str, bytes]]] = {}
    documents = {n: d for n, d in documents.items() if _has_ins(d)}
    documents = {n: documents[n] for n in _pick(documents, expect)}
    for name, data in sorted(documents.items()):
        entries = _entries([(name, data)])
        write(f"xdm-{name}", Archive(entries, name), [name], [], True,
              f"Archive XDM valide contenant le document {name}.")
        by_patient.setdefault(patient_cx(entries[0].header), []).append((name, data))
    group = max(by_patient.values(), key=len, default=[])
    if len(group) > 1:
        write("xdm-patient-multi", Archive(_entries(group, twins=True), "multi"),
              [n for n, _ in group], [], True,
              "Archive valide : tous les documents d'un même patient et leurs jumeaux PDF.")
    bases = sorted(documents.items(), key=lambda kv: (read_header(kv[1]).level != "N1",
                                                      "ldl-ses" not in kv[0], kv[0]))
    if bases:
        base_name, base_data = bases[0]
        base = _entries([(base_name, base_data)])[0]
        for name, spec, rules, description in defect_archives(base, base.header.level == "N1"):
            write(f"xdm-{name}", spec, [base_name], rules, False, description)
        write("xdm-warn-uri-case", Archive([base], "case", rename={
            "IHE_XDM/SUBSET01/DOC0001.XML": "IHE_XDM/SUBSET01/doc0001.xml"}),
            [base_name], ["XDM061", "XDM025"], True,
            "URI en majuscules, fichier en minuscules : avertissement (casse seule).")
        if len(by_patient) > 1:
            two = [next(iter(v)) for v in list(by_patient.values())[:2]]
            spec = Archive(_entries(two), "twopat")
            write("xdm-defect-two-patients", spec, [n for n, _ in two], ["XDM048"],
                  False, "Deux documents de patients différents dans une même archive.")
    return written


def _has_ins(data: bytes) -> bool:
    """Archives are built only from documents with an INS (patientId must be one)."""
    try:
        read_header(data)
    except (ValueError, etree.XMLSyntaxError, StopIteration):
        return False
    return True


def _documents_from_make_samples() -> dict[str, bytes]:
    import make_samples  # the document samples' own builder
    from sample_expectations import EXPECT
    return {s.name: s.build() for s in make_samples.SAMPLES
            if s.folder == "documents" and EXPECT[s.name]["valid"]}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    out_dir = Path(args[0]) if args else ROOT / "samples" / "xdm"
    paths = build_xdm_samples(out_dir, _documents_from_make_samples())
    print(f"{len(paths)} files written under {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
