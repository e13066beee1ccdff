"""One-defect header variants of kit examples and of our samples (issue 17, header part).

Each variant is built at run time from a base document (a kit example of one of the five
Ségur types, read from ``CDACHECK_KIT``, or one of our samples) by one mutation of its
header. Nothing of the kit is stored: only the variant ids and the verdicts the official
pipeline gave on them (``tests/data/header_official.json``).

    python tests/header_variants.py --official      # run the official pipeline, refresh the json

(needs Java, Saxon-HE and ``/work/shared/oracle/pipeline/official.py``; ~15 s + 0.7 s/doc).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "header_official.json"
H = "urn:hl7-org:v3"
N = {"h": H}
PROFILE_PIS = (
    "../schematrons/profils/IHE.sch",
    "../schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "../schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch",
    "../schematrons/profils/CI-SIS_Modeles_ANS.sch",
    "../schematrons/profils/terminologies/schematron/terminologie.sch",
)

# base id -> ("kit", example file name) or ("sample", samples/documents file name)
BASES: dict[str, tuple[str, str]] = {
    "ldl": ("kit", "LDL-SES_2022.01.xml"),
    "epmed": ("kit", "eP-MED-DM_2024.01_PosoStruct.xml"),
    "img": ("kit", "IMG_CR_IMG_2024.01.xml"),
    "imgn1": ("kit", "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"),
    "bio": ("kit", "BIO-CR-BIO_2024.01_TSH_1.xml"),
    "s-ldl": ("sample", "ldl-ses-n1.xml"),
    "s-cro": ("sample", "cro-n1.xml"),
    # other CI-SIS models given a Ségur code (DOC003 / DOC007): only the code mutations
    "daimg": ("kit", "IMG-DA-IMG_2024.01_TEP_Thorax.xml"),
    "vsm": ("kit", "VSM_1.4_2022.01.xml"),
    "ldlees": ("kit", "LDL-EES_2022.01.xml"),
    "anest": ("kit", "ANEST-CR-ANEST_2022.01.xml"),
}
CODE_ONLY_BASES = ("daimg", "vsm", "ldlees", "anest")


def kit_dir() -> Path:
    raw = os.environ.get("CDACHECK_KIT")
    return Path(raw) if raw else ROOT.parent / "shared" / "cisis-kit"


def h(tag: str) -> str:
    return f"{{{H}}}{tag}"


def sub(parent: etree._Element, tag: str, index: int | None = None, **attrs: str) -> etree._Element:
    el = etree.Element(h(tag), {k.replace("_", ""): v for k, v in attrs.items()})
    if index is None:
        parent.append(el)
    else:
        parent.insert(index, el)
    return el


def first(root: etree._Element, path: str) -> etree._Element | None:
    found = root.xpath(path, namespaces=N)
    return found[0] if found else None


def insert_header(cda: etree._Element, el: etree._Element, before: tuple[str, ...]) -> None:
    """Insert a header element before the first of ``before`` present (CDA schema order)."""
    for tag in before:
        nxt = cda.find(h(tag))
        if nxt is not None:
            nxt.addprevious(el)
            return
    cda.append(el)


AFTER_INFORMANT = ("custodian", "informationRecipient", "legalAuthenticator", "authenticator",
                   "participant", "inFulfillmentOf", "documentationOf", "relatedDocument",
                   "authorization", "componentOf", "component")
AFTER_AUTHENTICATOR = AFTER_INFORMANT[3 + 1:]


def person_name(parent: etree._Element, tag: str, prefix: str | None = None,
                suffix: str | None = None) -> etree._Element:
    person = sub(parent, tag)
    name = sub(person, "name")
    if prefix is not None:
        sub(name, "prefix").text = prefix
    sub(name, "given").text = "Jean"
    sub(name, "family").text = "TEST"
    if suffix is not None:
        sub(name, "suffix").text = suffix
    return person


def org(parent: etree._Element, sector: tuple[str, str] | None = ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9")
        ) -> etree._Element:
    o = sub(parent, "representedOrganization")
    sub(o, "id", root="1.2.250.1.71.4.2.2", extension="1999999999")
    sub(o, "name").text = "Structure de test"
    if sector:
        sub(o, "standardIndustryClassCode", code=sector[0], codeSystem=sector[1],
            displayName="Cadre")
    return o


# ------------------------------------------------------------------ mutations
# Each returns False when it does not apply to the base (the variant is then skipped).
Mutation = Callable[[etree._Element], bool]


def _name_part(path: str, part: str, value: str, create: bool = True) -> Mutation:
    """Set (or add) the first prefix/suffix of the first name found at ``path``."""
    def mutate(cda: etree._Element) -> bool:
        name = first(cda, path)
        if name is None:
            return False
        el = name.find(h(part))
        if el is None:
            if not create:
                return False
            el = sub(name, part, 0 if part == "prefix" else None)
        el.text = value
        for child in list(el):
            el.remove(child)
        return True
    return mutate


def _set_attr(path: str, **attrs: str | None) -> Mutation:
    def mutate(cda: etree._Element) -> bool:
        el = first(cda, path)
        if el is None:
            return False
        for k, v in attrs.items():
            k = k.replace("_", "")
            if v is None:
                el.attrib.pop(k, None)
            else:
                el.set(k, v)
        return True
    return mutate


def _pad(path: str, attr: str) -> Mutation:
    """Put a leading space in an attribute (a cs token: the schema collapses it)."""
    def mutate(cda: etree._Element) -> bool:
        el = first(cda, path)
        if el is None or el.get(attr) is None:
            return False
        el.set(attr, " " + el.get(attr, ""))
        return True
    return mutate


def _duplicate(path: str) -> Mutation:
    """Repeat the first element at ``path`` right after itself."""
    def mutate(cda: etree._Element) -> bool:
        el = first(cda, path)
        if el is None:
            return False
        el.addnext(copy.deepcopy(el))
        return True
    return mutate


def _remove(path: str) -> Mutation:
    def mutate(cda: etree._Element) -> bool:
        el = first(cda, path)
        if el is None:
            return False
        el.getparent().remove(el)
        return True
    return mutate


def _replace_attrs(path: str, **attrs: str) -> Mutation:
    """Replace every attribute of the first element at ``path``."""
    def mutate(cda: etree._Element) -> bool:
        el = first(cda, path)
        if el is None:
            return False
        el.attrib.clear()
        for k, v in attrs.items():
            el.set(k, v)
        for child in list(el):
            el.remove(child)
        return True
    return mutate


def _add_informant_related(code: dict[str, str] | None, prefix: str | None = None) -> Mutation:
    def mutate(cda: etree._Element) -> bool:
        inf = etree.Element(h("informant"))
        rel = sub(inf, "relatedEntity", classCode="NOK")
        if code is not None:
            sub(rel, "code", **code)
        person_name(rel, "relatedPerson", prefix=prefix)
        insert_header(cda, inf, AFTER_INFORMANT)
        return True
    return mutate


def _add_informant_assigned(sector: tuple[str, str] | None, prefix: str | None = None) -> Mutation:
    def mutate(cda: etree._Element) -> bool:
        inf = etree.Element(h("informant"))
        ent = sub(inf, "assignedEntity")
        sub(ent, "id", root="1.2.250.1.71.4.2.1", extension="810000000001")
        person_name(ent, "assignedPerson", prefix=prefix)
        org(ent, sector)
        insert_header(cda, inf, AFTER_INFORMANT)
        return True
    return mutate


def _add_authenticator(sector: tuple[str, str] | None, root: str = "1.2.250.1.71.4.2.1",
                       prefix: str | None = None) -> Mutation:
    def mutate(cda: etree._Element) -> bool:
        au = etree.Element(h("authenticator"))
        sub(au, "time", value="20240101120000+0100")
        sub(au, "signatureCode", code="S")
        ent = sub(au, "assignedEntity")
        sub(ent, "id", root=root, extension="810000000001")
        person_name(ent, "assignedPerson", prefix=prefix)
        org(ent, sector)
        insert_header(cda, au, AFTER_AUTHENTICATOR)
        return True
    return mutate


def _responsible_party(root: str, prefix: str | None = None) -> Mutation:
    """Give encompassingEncounter a responsibleParty (replacing any) with that id root."""
    def mutate(cda: etree._Element) -> bool:
        enc = first(cda, "h:componentOf/h:encompassingEncounter")
        if enc is None or enc.find(h("location")) is None:
            return False
        for old in enc.findall(h("responsibleParty")):
            enc.remove(old)
        rp = etree.Element(h("responsibleParty"))
        ent = sub(rp, "assignedEntity")
        sub(ent, "id", root=root, extension="810000000001")
        person_name(ent, "assignedPerson", prefix=prefix)
        # responsibleParty comes after code, effectiveTime, dischargeDispositionCode.
        anchor = None
        for tag in ("dischargeDispositionCode", "effectiveTime", "code", "id"):
            found = enc.findall(h(tag))
            if found:
                anchor = found[-1]
                break
        if anchor is None:
            enc.insert(0, rp)
        else:
            anchor.addnext(rp)
        return True
    return mutate


def _encounter_participant(root: str, prefix: str | None = None) -> Mutation:
    """Add an encounterParticipant (typeCode ATND) with that id root to the encounter."""
    def mutate(cda: etree._Element) -> bool:
        enc = first(cda, "h:componentOf/h:encompassingEncounter")
        if enc is None or enc.find(h("location")) is None:
            return False
        ep = etree.Element(h("encounterParticipant"), typeCode="ATND")
        ent = sub(ep, "assignedEntity")
        sub(ent, "id", root=root, extension="810000000001")
        person_name(ent, "assignedPerson", prefix=prefix)
        enc.find(h("location")).addprevious(ep)
        return True
    return mutate


def _function_code(holder_path: str, anchors: tuple[str, ...]) -> Callable[..., Mutation]:
    """Give the first element at ``holder_path`` a functionCode with the given attributes
    (created after the last of ``anchors`` present, else first)."""
    def with_attrs(**attrs: str) -> Mutation:
        def mutate(cda: etree._Element) -> bool:
            holder = first(cda, holder_path)
            if holder is None:
                return False
            fc = holder.find(h("functionCode"))
            if fc is None:
                fc = etree.Element(h("functionCode"))
                found = [el for tag in anchors for el in holder.findall(h(tag))]
                if found:
                    found[-1].addnext(fc)
                else:
                    holder.insert(0, fc)
            fc.attrib.clear()
            for k, v in attrs.items():
                fc.set(k, v)
            return True
        return mutate
    return with_attrs


_participant_function = _function_code("h:participant[h:associatedEntity]",
                                       ("realmCode", "typeId", "templateId"))
_author_function = _function_code("h:author[h:assignedAuthor]", ("realmCode", "typeId", "templateId"))


def _model_template_typo(cda: etree._Element) -> bool:
    """Append .99 to the document's CI-SIS model templateId (an unknown model, not another one)."""
    for tpl in cda.findall(h("templateId")):
        root = tpl.get("root", "")
        if root.startswith("1.2.250.1.213.1.1.1.") and root != "1.2.250.1.213.1.1.1.1":
            tpl.set("root", root + ".99")
            return True
    return False


