"""One-defect variants of CR-BIO N3 documents, for proving the cr-bio pack against the official
pipeline (tests/test_cr_bio_rules.py).

Bases: the kit's BIO-CR-BIO N3 examples (read from the kit at run time, never stored) and our
CR-BIO N3 samples (samples/documents, given the kit examples' ``<?oxygen SCHSchema?>``
processing instructions so that the official pipeline applies its usual schematrons and the
2024.01 volet). Each mutation injects one defect aimed at one official assert (or, for a few,
a change the official pipeline accepts, to prove we raise no false alarm). Everything is
deterministic: same kit and samples, same bytes (their SHA-1 is stored with the official
verdicts so that a stale record is noticed).

Refresh the stored official verdicts (needs Java and the kit; about 0.7 s per variant):

    python tests/cr_bio_mutants.py write /tmp/bio/variants
    python /work/shared/oracle/pipeline/official.py --kit KIT --out /tmp/bio/out \\
        --cache CACHE --jobs 2 /tmp/bio/variants
    python tests/cr_bio_mutants.py record /tmp/bio/variants /tmp/bio/out/results.json
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cda_builder import insert_after
from lxml import etree

H = "urn:hl7-org:v3"
NS = {"h": H}
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "documents"
DATA = ROOT / "tests" / "data" / "cr_bio_official.json"
SAMPLE_BASES = ("cr-bio-n3", "autopresentable-cr-bio-n3")
PROFILES = ("profils/IHE.sch", "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
            "profils/CI-SIS_ModelesDeContenusCDA.sch", "profils/CI-SIS_Modeles_ANS.sch",
            "profils/terminologies/schematron/terminologie.sch", "CI-SIS_BIO-CR-BIO_2024.01.sch")
MAX_BASES = 5  # each mutation is applied to at most this many bases (spread over versions)

Mutation = Callable[[etree._Element], bool]


def kit_dir() -> Path | None:
    raw = os.environ.get("CDACHECK_KIT")
    path = Path(raw) if raw else ROOT.parent / "shared" / "cisis-kit"
    return path if (path / "ExemplesCDA").is_dir() else None


# --------------------------------------------------------------------------- helpers


def _q(local: str) -> str:
    return f"{{{H}}}{local}"


def _all(root: etree._Element, path: str) -> list[etree._Element]:
    return [n for n in root.xpath(path, namespaces=NS) if isinstance(n, etree._Element)]


def _first(root: etree._Element, path: str) -> etree._Element | None:
    found = _all(root, path)
    return found[0] if found else None


def _on_first(path: str, action: Callable[[etree._Element], None]) -> Mutation:
    """A mutation doing ``action`` on the first element matching ``path`` (False: none)."""
    def apply(cda: etree._Element) -> bool:
        el = _first(cda, path)
        if el is None:
            return False
        action(el)
        return True
    return apply


def _drop(path: str) -> Mutation:
    return _on_first(path, lambda el: el.getparent().remove(el))


def _drop_all(path: str) -> Mutation:
    def apply(cda: etree._Element) -> bool:
        nodes = _all(cda, path)
        for el in nodes:
            el.getparent().remove(el)
        return bool(nodes)
    return apply


def _set(path: str, attr: str, value: str | None) -> Mutation:
    """Set (or, with None, remove) an attribute of the first element matching ``path``."""
    def apply(cda: etree._Element) -> bool:
        el = _first(cda, path)
        if el is None or (value is None and attr not in el.attrib) or el.get(attr) == value:
            return False
        if value is None:
            del el.attrib[attr]
        else:
            el.set(attr, value)
        return True
    return apply


def _duplicate(path: str) -> Mutation:
    return _on_first(path, lambda el: el.addnext(copy.deepcopy(el)))


def _null(path: str, flavor: str) -> Mutation:
    """Replace an element by an empty one of the same name carrying only a nullFlavor."""
    def action(el: etree._Element) -> None:
        new = etree.Element(el.tag, nullFlavor=flavor)
        new.tail = el.tail
        el.getparent().replace(el, new)
    return _on_first(path, action)


def _text(path: str, value: str) -> Mutation:
    def action(el: etree._Element) -> None:
        el.text = value
    return _on_first(path, action)


def _both(*steps: Mutation) -> Mutation:
    def apply(cda: etree._Element) -> bool:
        return all(step(cda) for step in steps)
    return apply


_after = insert_after


def _xml(text: str) -> etree._Element:
    return etree.fromstring(f'<wrap xmlns="{H}">{text}</wrap>')[0]


# paths of the laboratory templates
ENTRY = "//h:entry[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1']"
ACT = ENTRY + "/h:act"
OBS = "//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6']"
FR_OBS = "//h:observation[h:templateId/@root='1.2.250.1.213.1.1.3.80']"
DIRECT_OBS = ACT + "/h:entryRelationship/h:observation"
BATTERY = "//*[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.4']"
BATTERY_OBS = ACT + "/h:entryRelationship/h:organizer/h:component/h:observation"
ISOLATE = "//*[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.5']"
LAB_PERF = "//*[h:templateId/@root='1.3.6.1.4.1.19376.1.3.3.1.7']"
COLLECT = "//h:procedure[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.2']"
RECEIVED = "//*[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.3']"
SPECIALTY = "//h:section[h:templateId/@root='1.3.6.1.4.1.19376.1.3.3.2.1']"
ITEM = "//h:section[h:templateId/@root='1.3.6.1.4.1.19376.1.3.3.2.2']"
SECOND = "//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.60']"
PDF = "h:component/h:structuredBody/h:component[h:section/h:templateId/@root='1.2.250.1.213.1.1.2.243']"
PERF = "h:documentationOf/h:serviceEvent/h:performer"
AUTH = "h:authenticator"
RESP = "h:componentOf/h:encompassingEncounter/h:responsibleParty/h:assignedEntity"


def _forbidden_section(cda: etree._Element) -> bool:
    body = _first(cda, "h:component/h:structuredBody")
    if body is None:
        return False
    body.append(_xml(
        '<component><section><templateId root="1.3.6.1.4.1.19376.1.5.3.1.3.4"/>'
        '<code code="10164-2" codeSystem="2.16.840.1.113883.6.1" displayName="Histoire de la maladie"/>'
        "<title>Histoire de la maladie</title><text>Sans particularité.</text></section></component>"))
    return True


def _specialty_content(cda: etree._Element) -> bool:
    sec = _first(cda, SPECIALTY)
    if sec is None:
        return False
    if _first(sec, "h:component") is not None:
        _after(sec, ("templateId", "id", "code", "title"), _xml("<text>Texte ajouté.</text>"))
    else:
        entry = _first(sec, "h:entry")
        if entry is None:
            return False
        entry.addnext(copy.deepcopy(entry))
    return True


def _act_effective_time(cda: etree._Element) -> bool:
    act = _first(cda, ACT)
    if act is None or _first(act, "h:effectiveTime") is not None:
        return False
    _after(act, ("templateId", "id", "code", "text", "statusCode"),
           _xml('<effectiveTime value="20240101120000+0100"/>'))
    return True


def _no_comp(cda: etree._Element) -> bool:
    rels = _all(cda, ACT + "/h:entryRelationship[@typeCode='COMP']")
    act = _first(cda, ACT)
    rels = [r for r in rels if r.getparent() is act]
    for r in rels:
        r.set("typeCode", "SUBJ")
    return bool(rels)


def _subject(cda: etree._Element) -> bool:
    act = _first(cda, ACT)
    if act is None or _first(act, "h:subject") is not None:
        return False
    _after(act, ("templateId", "id", "code", "text", "statusCode", "effectiveTime", "priorityCode",
                 "languageCode"),
           _xml('<subject typeCode="SBJ"><templateId root="1.3.6.1.4.1.19376.1.3.3.1.2.1"/>'
                '<relatedSubject classCode="PRS"><code code="ANIMAL" codeSystem="2.16.840.1.113883.5.111"/>'
                "</relatedSubject></subject>"))
    return True


def _battery_second_id(cda: etree._Element) -> bool:
    """Give the first battery organizer two ids (cardinality [0..1])."""
    org = _first(cda, BATTERY)
    if org is None:
        return False
    while len(_all(org, "h:id")) < 2:
        _after(org, ("templateId", "id"), _xml(f'<id root="1.2.250.1.213.1.1.9.99" '
                                               f'extension="BATT-{len(org)}"/>'))
    return True


def _previous(status: str, with_time: bool) -> Mutation:
    def apply(cda: etree._Element) -> bool:
        obs = _first(cda, OBS)
        if obs is None or _first(obs, "h:entryRelationship[@typeCode='REFR']") is not None:
            return False
        code = _first(obs, "h:code")
        prior = _xml(
            '<entryRelationship typeCode="REFR"><observation classCode="OBS" moodCode="EVN">'
            + (etree.tostring(code, encoding="unicode") if code is not None else "")
            + f'<statusCode code="{status}"/>'
            + ('<effectiveTime value="20230101100000+0100"/>' if with_time else "")
            + "</observation></entryRelationship>")
        # before referenceRange/precondition (end of observation's children otherwise)
        rr = _first(obs, "h:referenceRange")
        if rr is not None:
            rr.addprevious(prior)
        else:
            obs.append(prior)
        return True
    return apply


def _translation_no_display(cda: etree._Element) -> bool:
    code = _first(cda, DIRECT_OBS + "/h:code[@code]")
    if code is None or _first(code, "h:translation") is not None:
        return False
    _after(code, ("originalText", "qualifier"), _xml('<translation code="GLY-L" codeSystem="1.2.250.1.213.1.1.9.42"/>'))
    return True


def _obs_local_code(path: str) -> Mutation:
    def apply(cda: etree._Element) -> bool:
        code = _first(cda, path + "/h:code[@codeSystem='2.16.840.1.113883.6.1']")
        if code is None:
            return False
        code.set("codeSystem", "1.2.250.1.213.1.1.9.42")
        code.attrib.pop("codeSystemName", None)
        return True
    return apply


def _germ_loinc(cda: etree._Element) -> bool:
    code = _first(cda, ISOLATE + "/h:specimen/h:specimenRole/h:specimenPlayingEntity/h:code")
    if code is None:
        return False
    for child in list(code):
        code.remove(child)
    code.attrib.clear()
    code.set("code", "11475-1")
    code.set("codeSystem", "2.16.840.1.113883.6.1")
    code.set("displayName", "Microorganism identified")
    return True


def _battery_translation(cda: etree._Element) -> bool:
    code = _first(cda, BATTERY_OBS + "/h:code[@code]")
    if code is None or _first(code, "h:translation") is not None:
        return False
    _after(code, ("originalText", "qualifier"), _xml('<translation code="LOC-1" codeSystem="1.2.250.1.213.1.1.9.42"/>'))
    return True


def _isolate_performer(cda: etree._Element) -> bool:
    org = _first(cda, ISOLATE)
    if org is None or _first(org, "h:performer") is not None:
        return False
    _after(org, ("templateId", "id", "code", "statusCode", "effectiveTime", "subject", "specimen"),
           _xml('<performer typeCode="SPRF"><assignedEntity><id root="1.2.250.1.71.4.2.2" '
                'extension="1234567890"/></assignedEntity></performer>'))
    return True


def _item_template_on_entry(cda: etree._Element) -> bool:
    tid = _first(cda, ITEM + "/" + ENTRY.removeprefix("//") + "/h:templateId[last()]")
    if tid is None:
        return False
    tid.addnext(_xml('<templateId root="1.3.6.1.4.1.19376.1.3.3.2.2"/>'))
    return True


def _spreceive_system(cda: etree._Element) -> bool:
    code = _first(cda, COLLECT + "/h:entryRelationship/h:act/h:code[@code='SPRECEIVE']")
    if code is None:
        return False
    code.set("codeSystem", "1.3.6.1.4.1.19376.1.5.3.2")
    return True


MUTATIONS: dict[str, Mutation] = {
    # volet header
    "code-display-curly": _set("h:code", "displayName", "CR d\u2019examens biologiques"),
    "code-system": _set("h:code", "codeSystem", "2.16.840.1.113883.6.96"),
    "title": _text("h:title", "Compte rendu de biologie"),
    "no-xdlab-template": _drop("h:templateId[@root='1.3.6.1.4.1.19376.1.3.3']"),
    "version-zero": _set("h:versionNumber", "value", "0"),
    "version-decimal": _set("h:versionNumber", "value", "1.5"),
    "patient-addr-nask": _null("h:recordTarget/h:patientRole/h:addr", "NASK"),
    "patient-addr-unk": _null("h:recordTarget/h:patientRole/h:addr", "UNK"),
    "patient-telecom-nav": _null("h:recordTarget/h:patientRole/h:telecom", "NAV"),
    "patient-birth-asku": _null("h:recordTarget/h:patientRole/h:patient/h:birthTime", "ASKU"),
    "auth-template": _drop(AUTH + "/h:templateId[@root='1.3.6.1.4.1.19376.1.3.3.1.5']"),
    "auth-time": _drop(AUTH + "/h:time"),
    "auth-addr": _drop(AUTH + "/h:assignedEntity/h:addr"),
    "auth-telecom": _drop_all(AUTH + "/h:assignedEntity/h:telecom"),
    "auth-org-name": _drop(AUTH + "/h:assignedEntity/h:representedOrganization/h:name"),
    "event-code": _drop("h:documentationOf/h:serviceEvent/h:code"),
    "perf-time": _drop(PERF + "/h:time"),
    "perf-addr": _drop(PERF + "/h:assignedEntity/h:addr"),
    "perf-telecom": _drop_all(PERF + "/h:assignedEntity/h:telecom"),
    "perf-name": _drop(PERF + "/h:assignedEntity/h:assignedPerson/h:name"),
    "perf-org-id": _drop_all(PERF + "/h:assignedEntity/h:representedOrganization/h:id"),
    "perf-org-sector": _drop(PERF + "/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode"),
    "resp-code": _drop(RESP + "/h:code"),
    "resp-family": _drop_all(RESP + "/h:assignedPerson/h:name/h:family"),
    # sections
    "section-forbidden": _forbidden_section,
    "no-pdf-section": _drop(PDF),
    "specialty-template": _set(SPECIALTY + "/h:templateId[@root='1.3.6.1.4.1.19376.1.3.3.2.1']",
                               "root", "1.3.6.1.4.1.19376.1.3.3.2.9"),
    "specialty-content": _specialty_content,
    "item-no-text": _drop(ITEM + "/h:text"),
    "item-two-entries": _duplicate(ITEM + "/h:entry"),
    "item-code-local": _set(ITEM + "/h:code", "codeSystem", "1.2.250.1.213.1.1.9.42"),
    "second-no-text": _drop(SECOND + "/h:text"),
    "second-no-code": _drop(SECOND + "/h:code"),
    # Laboratory Report Data Processing Entry
    "entry-no-type-code": _set(ENTRY, "typeCode", None),
    "entry-type-comp": _set(ENTRY, "typeCode", "COMP"),
    "act-mood": _set(ACT, "moodCode", "INT"),
    "act-code-local": _set(ACT + "/h:code[@code]", "codeSystem", "1.2.250.1.213.1.1.9.42"),
    "act-status-new": _set(ACT + "/h:statusCode", "code", "new"),
    "act-status-active": _set(ACT + "/h:statusCode", "code", "active"),
    "act-effective-value": _act_effective_time,
    "act-no-comp": _no_comp,
    "act-subject-no-addr": _subject,
    # battery
    "battery-class": _set(BATTERY, "classCode", "CLUSTER"),
    "battery-two-ids": _battery_second_id,
    "battery-status-obsolete": _set(BATTERY + "/h:statusCode", "code", "obsolete"),
    "battery-status-new": _set(BATTERY + "/h:statusCode", "code", "new"),
    "battery-obs-no-display": _set(BATTERY_OBS + "/h:code[@displayName]", "displayName", None),
    "battery-obs-local-code": _obs_local_code(BATTERY_OBS),
    # isolate
    "isolate-class": _set(ISOLATE, "classCode", "BATTERY"),
    "isolate-status-new": _set(ISOLATE + "/h:statusCode", "code", "new"),
    "isolate-no-specimen": _drop_all(ISOLATE + "/h:specimen"),
    "isolate-entity-class": _set(ISOLATE + "/h:specimen/h:specimenRole/h:specimenPlayingEntity",
                                 "classCode", "ENT"),
    "isolate-germ-loinc": _germ_loinc,
    "isolate-fr-no-ihe-template": _drop("//*[h:templateId/@root='1.2.250.1.213.1.1.3.79']"
                                        "/h:templateId[@root='1.3.6.1.4.1.19376.1.3.1.5']"),
    # laboratory observation
    "obs-mood": _set(OBS, "moodCode", "INT"),
    "obs-class": _set(OBS, "classCode", "ALRT"),
    "obs-no-original-text": _drop(FR_OBS + "/h:code/h:originalText"),
    "obs-no-reference": _drop(FR_OBS + "/h:code/h:originalText/h:reference"),
    "obs-status-active": _set(OBS + "/h:statusCode", "code", "active"),
    "obs-status-new": _set(OBS + "/h:statusCode", "code", "new"),
    "obs-two-ranges": _duplicate(OBS + "/h:referenceRange"),
    "obs-previous-no-time": _previous("completed", with_time=False),
    "obs-previous-active": _previous("active", with_time=True),
    "obs-fr-no-ihe-template": _drop(FR_OBS + "/h:templateId[@root='1.3.6.1.4.1.19376.1.3.1.6']"),
    "interp-code-unknown": _set("//h:observation/h:interpretationCode[@code]", "code", "ZZ"),
    "interp-null": _null("//h:observation/h:interpretationCode[@code]", "UNK"),
    "interp-no-system": _set("//h:observation/h:interpretationCode[@code]", "codeSystem", None),
    "direct-obs-no-display": _set(DIRECT_OBS + "/h:code[@codeSystem='2.16.840.1.113883.6.1']",
                                  "displayName", None),
    "direct-obs-local-code": _obs_local_code(DIRECT_OBS),
    "direct-obs-translation": _translation_no_display,
    # executing laboratory
    "labperf-time": _drop(LAB_PERF + "/h:time"),
    "labperf-id": _drop_all(LAB_PERF + "/h:assignedEntity/h:id"),
    "labperf-sector": _drop(LAB_PERF + "/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode"),
    "labperf-org-addr": _drop_all(LAB_PERF + "/h:assignedEntity/h:representedOrganization/h:addr"),
    # specimen collection / received
    "collect-mood": _set(COLLECT, "moodCode", "INT"),
    "collect-time": _drop(COLLECT + "/h:effectiveTime"),
    "collect-two-sites": _duplicate(COLLECT + "/h:targetSiteCode"),
    "collect-no-participant": _drop_all(COLLECT + "/h:participant"),
    "collect-participant-dev": _set(COLLECT + "/h:participant", "typeCode", "DEV"),
    "collect-two-participants": _duplicate(COLLECT + "/h:participant"),
    "collect-received-time": _drop(COLLECT + "/h:entryRelationship/h:act[h:code/@code='SPRECEIVE']/h:effectiveTime"),
    "collect-received-system": _spreceive_system,
    "received-code": _set(RECEIVED + "/h:code", "code", "SPRECV"),
    "received-mood": _set(RECEIVED, "moodCode", "INT"),
    # added after the first official run (appended, so that earlier variants keep their bytes)
    "version-null": _null("h:versionNumber", "NI"),
    "isolate-performer-type": _isolate_performer,
    "battery-obs-translation": _battery_translation,
    "item-template-on-entry": _item_template_on_entry,
    "obs-in-battery-no-code": _drop(BATTERY_OBS + "/h:code"),
    "act-status-completed-to-aborted": _set(ACT + "/h:statusCode[@code='completed']", "code", "aborted"),
    "no-lab-entry": _drop_all(ENTRY),
    "value-unit-not-ucum": _set("//h:observation/h:value[@unit]", "unit", "mmol/litre"),
    "range-unit-not-ucum": _set("//h:referenceRange/h:observationRange/h:value/h:low[@unit]", "unit", "G/l"),
    "value-unit-annotation": _set("//h:observation/h:value[@unit='%']", "unit", "{ratio}%"),
}


# --------------------------------------------------------------------------- bases and variants


@dataclass(frozen=True)
class Base:
    name: str
    data: bytes
    kit: bool


def _with_pis(data: bytes) -> bytes:
    tree = etree.ElementTree(etree.fromstring(data))
    root = tree.getroot()
    for href in PROFILES:
        root.addprevious(etree.ProcessingInstruction("oxygen", f'SCHSchema="../schematrons/{href}"'))
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def base_groups(kit: Path | None) -> list[list[Base]]:
    """Our samples, then the kit's N3 BIO-CR-BIO examples grouped by volet version (newest first)."""
    groups = [[Base(f"sample-{n}", _with_pis((SAMPLES / f"{n}.xml").read_bytes()), kit=False)
               for n in SAMPLE_BASES]]
    if kit is not None:
        by_version: dict[str, list[Base]] = {}
        for p in sorted((kit / "ExemplesCDA").glob("BIO-CR-BIO_*.xml")):
            if "Niveau-1" in p.name:
                continue
            by_version.setdefault(p.name.split("_")[1], []).append(
                Base(p.stem.replace(" ", "_"), p.read_bytes(), kit=True))
        groups += [by_version[v] for v in sorted(by_version, reverse=True)]
    return groups


