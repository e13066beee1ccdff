"""Reading of one ``METADATA.XML`` (ebRIM 3.0 SubmitObjectsRequest) into plain objects.

Only the reading lives here; the rules on the metadata are in ``xdm_metadata``. The XML is
parsed by the hardened parser of :mod:`cdacheck.inputs.xml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
SUBMIT_TAG = f"{{{LCM}}}SubmitObjectsRequest"

DE_OBJECT_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
LIMITED_NODES = {"urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85",
                 "urn:uuid:5003a9db-8d8d-49e6-bf0c-990e34ac7707"}
FOLDER_NODE = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"

# classificationScheme UUID -> attribute name
DE_SCHEMES = {
    "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d": "author",
    "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a": "classCode",
    "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f": "confidentialityCode",
    "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4": "eventCodeList",
    "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d": "formatCode",
    "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1": "healthcareFacilityTypeCode",
    "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead": "practiceSettingCode",
    "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983": "typeCode",
}
SS_SCHEMES = {
    "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d": "author",
    "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500": "contentTypeCode",
}
# identificationScheme UUID -> attribute name
DE_IDS = {
    "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427": "patientId",
    "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab": "uniqueId",
}
SS_IDS = {
    "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446": "patientId",
    "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832": "sourceId",
    "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8": "uniqueId",
}


@dataclass(frozen=True)
class Coded:
    """A coded XDS attribute: code, coding scheme, display name."""

    code: str
    scheme: str | None
    display: str | None
    line: int | None


@dataclass
class RegistryObject:
    """A DocumentEntry or a SubmissionSet with its slots, codes, authors and identifiers."""

    kind: str  # "DocumentEntry" | "SubmissionSet" | "RegistryPackage"
    id: str
    line: int | None
    slots: dict[str, list[str]] = field(default_factory=dict)
    title: str | None = None
    mime_type: str | None = None
    object_type: str | None = None
    status: str | None = None
    codes: dict[str, list[Coded]] = field(default_factory=dict)
    authors: list[dict[str, list[str]]] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    unknown_schemes: list[tuple[str, int | None]] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name) or self.slots.get(name.lower())
        return values[0] if values else None

    def code(self, attribute: str) -> Coded | None:
        values = self.codes.get(attribute)
        return values[0] if values else None

    def has(self, attribute: str) -> bool:
        """Whether an attribute is present (slot, code, identifier, author part or title)."""
        if attribute in ("title",):
            return bool(self.title)
        if attribute in ("mimeType",):
            return bool(self.mime_type)
        if attribute in ("entryUUID",):
            return bool(self.id)
        if attribute.startswith("author"):
            return any(a.get(attribute) for a in self.authors)
        return bool(self.codes.get(attribute) or self.ids.get(attribute)
                    or any(v.strip() for v in self.slots.get(attribute, [])))


@dataclass(frozen=True)
class Association:
    id: str
    type: str
    source: str
    target: str
    slots: dict[str, list[str]]
    line: int | None


@dataclass
class Submission:
    """What one METADATA.XML says."""

    member: str
    subset: str
    root_ok: bool
    root_name: str
    sets: list[RegistryObject] = field(default_factory=list)
    entries: list[RegistryObject] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    folders: list[RegistryObject] = field(default_factory=list)
    others: list[RegistryObject] = field(default_factory=list)
    skipped_entries: int = 0  # DocumentEntries beyond the cap: counted, not read
    skipped_ids: set[str] = field(default_factory=set)


def _rim(local: str) -> str:
    return f"{{{RIM}}}{local}"


def _slots(el: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in el.findall(_rim("Slot")):
        name = slot.get("name") or ""
        values = [(v.text or "").strip() for v in slot.iter(_rim("Value"))]
        out.setdefault(name, []).extend(values)
    return out


def _name(el: etree._Element) -> str | None:
    loc = el.find(f"{_rim('Name')}/{_rim('LocalizedString')}")
    return loc.get("value") if loc is not None else None


def read_submission(tree: etree._ElementTree, member: str, subset: str,
                    max_entries: int | None = None) -> Submission:
    """Turn a parsed METADATA.XML into a Submission (no rules applied here).

    At most ``max_entries`` DocumentEntries are read (the others are only counted, in
    ``skipped_entries``): each costs several milliseconds of checks, and a 64 MB
    METADATA.XML can hold 30,000 of them.
    """
    root = tree.getroot()
    sub = Submission(member=member, subset=subset, root_ok=root.tag == SUBMIT_TAG,
                     root_name=etree.QName(root).localname if isinstance(root.tag, str) else "?")
    objects: dict[str, RegistryObject] = {}
    for el in root.iter(_rim("ExtrinsicObject")):
        if max_entries is not None and len(sub.entries) >= max_entries:
            sub.skipped_entries += 1
            sub.skipped_ids.add(el.get("id") or "")
            continue
        obj = RegistryObject(kind="DocumentEntry", id=el.get("id") or "", line=el.sourceline,
                             slots=_slots(el), title=_name(el), mime_type=el.get("mimeType"),
                             object_type=el.get("objectType"), status=el.get("status"))
        objects[obj.id] = obj
        sub.entries.append(obj)
    packages: list[RegistryObject] = []
    for el in root.iter(_rim("RegistryPackage")):
        obj = RegistryObject(kind="RegistryPackage", id=el.get("id") or "", line=el.sourceline,
                             slots=_slots(el), title=_name(el), status=el.get("status"))
        objects[obj.id] = obj
        packages.append(obj)
    for el in root.iter(_rim("Classification")):
        _classification(el, objects)
    for el in root.iter(_rim("ExternalIdentifier")):
        owner = objects.get(el.get("registryObject") or _parent_id(el))
        if owner is None:
            continue
        scheme = el.get("identificationScheme") or ""
        table = DE_IDS if owner.kind == "DocumentEntry" else SS_IDS
        attribute = table.get(scheme)
        if attribute is None:
            owner.unknown_schemes.append((scheme, el.sourceline))
        else:
            owner.ids.setdefault(attribute, (el.get("value") or "").strip())
    for pkg in packages:
        if SS_NODE in pkg.nodes:
            pkg.kind = "SubmissionSet"
            sub.sets.append(pkg)
        elif FOLDER_NODE in pkg.nodes:
            pkg.kind = "Folder"
            sub.folders.append(pkg)
        else:
            sub.others.append(pkg)
    for el in root.iter(_rim("Association")):
        sub.associations.append(Association(
            id=el.get("id") or "", type=el.get("associationType") or "",
            source=el.get("sourceObject") or "", target=el.get("targetObject") or "",
            slots=_slots(el), line=el.sourceline))
    return sub


def _parent_id(el: etree._Element) -> str:
    parent = el.getparent()
    return (parent.get("id") or "") if parent is not None else ""


def _classification(el: etree._Element, objects: dict[str, RegistryObject]) -> None:
    owner = objects.get(el.get("classifiedObject") or _parent_id(el))
    if owner is None:
        return
    node = el.get("classificationNode")
    if node:
        owner.nodes.add(node)
        return
    scheme = el.get("classificationScheme") or ""
    table = DE_SCHEMES if owner.kind == "DocumentEntry" else SS_SCHEMES
    attribute = table.get(scheme)
    if attribute is None:
        owner.unknown_schemes.append((scheme, el.sourceline))
        return
    slots = _slots(el)
    if attribute == "author":
        owner.authors.append(slots)
        return
    scheme_values = slots.get("codingScheme") or []
    owner.codes.setdefault(attribute, []).append(Coded(
        code=(el.get("nodeRepresentation") or "").strip(),
        scheme=scheme_values[0] if scheme_values else None,
        display=_name(el), line=el.sourceline))