def _doc_code(code: str, display: str) -> Mutation:
    return _set_attr("h:code", code=code, codeSystem="2.16.840.1.113883.6.1", displayName=display)


AUTHOR_NAME = "h:author/h:assignedAuthor/h:assignedPerson/h:name"
LEGAL_NAME = "h:legalAuthenticator/h:assignedEntity/h:assignedPerson/h:name"
PERF = "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity"
PERF_NAME = PERF + "/h:assignedPerson/h:name"
PART_NAME = "h:participant/h:associatedEntity/h:associatedPerson/h:name"
RECIP_NAME = "h:informationRecipient/h:intendedRecipient/h:informationRecipient/h:name"
PATIENT_NAME = "h:recordTarget/h:patientRole/h:patient/h:name"
GENDER = "h:recordTarget/h:patientRole/h:patient/h:administrativeGenderCode"
PERF_SIC = PERF + "/h:representedOrganization/h:standardIndustryClassCode"
LEGAL_SIC = "h:legalAuthenticator/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode"
AUTHOR_SIC = "h:author/h:assignedAuthor/h:representedOrganization/h:standardIndustryClassCode"
GOOD = ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9")
FACILITY = "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code"

# mutation id -> (mutation, rule ids of ours expected to flag it when the kit rejects it)
MUTATIONS: dict[str, tuple[Mutation, tuple[str, ...]]] = {
    "none": (lambda cda: True, ()),
    # J245 / J246 on every person the kit checks
    "author-prefix-bad": (_name_part(AUTHOR_NAME, "prefix", "Docteur"), ("SCH/header/hdr-name-prefix",)),
    "author-prefix-space": (_name_part(AUTHOR_NAME, "prefix", " M"), ("SCH/header/hdr-name-prefix",)),
    "author-prefix-ok": (_name_part(AUTHOR_NAME, "prefix", "MME"), ()),
    "author-suffix-bad": (_name_part(AUTHOR_NAME, "suffix", "Dr"), ("SCH/header/hdr-name-suffix",)),
    "legal-prefix-bad": (_name_part(LEGAL_NAME, "prefix", "Mr"), ("SCH/header/hdr-name-prefix",)),
    "legal-suffix-bad": (_name_part(LEGAL_NAME, "suffix", "MD"), ("SCH/header/hdr-name-suffix",)),
    "perf-prefix-bad": (_name_part(PERF_NAME, "prefix", "Mlle"), ("SCH/header/hdr-name-prefix",)),
    "perf-suffix-bad": (_name_part(PERF_NAME, "suffix", "DOC"), ("SCH/header/hdr-name-suffix",)),
    "part-prefix-bad": (_name_part(PART_NAME, "prefix", "Mr"), ("SCH/header/hdr-name-prefix",)),
    "part-suffix-bad": (_name_part(PART_NAME, "suffix", "Dr."), ("SCH/header/hdr-name-suffix",)),
    "recip-prefix-bad": (_name_part(RECIP_NAME, "prefix", "Mr"), ("SCH/header/hdr-name-prefix",)),
    "recip-suffix-bad": (_name_part(RECIP_NAME, "suffix", "Dr."), ("SCH/header/hdr-name-suffix",)),
    "patient-prefix-bad": (_name_part(PATIENT_NAME, "prefix", "Mr"), ()),
    "informant-rel-prefix-bad": (_add_informant_related(
        {"code": "SIS", "codeSystem": "2.16.840.1.113883.5.111", "displayName": "Soeur"},
        prefix="Mr"), ("SCH/header/hdr-name-prefix",)),
    "informant-ass-prefix-bad": (_add_informant_assigned(GOOD, prefix="Mr"),
                                 ("SCH/header/hdr-name-prefix",)),
    "authenticator-prefix-bad": (_add_authenticator(GOOD, prefix="Mr"),
                                 ("SCH/header/hdr-name-prefix",)),
    "resp-prefix-bad": (_responsible_party("1.2.250.1.71.4.2.1", prefix="Mr"),
                        ("SCH/header/hdr-name-prefix",)),
    # participant functionCode (J47)
    "part-function-bad": (_participant_function(code="XYZ", codeSystem="2.16.840.1.113883.5.88",
                                                displayName="X"),
                          ("SCH/header/hdr-participant-function",)),
    "part-function-ok": (_participant_function(code="PCP", codeSystem="2.16.840.1.113883.5.88",
                                               displayName="Médecin traitant"), ()),
    "part-function-space": (_participant_function(code=" PCP ", codeSystem="2.16.840.1.113883.5.88",
                                                  displayName="Médecin traitant"), ()),
    "part-function-nosys": (_participant_function(code="PCP", displayName="Médecin traitant"),
                            ("SCH/header/hdr-participant-function",)),
    "part-function-null": (_participant_function(nullFlavor="UNK"),
                           ("SCH/header/hdr-participant-function",)),
    # author functionCode
    "author-function-null": (_author_function(nullFlavor="NAV"),
                             ("SCH/header/hdr-author-function-coded",)),
    "author-function-nosys": (_author_function(code="PCP", displayName="Médecin traitant"),
                              ("SCH/header/hdr-author-function-coded",)),
    "author-function-space": (_author_function(code=" PCP", codeSystem="2.16.840.1.113883.5.88",
                                               displayName="Médecin traitant"), ()),
    "author-function-bad": (_author_function(code="ZZZ", codeSystem="2.16.840.1.113883.5.88",
                                             displayName="X"), ("SCH/header/hdr-author-function",)),
    # author specialty (J01)
    "author-code-sys-bad": (_set_attr("h:author/h:assignedAuthor/h:code", codeSystem="1.2.250.1.213.1.1.4.9"),
                            ("SCH/header/hdr-author-code-system",)),
    "author-code-space": (_set_attr("h:author/h:assignedAuthor/h:code", code=" G15_10/SM26"),
                          ("SCH/header/hdr-author-code",)),
    "author-code-null": (_replace_attrs("h:author/h:assignedAuthor/h:code", nullFlavor="UNK"),
                         ("SCH/header/hdr-author-code",)),
    # administrativeGenderCode
    "gender-space": (_set_attr(GENDER, code=" F"), ()),
    "gender-sys-bad": (_set_attr(GENDER, codeSystem="1.2.250.1.213.1.1.4.9"),
                       ("SCH/header/hdr-patient-gender-system",)),
    "gender-sys-missing": (_set_attr(GENDER, codeSystem=None),
                           ("SCH/header/hdr-patient-gender-system",)),
    "gender-null": (_replace_attrs(GENDER, nullFlavor="UNK"), ("SCH/header/hdr-patient-gender",)),
    "gender-bad": (_set_attr(GENDER, code="X"), ("SCH/header/hdr-patient-gender",)),
    # informant relationship
    "informant-rel-code-bad": (_add_informant_related(
        {"code": "ZZZ", "codeSystem": "2.16.840.1.113883.5.111", "displayName": "X"}),
        ("SCH/header/hdr-informant-relation",)),
    "informant-rel-code-nosys": (_add_informant_related(
        {"code": "SIS", "displayName": "Soeur"}), ("SCH/header/hdr-informant-relation",)),
    "informant-rel-code-ok": (_add_informant_related(
        {"code": "SIS", "codeSystem": "2.16.840.1.113883.5.111", "displayName": "Soeur"}), ()),
    "informant-rel-code-space": (_add_informant_related(
        {"code": "SIS ", "codeSystem": "2.16.840.1.113883.5.111", "displayName": "Soeur"}), ()),
    "informant-rel-nocode": (_add_informant_related(None), ()),
    # practice setting (standardIndustryClassCode, J04)
    "perf-sic-bad": (_set_attr(PERF_SIC, code="XX"), ("SCH/header/hdr-performer-sector-j04",)),
    "perf-sic-sys-bad": (_set_attr(PERF_SIC, codeSystem="1.2.3.4"), ()),
    "perf-sic-space": (_set_attr(PERF_SIC, code=" AMBULATOIRE"), ()),
    "legal-sic-bad": (_set_attr(LEGAL_SIC, code="XX"), ("SCH/header/hdr-legal-sector",)),
    "author-sic-bad": (_set_attr(AUTHOR_SIC, code="XX"), ()),
    "author-sic-sys-bad": (_set_attr(AUTHOR_SIC, codeSystem="1.2.3.4"), ()),
    "informant-ass-sic-bad": (_add_informant_assigned(("XX", "1.2.250.1.213.1.1.4.9")),
                              ("SCH/header/hdr-informant-sector",)),
    "informant-ass-ok": (_add_informant_assigned(GOOD), ()),
    "authenticator-sic-bad": (_add_authenticator(("XX", "1.2.250.1.213.1.1.4.9")), ()),
    "authenticator-ok": (_add_authenticator(GOOD), ()),
    "authenticator-not-rpps": (_add_authenticator(GOOD, root="1.2.250.1.71.4.2.9"),
                               ("SCH/header/hdr-authenticator-rpps",)),
    # responsibleParty of the encounter
    "resp-rpps-ok": (_responsible_party("1.2.250.1.71.4.2.1"), ()),
    "resp-not-rpps": (_responsible_party("1.2.250.1.71.4.2.9"),
                      ("SCH/header/hdr-responsible-party-rpps",)),
    "encpart-not-rpps": (_encounter_participant("1.2.250.1.71.4.2.9"),
                         ("SCH/header/hdr-encounter-participant-rpps",)),
    "encpart-rpps-ok": (_encounter_participant("1.2.250.1.71.4.2.1"), ()),
    "encpart-rpps-prefix-bad": (_encounter_participant("1.2.250.1.71.4.2.1", prefix="Mr"),
                                ("SCH/header/hdr-name-prefix",)),
    "perf-sic-null": (_replace_attrs(PERF_SIC, nullFlavor="UNK"), ("SCH/header/hdr-performer-sector",)),
    "perf-sic-nodisplay": (_set_attr(PERF_SIC, displayName=None), ("SCH/header/hdr-performer-sector-coded",)),
    "legal-sic-space": (_set_attr(LEGAL_SIC, code=" AMBULATOIRE"), ()),
    # cs codes padded with a space, and other code systems, on the main header codes
    "doc-code-padded": (_pad("h:code", "code"), ()),
    "doc-code-sys-bad": (_set_attr("h:code", codeSystem="1.2.250.1.213.9.9.9"), ()),
    "conf-padded": (_pad("h:confidentialityCode", "code"), ()),
    "conf-sys-bad": (_set_attr("h:confidentialityCode", codeSystem="1.2.250.1.213.9.9.9"), ()),
    "lang-padded": (_pad("h:languageCode", "code"), ()),
    "realm-padded": (_pad("h:realmCode", "code"), ()),
    "legal-signature-padded": (_pad("h:legalAuthenticator/h:signatureCode", "code"), ()),
    "facility-padded": (_pad(FACILITY, "code"), ()),
    "facility-sys-bad": (_set_attr(FACILITY, codeSystem="1.2.250.1.213.9.9.9"), ()),
    "encounter-code-padded": (_pad("h:componentOf/h:encompassingEncounter/h:code", "code"), ()),
    "encounter-code-sys-bad": (_set_attr("h:componentOf/h:encompassingEncounter/h:code",
                                         codeSystem="1.2.250.1.213.9.9.9"), ()),
    "participant-type-padded": (_pad("h:participant", "typeCode"), ()),
    "family-qualifier-padded": (_pad(PATIENT_NAME + "/h:family", "qualifier"), ()),
    "legal-code-padded": (_pad("h:legalAuthenticator/h:assignedEntity/h:code", "code"), ()),
    "perf-code-padded": (_pad(PERF + "/h:code", "code"), ()),
    "perf-type-padded": (_pad("h:documentationOf/h:serviceEvent/h:performer", "typeCode"), ()),
    # name parts, persons, addresses, other header elements (StrucMin)
    "author-suffix-twice": (_duplicate(AUTHOR_NAME + "/h:suffix"), ("SCH/header/hdr-name-part-once",)),
    "author-prefix-twice": (_duplicate(AUTHOR_NAME + "/h:prefix"), ("SCH/header/hdr-name-part-once",)),
    "recip-prefix-twice": (_duplicate(RECIP_NAME + "/h:prefix"), ("SCH/header/hdr-name-part-once",)),
    "patient-name-null": (_set_attr(PATIENT_NAME, nullFlavor="UNK"), ("SCH/header/hdr-patient-name",)),
    "part-person-no-family": (_remove(PART_NAME + "/h:family"), ("SCH/header/hdr-person-name",)),
    "part-person-two-names": (_duplicate(PART_NAME), ("SCH/header/hdr-person-name",)),
    "author-person-no-family": (_remove(AUTHOR_NAME + "/h:family"), ("SCH/header/hdr-person-name",)),
    "part-entity-code-bad": (_set_attr("h:participant/h:associatedEntity/h:code", code="ZZZ"),
                             ("SCH/header/hdr-participant-entity-code",)),
    "part-entity-code-nosys": (_set_attr("h:participant/h:associatedEntity/h:code", codeSystem=None),
                               ("SCH/header/hdr-participant-entity-code",)),
    "event-code-padded": (_pad("h:documentationOf/h:serviceEvent/h:code", "code"),
                          ("SCH/header/hdr-event-code-token",)),
    "facility-nodisplay": (_set_attr(FACILITY, displayName=None), ("SCH/header/hdr-facility-code-coded",)),
    "facility-nosys": (_set_attr(FACILITY, codeSystem=None), ("SCH/header/hdr-facility-code-coded",)),
    "order-id-twice": (_duplicate("h:inFulfillmentOf/h:order/h:id"), ("SCH/header/hdr-order-id",)),
    "patient-addr-city-twice": (_duplicate("h:recordTarget/h:patientRole/h:addr[not(h:streetAddressLine)]/h:city"),
                                ("SCH/header/hdr-addr-parts",)),
    "custodian-addr-street-twice": (_duplicate("h:custodian/h:assignedCustodian/h:representedCustodianOrganization"
                                               "/h:addr[not(h:streetAddressLine)]/h:streetName"),
                                    ("SCH/header/hdr-addr-parts",)),
    "patient-addr-use-phys": (_set_attr("h:recordTarget/h:patientRole/h:addr", use="PHYS"),
                              ("SCH/header/hdr-addr-use",)),
    "authenticator-time-null": (_replace_attrs("h:authenticator/h:time", nullFlavor="UNK"),
                                ("SCH/header/hdr-authenticator-time",)),
    # model templateId vs document code (DOC003)
    "code-of-other-model-img": (_doc_code("18748-4", "CR d'imagerie médicale"), ("DOC003",)),
    "code-of-other-model-ldl": (_doc_code("11490-0", "Lettre de liaison de sortie"), ("DOC003",)),
    "code-of-other-model-bio": (_doc_code("11502-2", "CR d'examens biologiques"), ("DOC003",)),
    "code-of-other-model-presc": (_doc_code("57833-6", "Prescription de produits de santé"), ("DOC003",)),
    "code-of-other-model-cro": (_doc_code("34874-8", "Compte rendu opératoire"), ("DOC003",)),
    "model-template-typo": (_model_template_typo, ()),
}