def bases(kit: Path | None) -> list[Base]:
    return [b for g in base_groups(kit) for b in g]


def _cda(tree: etree._ElementTree) -> etree._Element | None:
    found = tree.getroot().xpath("descendant-or-self::h:ClinicalDocument", namespaces=NS)
    return found[0] if found else None


def mutate(data: bytes, mutation: Mutation) -> bytes | None:
    parser = etree.XMLParser(remove_blank_text=False, resolve_entities=False, no_network=True)
    tree = etree.ElementTree(etree.fromstring(data, parser))
    cda = _cda(tree)
    if cda is None or not mutation(cda):
        return None
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class Variant:
    key: str
    base: str
    mutation: str  # "base" for the unmutated document
    data: bytes
    kit: bool

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.data).hexdigest()


def variants(kit: Path | None) -> Iterator[Variant]:
    """Every base unmutated, then each mutation on up to MAX_BASES bases where it applies,
    taken in turn from each group (samples, 2024.01, 2023.01, 2021.01 examples), starting at
    a different example for each mutation so that all examples get used."""
    groups = base_groups(kit)
    for b in (b for g in groups for b in g):
        yield Variant(f"{b.name}__base", b.name, "base", b.data, b.kit)
    for index, (name, mutation) in enumerate(MUTATIONS.items()):
        queues = [g[index % len(g):] + g[:index % len(g)] for g in groups]
        used = 0
        while used < MAX_BASES and any(queues):
            for q in queues:
                if used >= MAX_BASES or not q:
                    continue
                b = q.pop(0)
                data = mutate(b.data, mutation)
                while data is None and q:
                    b = q.pop(0)
                    data = mutate(b.data, mutation)
                if data is not None:
                    used += 1
                    yield Variant(f"{b.name}__{name}", b.name, name, data, b.kit)


