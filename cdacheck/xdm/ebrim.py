"""Writing METADATA.XML: one ebRIM 3.0 ``lcm:SubmitObjectsRequest`` (xdm.md §1.3).

The scheme and node UUIDs are the ones the reader knows (:mod:`cdacheck.checks.xdm_ebrim`),
so what is written here is exactly what cdacheck checks. Output is deterministic: the same
metadata give the same bytes.
"""

from __future__ import annotations

import uuid

from lxml import etree

from cdacheck.checks import xdm_ebrim as rim
from cdacheck.xdm.metadata import Author, Coded, EntryMetadata, FolderMetadata, SubmissionMetadata

RIM, LCM = rim.RIM, rim.LCM
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
PACKAGE_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
CLASSIFICATION_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
# Folder (ITI TF-3 Table 4.2.5-1): codeList, patientId, uniqueId.
FOLDER_CODES = "urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5"
FOLDER_PATIENT = "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a"
FOLDER_UNIQUE = "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"

_BY_NAME = {name: scheme for scheme, name in rim.DE_SCHEMES.items()}
_SS_BY_NAME = {name: scheme for scheme, name in rim.SS_SCHEMES.items()}
_DE_ID = {name: scheme for scheme, name in rim.DE_IDS.items()}
_SS_ID = {name: scheme for scheme, name in rim.SS_IDS.items()}
# Namespace of the derived entryUUIDs (uuid5): fixed, so ids only depend on the uniqueIds.
ID_NAMESPACE = uuid.UUID("3f0f6c1e-7a53-5d8e-9b1c-cdac0e0b0d15")


def entry_uuid(label: str) -> str:
    """A name-based (v5) UUID: reproducible from the submission uniqueId and a label."""
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, label)}"


def _el(parent: etree._Element, local: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{RIM}}}{local}", {k: v for k, v in attrs.items()})


def _slot(parent: etree._Element, name: str, values: tuple[str, ...] | list[str]) -> None:
    if not values:
        return
    slot = _el(parent, "Slot", name=name)
    vlist = _el(slot, "ValueList")
    for value in values:
        _el(vlist, "Value").text = value


def _name(parent: etree._Element, value: str | None) -> None:
    if value:
        _el(_el(parent, "Name"), "LocalizedString", value=value)


class _Ids:
    """Classification / identifier ids derived from their owner, numbered in writing order."""

    def __init__(self, owner: str) -> None:
        self.owner, self.n = owner, 0

    def next(self) -> str:
        self.n += 1
        return entry_uuid(f"{self.owner}#{self.n}")


def _coded(parent: etree._Element, ids: _Ids, scheme: str, owner: str, coded: Coded) -> None:
    cl = _el(parent, "Classification", id=ids.next(), classificationScheme=scheme,
             classifiedObject=owner, nodeRepresentation=coded.code, objectType=CLASSIFICATION_TYPE)
    _slot(cl, "codingScheme", [coded.scheme])
    _name(cl, coded.display)


def _author(parent: etree._Element, ids: _Ids, scheme: str, owner: str, author: Author) -> None:
    cl = _el(parent, "Classification", id=ids.next(), classificationScheme=scheme,
             classifiedObject=owner, nodeRepresentation="", objectType=CLASSIFICATION_TYPE)
    _slot(cl, "authorPerson", [author.person] if author.person else [])
    _slot(cl, "authorInstitution", list(author.institutions))
    _slot(cl, "authorRole", list(author.roles))
    _slot(cl, "authorSpecialty", list(author.specialties))


def _ext_id(parent: etree._Element, ids: _Ids, scheme: str, owner: str, value: str | None,
            label: str) -> None:
    if not value:
        return
    ei = _el(parent, "ExternalIdentifier", id=ids.next(), registryObject=owner,
             identificationScheme=scheme, value=value)
    _name(ei, label)


def _document(parent: etree._Element, de: EntryMetadata, de_id: str) -> None:
    eo = _el(parent, "ExtrinsicObject", id=de_id, lid=de_id, mimeType=de.mime_type,
             objectType=rim.DE_OBJECT_TYPE, status=APPROVED)
    ids = _Ids(de_id)
    for name, values in (
        ("creationTime", [de.creation_time]), ("hash", [de.hash]),
        ("languageCode", [de.language]), ("legalAuthenticator", [de.legal_authenticator]),
        ("serviceStartTime", [de.service_start]), ("serviceStopTime", [de.service_stop]),
        ("size", [str(de.size)]), ("sourcePatientId", [de.source_patient_id]),
        ("sourcePatientInfo", list(de.source_patient_info)), ("URI", [de.uri]),
    ):
        _slot(eo, name, [v for v in values if v])
    _name(eo, de.title)
    for author in de.authors:
        _author(eo, ids, _BY_NAME["author"], de_id, author)
    for attribute, coded in (("classCode", de.class_code),
                             *(("confidentialityCode", c) for c in de.confidentiality),
                             ("formatCode", de.format_code),
                             ("healthcareFacilityTypeCode", de.facility_type),
                             ("practiceSettingCode", de.practice_setting),
                             ("typeCode", de.type_code)):
        if coded is not None:
            _coded(eo, ids, _BY_NAME[attribute], de_id, coded)
    _ext_id(eo, ids, _DE_ID["patientId"], de_id, de.patient_id, "XDSDocumentEntry.patientId")
    _ext_id(eo, ids, _DE_ID["uniqueId"], de_id, de.unique_id, "XDSDocumentEntry.uniqueId")