def base_tree(base: str) -> etree._ElementTree | None:
    kind, name = BASES[base]
    path = (kit_dir() / "ExemplesCDA" / name) if kind == "kit" else (
        ROOT / "samples" / "documents" / name)
    if not path.is_file():
        return None
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    if kind == "sample":
        root = tree.getroot()
        for pi in reversed(PROFILE_PIS):
            root.addprevious(etree.ProcessingInstruction("oxygen", f'SCHSchema="{pi}"'))
    return tree


def variants(bases: tuple[str, ...] | None = None) -> Iterator[tuple[str, bytes]]:
    """(variant id, document bytes) for every applicable base × mutation."""
    for base in bases or tuple(BASES):
        tree = base_tree(base)
        if tree is None:
            continue
        for mid, (mutate, _) in MUTATIONS.items():
            if base in CODE_ONLY_BASES and not (mid == "none" or mid.startswith("code-of-")):
                continue
            t = copy.deepcopy(tree)
            if not mutate(t.getroot()):
                continue
            yield f"{base}~{mid}", etree.tostring(t, xml_declaration=True, encoding="UTF-8")


def expected_rules(variant_id: str) -> tuple[str, ...]:
    rules = MUTATIONS[variant_id.split("~", 1)[1]][1]
    return rules + ("DOC007",) if "DOC003" in rules else rules