# --------------------------------------------------------------------------- official results


def official_errors(doc: dict) -> Counter[str]:
    """Error-level failed asserts of one document of official.py's results.json."""
    out: Counter[str] = Counter()
    if not doc.get("xsd_valid", True):
        out["XSD"] += 1
    for sch, res in doc.get("schematrons", {}).items():
        if not res.get("ran", True):
            out[f"{sch}: did not run"] += 1
        for f in res.get("failed", []):
            if (f.get("role") or "").strip().lower() not in ("warning", "info"):
                out[f"{Path(sch).stem}: {f['text'][:100]}"] += 1
    return out


def record(folder: Path, *results: Path) -> dict:
    """The stored form: per variant its SHA-1, official verdict and error-level asserts
    (several results.json files may be given: runs over parts of the folder)."""
    runs = [json.loads(r.read_text(encoding="utf-8")) for r in results]
    res = runs[0]
    by_file = {Path(k).name: v for run in runs for k, v in run["documents"].items()}
    out: dict[str, dict] = {}
    texts: dict[str, int] = {}
    for path in sorted(folder.glob("*.xml")):
        doc = by_file[path.name]
        errors = official_errors(doc)
        out[path.stem] = {"sha1": hashlib.sha1(path.read_bytes()).hexdigest(),
                          "official_invalid": bool(doc["official_invalid"]),
                          "errors": [texts.setdefault(e, len(texts)) for e in sorted(errors.elements())]}
    return {"tool": {k: res["tool"].get(k) for k in ("name", "version", "saxon", "pipeline")}
            | {"kit_commit": (res["tool"].get("kit") or {}).get("commit")},
            "texts": list(texts), "variants": out}


def recorded_errors(record_data: dict, key: str) -> Counter[str]:
    """The official error-level asserts of one recorded variant (schematron: text)."""
    texts = record_data["texts"]
    return Counter(texts[i] for i in record_data["variants"][key]["errors"])


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "write":
        folder = Path(argv[1])
        folder.mkdir(parents=True, exist_ok=True)
        n = 0
        for v in variants(kit_dir()):
            (folder / f"{v.key}.xml").write_bytes(v.data)
            n += 1
        print(f"{n} variants written to {folder}")
        return 0
    if len(argv) >= 3 and argv[0] == "record":
        data = record(Path(argv[1]), *(Path(a) for a in argv[2:]))
        DATA.write_text(json.dumps(data, indent=0, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n",
                        encoding="utf-8")
        print(f"{len(data['variants'])} official verdicts recorded in {DATA}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