def _submission(parent: etree._Element, ss: SubmissionMetadata, ss_id: str) -> None:
    pkg = _el(parent, "RegistryPackage", id=ss_id, lid=ss_id, objectType=PACKAGE_TYPE,
              status=APPROVED)
    ids = _Ids(ss_id)
    _slot(pkg, "submissionTime", [ss.submission_time])
    _slot(pkg, "intendedRecipient", list(ss.recipients))
    _name(pkg, ss.title)
    for author in ss.authors:
        _author(pkg, ids, _SS_BY_NAME["author"], ss_id, author)
    _coded(pkg, ids, _SS_BY_NAME["contentTypeCode"], ss_id, ss.content_type)
    _ext_id(pkg, ids, _SS_ID["patientId"], ss_id, ss.patient_id, "XDSSubmissionSet.patientId")
    _ext_id(pkg, ids, _SS_ID["sourceId"], ss_id, ss.source_id, "XDSSubmissionSet.sourceId")
    _ext_id(pkg, ids, _SS_ID["uniqueId"], ss_id, ss.unique_id, "XDSSubmissionSet.uniqueId")
    _el(parent, "Classification", id=ids.next(), classifiedObject=ss_id,
        classificationNode=rim.SS_NODE, objectType=CLASSIFICATION_TYPE)


def _folder(parent: etree._Element, folder: FolderMetadata, fd_id: str, time: str) -> None:
    pkg = _el(parent, "RegistryPackage", id=fd_id, lid=fd_id, objectType=PACKAGE_TYPE,
              status=APPROVED)
    ids = _Ids(fd_id)
    _slot(pkg, "lastUpdateTime", [time])
    _name(pkg, folder.title)
    for coded in folder.codes:
        _coded(pkg, ids, FOLDER_CODES, fd_id, coded)
    _ext_id(pkg, ids, FOLDER_PATIENT, fd_id, folder.patient_id, "XDSFolder.patientId")
    _ext_id(pkg, ids, FOLDER_UNIQUE, fd_id, folder.unique_id, "XDSFolder.uniqueId")
    _el(parent, "Classification", id=ids.next(), classifiedObject=fd_id,
        classificationNode=rim.FOLDER_NODE, objectType=CLASSIFICATION_TYPE)


def _has_member(parent: etree._Element, source: str, target: str, status: bool) -> str:
    assoc_id = entry_uuid(f"{source}>{target}")
    assoc = _el(parent, "Association", id=assoc_id, associationType=rim.HAS_MEMBER,
                sourceObject=source, targetObject=target)
    if status:
        _slot(assoc, "SubmissionSetStatus", ["Original"])
    return assoc_id


def metadata_xml(ss: SubmissionMetadata, entries: list[EntryMetadata],
                 folder: FolderMetadata | None = None) -> bytes:
    """The METADATA.XML bytes for one submission set and its documents."""
    ss_id = entry_uuid(f"SubmissionSet/{ss.unique_id}")
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = _el(root, "RegistryObjectList")
    de_ids = [entry_uuid(f"DocumentEntry/{ss.unique_id}/{i}/{de.unique_id}")
              for i, de in enumerate(entries, start=1)]
    for de, de_id in zip(entries, de_ids):
        _document(objects, de, de_id)
    _submission(objects, ss, ss_id)
    for de_id in de_ids:
        _has_member(objects, ss_id, de_id, status=True)
    if folder is not None:
        fd_id = entry_uuid(f"Folder/{folder.unique_id}")
        _folder(objects, folder, fd_id, ss.submission_time)
        _has_member(objects, ss_id, fd_id, status=False)
        for de_id in de_ids:
            link = _has_member(objects, fd_id, de_id, status=False)
            _has_member(objects, ss_id, link, status=False)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# ebRIM 3.0 (rim.xsd): Value, ExternalIdentifier/@value and @nodeRepresentation are LongName
# (256 characters), LocalizedString/@value is FreeFormText (1024).
LONG_NAME, FREE_FORM = 256, 1024


def too_long(xml: bytes) -> list[tuple[str, int, int]]:
    """(where, length, limit) of every value longer than rim.xsd allows."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(xml, parser)
    out = []
    for el in root.iter(f"{{{RIM}}}Value"):
        slot = el.getparent().getparent()
        if len(el.text or "") > LONG_NAME:
            out.append((f"slot {slot.get('name')}", len(el.text or ""), LONG_NAME))
    for el in root.iter(f"{{{RIM}}}ExternalIdentifier", f"{{{RIM}}}Classification"):
        for name in ("value", "nodeRepresentation"):
            if len(el.get(name) or "") > LONG_NAME:
                out.append((f"@{name}", len(el.get(name) or ""), LONG_NAME))
    for el in root.iter(f"{{{RIM}}}LocalizedString"):
        if len(el.get("value") or "") > FREE_FORM:
            out.append(("Name", len(el.get("value") or ""), FREE_FORM))
    return out