def run_official(out: Path, skip: frozenset[str] = frozenset()) -> dict[str, dict[str, object]]:
    """Run the official pipeline on every variant (but ``skip``); id -> verdict, failed asserts."""
    with tempfile.TemporaryDirectory(prefix="hdr-variants-") as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        names: dict[str, str] = {}
        for i, (vid, data) in enumerate(v for v in variants() if v[0] not in skip):
            fname = f"v{i:04d}.xml"
            (folder / fname).write_bytes(data)
            names[fname] = vid
        cmd = [sys.executable, "/work/shared/oracle/pipeline/official.py", "--kit", str(kit_dir()),
               "--out", str(out), "--cache", os.environ.get("CISIS_OFFICIAL_CACHE", "/work/oracle-cache"),
               "--jobs", "2", "-q", str(folder)]
        subprocess.run(cmd, check=False)
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    verdicts: dict[str, dict[str, object]] = {}
    for path, doc in results["documents"].items():
        vid = names[Path(path).name]
        failed = sorted({
            f"{Path(sch).stem}|{f.get('pattern') or ''}|{(f.get('text') or '')[:160]}"
            for sch, run in doc["schematrons"].items() for f in run["failed"]
            if f.get("role") not in ("warning", "info")})
        verdicts[vid] = {"invalid": bool(doc["official_invalid"]), "xsd_valid": doc["xsd_valid"],
                         "failed": failed}
    return dict(sorted(verdicts.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", action="store_true", help="run the official pipeline")
    ap.add_argument("--missing", action="store_true",
                    help="only the variants not yet in the data file (merged into it)")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "hdr-official-out"))
    args = ap.parse_args(argv)
    if args.official:
        old = json.loads(DATA.read_text(encoding="utf-8")) if args.missing and DATA.is_file() else {}
        current = {vid for vid, _ in variants()}
        verdicts = {k: v for k, v in old.items() if k in current}
        verdicts.update(run_official(Path(args.out), frozenset(verdicts)))
        verdicts = dict(sorted(verdicts.items()))
        DATA.write_text(json.dumps(verdicts, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{len(verdicts)} variants, {sum(v['invalid'] for v in verdicts.values())} "
              f"officially invalid -> {DATA}")
    else:
        for vid, _ in variants():
            print(vid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
