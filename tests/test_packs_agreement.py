"""Agreement of cdacheck's own packs (default mode) with the official kit (kit mode).

1. Mutants: every defect of cisis-facts §E that applies, injected one at a time into our
   samples (samples/documents/*.xml, written by scripts/make_samples.py). Default mode must
   name each defect with one of the rules we expect (no kit needed), and when the kit is
   present, default mode and kit mode must reach the same verdict on each mutant (a defect
   is "detected" when the mutant has an error the unmutated sample does not have).
2. Kit examples of the five DS types: our packs raise an error exactly where the kit does.

Agreement figures are printed (run with ``-s`` to see them) and recorded in docs/packs.md.
The kit tests are slow (the kit's profiles cost about 0.7 s per document) and marked ``kit``.
"""

from __future__ import annotations

import copy
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cda_builder import insert_header
from lxml import etree

from cdacheck.config import Settings
from cdacheck.detect import Detection, detect
from cdacheck.facts import extract_facts
from cdacheck.inputs.xml import ParsedDocument, parse_document
from cdacheck.model import Hit, Severity

H = "urn:hl7-org:v3"
NS = {"h": H}
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "documents"
BASES = ("ldl-ses-n1", "ordonnance-n1", "cro-n1", "cr-img-n1", "cr-bio-n3")
# Defects where cdacheck deliberately differs from the kit (cisis-facts §1 and §E.2: the kit
# only warns on a wrong typeId, then silences every header rule; cdacheck makes it an error).
INTENDED_DIVERGENCE = {2}

# --------------------------------------------------------------------------- mutation helpers


def _q(local: str) -> str:
    return f"{{{H}}}{local}"


def _one(root: etree._Element, path: str) -> etree._Element | None:
    found = root.xpath(path, namespaces=NS)
    return found[0] if found else None


def _remove(root: etree._Element, path: str) -> bool:
    nodes = root.xpath(path, namespaces=NS)
    for n in nodes:
        if isinstance(n, etree._Element):
            n.getparent().remove(n)
        else:  # an attribute
            del n.getparent().attrib[n.attrname]
    return bool(nodes)


def _set(root: etree._Element, path: str, attr: str, value: str) -> bool:
    el = _one(root, path)
    if el is None:
        return False
    el.set(attr, value)
    return True


def _duplicate(root: etree._Element, path: str) -> bool:
    el = _one(root, path)
    if el is None:
        return False
    el.addnext(copy.deepcopy(el))
    return True


_insert_header = insert_header


def _related(cda: etree._Element, with_id: bool = True) -> etree._Element:
    rel = etree.Element(_q("relatedDocument"), typeCode="RPLC")
    parent = etree.SubElement(rel, _q("parentDocument"))
    if with_id:
        etree.SubElement(parent, _q("id"), root="1.2.250.1.999.1.2.3", extension="v1")
    else:
        etree.SubElement(parent, _q("setId"), root="1.2.250.1.999.1.2.4")
    return rel


@dataclass(frozen=True)
class Mutator:
    """One defect of cisis-facts §E, applied in place to a ClinicalDocument."""

    defect: int
    name: str
    apply: Callable[[etree._Element], bool]
    expect: frozenset[str]
    only: tuple[str, ...] = ()  # restrict to some base samples


def _m(defect: int, name: str, apply: Callable[[etree._Element], bool], *expect: str,
       only: tuple[str, ...] = ()) -> Mutator:
    return Mutator(defect, name, apply, frozenset(expect), only)


PT = "h:recordTarget/h:patientRole"
PAT = PT + "/h:patient"
SE1 = "h:documentationOf[1]/h:serviceEvent"
EE = "h:componentOf/h:encompassingEncounter"
N1 = ("ldl-ses-n1", "ordonnance-n1", "cro-n1", "cr-img-n1")
BIO = ("cr-bio-n3",)
S = "SCH/header/"
B = "SCH/cr-bio/"


def _first_telecom(cda: etree._Element) -> str:
    return f"({PT}/h:telecom | h:author/h:assignedAuthor/h:telecom)[1]"


def _add_forbidden_section(cda: etree._Element) -> bool:
    body = _one(cda, "h:component/h:structuredBody")
    if body is None:
        return False
    comp = etree.SubElement(body, _q("component"))
    sec = etree.SubElement(comp, _q("section"))
    etree.SubElement(sec, _q("templateId"), root="1.3.6.1.4.1.19376.1.5.3.1.3.4")
    etree.SubElement(sec, _q("code"), code="10164-2", codeSystem="2.16.840.1.113883.6.1",
                     displayName="Histoire de la maladie")
    etree.SubElement(sec, _q("title")).text = "Histoire de la maladie"
    etree.SubElement(sec, _q("text")).text = "Texte libre."
    return True


def _nullflavor(path: str, attr: str, flavor: str) -> Callable[[etree._Element], bool]:
    def apply(cda: etree._Element) -> bool:
        el = _one(cda, path)
        if el is None:
            return False
        el.attrib.pop(attr, None)
        el.set("nullFlavor", flavor)
        return True
    return apply


def _tel(value: str | None, flavor: str | None) -> Callable[[etree._Element], bool]:
    def apply(cda: etree._Element) -> bool:
        el = _one(cda, _first_telecom(cda))
        if el is None:
            return False
        el.attrib.pop("value", None)
        el.attrib.pop("nullFlavor", None)
        if value is not None:
            el.set("value", value)
        if flavor is not None:
            el.set("nullFlavor", flavor)
        return True
    return apply


def _code_change(code: str) -> Callable[[etree._Element], bool]:
    return lambda cda: _set(cda, "h:code", "code", code)


def _add_volet_template(cda: etree._Element) -> bool:
    code = cda.xpath("string(h:code/@code)", namespaces=NS)
    root = {"11490-0": "1.2.250.1.213.1.1.1.29", "18748-4": "1.2.250.1.213.1.1.1.45",
            "57833-6": "1.2.250.1.213.1.1.1.39"}.get(code, "1.2.250.1.213.1.1.1.40")
    last = cda.findall(_q("templateId"))[-1]
    last.addnext(etree.Element(_q("templateId"), root=root, extension="2024.01"))
    return True


def _two_related(cda: etree._Element) -> bool:
    _insert_header(cda, _related(cda))
    _insert_header(cda, _related(cda))
    return True


MUTATORS: tuple[Mutator, ...] = (
    _m(1, "realm-missing", lambda c: _remove(c, "h:realmCode"), S + "hdr-realm-code"),
    _m(1, "realm-xx", lambda c: _set(c, "h:realmCode", "code", "XX"), S + "hdr-realm-code"),
    _m(1, "realm-twice", lambda c: _duplicate(c, "h:realmCode"), S + "hdr-realm-code"),
    _m(2, "typeid-root", lambda c: _set(c, "h:typeId", "root", "2.16.840.1.113883.1.4"), S + "hdr-type-id"),
    _m(2, "typeid-ext", lambda c: _set(c, "h:typeId", "extension", "POCD_HD000041"), S + "hdr-type-id"),
    _m(3, "tpl-hl7fr-missing", lambda c: _remove(c, "h:templateId[@root='2.16.840.1.113883.2.8.2.1']"),
       S + "hdr-tpl-hl7fr"),
    _m(3, "tpl-cisis-missing", lambda c: _remove(c, "h:templateId[@root='1.2.250.1.213.1.1.1.1']"),
       S + "hdr-tpl-cisis"),
    _m(3, "tpl-hl7fr-twice", lambda c: _duplicate(c, "h:templateId[@root='2.16.840.1.113883.2.8.2.1']"),
       S + "hdr-tpl-hl7fr"),
    _m(3, "tpl-cisis-twice", lambda c: _duplicate(c, "h:templateId[@root='1.2.250.1.213.1.1.1.1']"),
       S + "hdr-tpl-cisis"),
    _m(4, "n1-no-xds-sd", lambda c: _remove(c, "h:templateId[@root='1.3.6.1.4.1.19376.1.2.20']"),
       S + "hdr-n1-xds-sd", S + "hdr-n1-three-tpl", only=N1),
    _m(5, "n1-volet-template", _add_volet_template, S + "hdr-n1-three-tpl", only=N1),
    _m(6, "code-not-j07", _code_change("99999-9"), S + "hdr-code-j07"),
    _m(6, "code-no-display", lambda c: _remove(c, "h:code/@displayName"),
       S + "hdr-code-attributes", B + "bio-code"),
    _m(6, "code-no-system", lambda c: _remove(c, "h:code/@codeSystem"), S + "hdr-code-attributes"),
    _m(6, "code-nullflavor", _nullflavor("h:code", "code", "UNK"), S + "hdr-code"),
    _m(7, "conf-masque-ps", lambda c: _set(c, "h:confidentialityCode", "code", "MASQUE_PS"),
       S + "hdr-confidentiality-value"),
    _m(7, "conf-x", lambda c: _set(c, "h:confidentialityCode", "code", "X"), S + "hdr-confidentiality-value"),
    _m(7, "conf-no-display", lambda c: _remove(c, "h:confidentialityCode/@displayName"),
       S + "hdr-confidentiality-attributes"),
    _m(8, "lang-fr", lambda c: _set(c, "h:languageCode", "code", "fr"), S + "hdr-language-format"),
    _m(8, "lang-FR", lambda c: _set(c, "h:languageCode", "code", "FR"), S + "hdr-language-format"),
    _m(8, "lang-underscore", lambda c: _set(c, "h:languageCode", "code", "fr_FR"), S + "hdr-language-format"),
    _m(9, "setid-missing", lambda c: _remove(c, "h:setId"), S + "hdr-set-id"),
    _m(9, "version-missing", lambda c: _remove(c, "h:versionNumber"),
       S + "hdr-version-number", B + "bio-version-number"),
    _m(9, "version-nullflavor", _nullflavor("h:versionNumber", "value", "NI"),
       S + "hdr-version-number", B + "bio-version-number"),
    _m(9, "version-zero", lambda c: _set(c, "h:versionNumber", "value", "0"), B + "bio-version-number",
       only=BIO),
    _m(10, "ins-no-given-br", lambda c: _remove(c, PAT + "/h:name/h:given[@qualifier='BR']"), "INS009"),
    _m(10, "ins-no-given-list", lambda c: _remove(c, PAT + "/h:name/h:given[not(@qualifier)]"), "INS009"),
    _m(10, "ins-no-county", lambda c: _remove(c, PAT + "/h:birthplace"), "INS009"),
    _m(10, "ins-no-gender", lambda c: _remove(c, PAT + "/h:administrativeGenderCode/@code"),
       "INS009", S + "hdr-patient-gender"),
    _m(11, "family-no-qualifier", lambda c: _remove(c, PAT + "/h:name/h:family[@qualifier='BR']/@qualifier"),
       S + "hdr-family-qualifier"),
    _m(11, "family-sp", lambda c: _set(c, PAT + "/h:name/h:family[@qualifier='BR']", "qualifier", "SP"),
       S + "hdr-family-qualifier"),
    _m(11, "given-qualifier-xx", lambda c: _set(c, PAT + "/h:name/h:given[@qualifier='BR']", "qualifier", "IN"),
       S + "hdr-given-qualifier"),
    _m(12, "gender-u", lambda c: _set(c, PAT + "/h:administrativeGenderCode", "code", "U"),
       S + "hdr-patient-gender"),
    _m(12, "gender-i", lambda c: _set(c, PAT + "/h:administrativeGenderCode", "code", "I"),
       S + "hdr-patient-gender"),
    _m(12, "birthtime-no-value", _nullflavor(PAT + "/h:birthTime", "value", "UNK"),
       S + "hdr-patient-birth-time"),
    _m(13, "author-no-time", lambda c: _remove(c, "h:author/h:time"), S + "hdr-author-time"),
    _m(13, "author-id-no-ext", lambda c: _remove(c, "h:author/h:assignedAuthor/h:id/@extension"),
       S + "hdr-author-id"),
    _m(13, "author-code-not-j01", lambda c: _set(c, "h:author/h:assignedAuthor/h:code", "code", "ZZ_99/XX"),
       S + "hdr-author-code"),
    _m(14, "custodian-root-other",
       lambda c: _set(c, "h:custodian//h:representedCustodianOrganization/h:id", "root", "1.2.3.4.5"),
       S + "hdr-custodian-root"),
    _m(14, "custodian-root-ps",
       lambda c: _set(c, "h:custodian//h:representedCustodianOrganization/h:id", "root", "1.2.250.1.71.4.2.1"),
       S + "hdr-custodian-root"),
    _m(15, "legal-missing", lambda c: _remove(c, "h:legalAuthenticator"), S + "hdr-legal-authenticator"),
    _m(15, "legal-signature-x", lambda c: _set(c, "h:legalAuthenticator/h:signatureCode", "code", "X"),
       S + "hdr-legal-signature", S + "hdr-legal-authenticator"),
    _m(15, "legal-no-time", lambda c: _remove(c, "h:legalAuthenticator/h:time"), S + "hdr-legal-time"),
    _m(16, "main-act-no-performer", lambda c: _remove(c, SE1 + "/h:performer"), S + "hdr-main-act-performer"),
    _m(16, "main-act-two-performers", lambda c: _duplicate(c, SE1 + "/h:performer"),
       S + "hdr-main-act-performer", S + "hdr-event-performers"),
    _m(16, "main-act-no-time", lambda c: _remove(c, SE1 + "/h:effectiveTime"), S + "hdr-main-act-time"),
    _m(16, "main-act-no-low", lambda c: _remove(c, SE1 + "/h:effectiveTime/h:low"), S + "hdr-event-time"),
    _m(17, "performer-no-sector",
       lambda c: _remove(c, SE1 + "/h:performer//h:representedOrganization/h:standardIndustryClassCode"),
       S + "hdr-performer-sector"),
    _m(17, "performer-sector-not-j04",
       lambda c: _set(c, SE1 + "/h:performer//h:representedOrganization/h:standardIndustryClassCode",
                      "code", "CLINIQUE"), S + "hdr-performer-sector-j04"),
    _m(18, "componentof-missing", lambda c: _remove(c, "h:componentOf"), S + "hdr-component-of"),
    _m(18, "facility-code-missing", lambda c: _remove(c, EE + "/h:location/h:healthCareFacility/h:code"),
       S + "hdr-facility-code"),
    _m(18, "facility-code-not-j02", lambda c: _set(c, EE + "/h:location/h:healthCareFacility/h:code",
                                                    "code", "ZZ99"), S + "hdr-facility-code-j02"),
    _m(18, "encounter-no-time", lambda c: _remove(c, EE + "/h:effectiveTime"), S + "hdr-encounter-time"),
    _m(18, "encounter-code-not-j142", lambda c: _set(c, EE + "/h:code", "code", "XYZ"),
       S + "hdr-encounter-code"),
    _m(19, "telecom-no-prefix", _tel("0144534551", None), S + "hdr-telecom"),
    _m(19, "telecom-both", _tel("tel:0144534551", "UNK"), S + "hdr-telecom"),
    _m(19, "telecom-ni", _tel(None, "NI"), S + "hdr-telecom"),
    _m(20, "related-twice", _two_related, S + "hdr-related-document-count"),
    _m(20, "related-no-parent-id", lambda c: (_insert_header(c, _related(c, with_id=False)), True)[1],
       S + "hdr-related-parent"),
    _m(21, "bio-title-variant", lambda c: _settext(c, "h:title", "Compte-rendu d'examens biologiques"),
       B + "bio-title", only=BIO),
    _m(21, "bio-display-typographic", lambda c: _set(c, "h:code", "displayName", "CR d’examens biologiques"),
       B + "bio-code", only=BIO),
    _m(21, "bio-no-xd-lab", lambda c: _remove(c, "h:templateId[@root='1.3.6.1.4.1.19376.1.3.3']"),
       B + "bio-template-xd-lab", only=BIO),
    _m(21, "bio-no-pdf-copy", lambda c: _remove(
        c, "h:component/h:structuredBody/h:component[h:section/h:templateId/@root='1.2.250.1.213.1.1.2.243']"),
       B + "bio-pdf-copy", only=BIO),
    _m(21, "bio-forbidden-section", _add_forbidden_section, B + "bio-sections-allowed", only=BIO),
    _m(24, "pdf-copy-title", lambda c: _settext(
        c, "//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.243']/h:title", "Copie PDF"),
       "SCH/pdf-copy/pdf-section-title", only=BIO),
    _m(24, "pdf-copy-code", lambda c: _set(
        c, "//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.243']/h:code", "code", "11502-2"),
       "SCH/pdf-copy/pdf-section-code", only=BIO),
    _m(24, "pdf-copy-no-entry-template", lambda c: _remove(
        c, "//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.243']/h:entry/h:organizer/h:templateId"),
       "SCH/pdf-copy/pdf-section-entry", only=BIO),
)


def _settext(cda: etree._Element, path: str, text: str) -> bool:
    el = _one(cda, path)
    if el is None:
        return False
    el.text = text
    return True


@dataclass(frozen=True)
class Mutant:
    base: str
    mutator: Mutator
    data: bytes

    @property
    def name(self) -> str:
        return f"{self.base}:{self.mutator.defect}:{self.mutator.name}"


def base_samples() -> list[Path]:
    return [SAMPLES / f"{b}.xml" for b in BASES if (SAMPLES / f"{b}.xml").is_file()]


def mutants() -> Iterator[Mutant]:
    """One mutant per (base sample, applicable defect)."""
    for path in base_samples():
        base = path.stem
        data = path.read_bytes()
        for mut in MUTATORS:
            if mut.only and base not in mut.only:
                continue
            tree = etree.fromstring(data, etree.XMLParser(remove_blank_text=False)).getroottree()
            cda = tree.getroot() if tree.getroot().tag == _q("ClinicalDocument") else \
                next(tree.getroot().iter(_q("ClinicalDocument")))
            if not mut.apply(cda):
                continue
            yield Mutant(base, mut, etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))


def _parse(data: bytes, name: str) -> tuple[ParsedDocument, Detection]:
    doc, _ = parse_document(data, name)
    assert doc is not None, name
    return doc, detect(extract_facts(doc))


# --------------------------------------------------------------------------- default mode


@pytest.fixture(scope="module")
def runner():  # type: ignore[no-untyped-def]
    """Default mode without XSD (the packs, INS and the other Python checks)."""
    from cdacheck.pipeline import Runner

    return Runner(Settings(env="test", skip_xsd=True))


def _errors(runner, data: bytes, name: str) -> set[str]:  # type: ignore[no-untyped-def]
    report, _facts, _doc = runner.check_document(data, name)
    return {f.rule_id for f in report.findings if f.severity.at_least(Severity.ERROR)}


ALL_MUTANTS = list(mutants())


def test_enough_mutants() -> None:
    if not base_samples():
        pytest.skip("samples/documents absent: run scripts/make_samples.py")
    assert len(ALL_MUTANTS) >= 200, len(ALL_MUTANTS)


def test_default_mode_names_every_defect(runner) -> None:  # type: ignore[no-untyped-def]
    """Each mutant gets an error of ours naming the injected defect, absent from its base."""
    if not ALL_MUTANTS:
        pytest.skip("samples/documents absent: run scripts/make_samples.py")
    baseline = {p.stem: _errors(runner, p.read_bytes(), p.name) for p in base_samples()}
    missed = []
    per_defect: Counter[int] = Counter()
    for m in ALL_MUTANTS:
        new = _errors(runner, m.data, m.name) - baseline[m.base]
        if new & m.mutator.expect:
            per_defect[m.mutator.defect] += 1
        else:
            missed.append(f"{m.name}: expected one of {sorted(m.mutator.expect)}, got {sorted(new)}")
    print(f"\n[packs] default mode names the defect in {len(ALL_MUTANTS) - len(missed)}"
          f"/{len(ALL_MUTANTS)} mutants; by §E defect: {dict(sorted(per_defect.items()))}")
    assert not missed, "\n".join(missed)


# --------------------------------------------------------------------------- kit mode


@pytest.fixture(scope="module")
def kit_engine(kit_dir: Path):  # type: ignore[no-untyped-def]
    from cdacheck.engines.schematron import KitEngine

    return KitEngine(Settings(env="test", kit=kit_dir))


def _kit_errors(engine, data: bytes, name: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Kit failed asserts counted as the kit counts them (role not warning/info)."""
    doc, det = _parse(data, name)
    facts = extract_facts(doc)
    out = set()
    for h in engine.run(doc, facts, det):
        if _kit_is_error(h):
            out.add(f"{h.rule_id}@{h.provenance.get('location', '')}")
    return out


def _kit_is_error(h: Hit) -> bool:
    if not h.rule_id.startswith("SCH/"):
        return h.rule_id in ("INT101", "INT103")
    return (h.role or "").strip().lower() not in ("warning", "warn", "info", "information",
                                                   "informational", "avertissement")


def _sample_size() -> int | None:
    raw = os.environ.get("CDACHECK_AGREEMENT_SAMPLE")
    return int(raw) if raw else None


@pytest.mark.kit
@pytest.mark.slow
def test_mutant_verdicts_agree_with_kit(runner, kit_engine) -> None:  # type: ignore[no-untyped-def]
    """Default and kit mode reach the same verdict on every mutant (defects of §E)."""
    if not ALL_MUTANTS:
        pytest.skip("samples/documents absent: run scripts/make_samples.py")
    chosen = ALL_MUTANTS
    size = _sample_size()
    if size:  # CDACHECK_AGREEMENT_SAMPLE=n: every n-th mutant, for a quicker run
        chosen = ALL_MUTANTS[::max(1, len(ALL_MUTANTS) // size)]
    ours_base = {p.stem: _errors(runner, p.read_bytes(), p.name) for p in base_samples()}
    kit_base = {p.stem: _kit_errors(kit_engine, p.read_bytes(), p.name) for p in base_samples()}
    agree = 0
    intended: list[str] = []
    disagree: list[str] = []
    for m in chosen:
        ours = bool(_errors(runner, m.data, m.name) - ours_base[m.base])
        kit = bool(_kit_errors(kit_engine, m.data, m.name) - kit_base[m.base])
        if ours == kit:
            agree += 1
        elif m.mutator.defect in INTENDED_DIVERGENCE:
            intended.append(f"{m.name}: cdacheck {ours}, kit {kit}")
        else:
            disagree.append(f"{m.name}: cdacheck {'erreur' if ours else 'valide'}, "
                            f"kit {'erreur' if kit else 'valide'}")
    print(f"\n[packs] verdict agreement with kit mode: {agree}/{len(chosen)} mutants agree; "
          f"{len(intended)} intended divergences (typeId: error in cdacheck, warning in the kit); "
          f"{len(disagree)} disagreements")
    for line in intended + disagree:
        print("   ", line)
    assert not disagree, "\n".join(disagree)


FIVE_TYPES = ("LDL-SES", "PRESCRIPTION", "CRO", "CR-BIO", "CR-IMG")


@pytest.mark.kit
def test_kit_examples_of_the_five_types(kit_dir: Path, oracle_dir: Path) -> None:
    """On the kit's examples of the five DS types, our packs err exactly where the kit errs."""
    import json

    from cdacheck.engines.packs import PacksEngine

    verdicts = {Path(e["file"]).name: e for e in
                json.loads((oracle_dir / "official-verdicts.json").read_text(encoding="utf-8"))["examples"]}
    engine = PacksEngine(Settings(env="test"))
    checked = 0
    types: set[str] = set()
    mismatches = []
    for path in sorted((kit_dir / "ExemplesCDA").glob("*.xml")):
        doc, det = _parse(path.read_bytes(), path.name)
        if det.doc_type not in FIVE_TYPES:
            continue
        checked += 1
        types.add(det.doc_type)
        facts = extract_facts(doc)
        ours = sorted(h.rule_id for h in engine.run(doc, facts, det)
                      if (h.role or "error") in ("error", "fatal") or h.rule_id.startswith("INT"))
        kit_errors = verdicts[path.name]["n_errors"]
        if bool(ours) != bool(kit_errors):
            mismatches.append(f"{path.name}: ours {ours}, kit {kit_errors} error(s)")
    print(f"\n[packs] kit examples of the five DS types: {checked - len(mismatches)}/{checked} agree")
    # The kit has no CRO example (cisis-facts §D.3); the four other types must be there.
    assert {"LDL-SES", "PRESCRIPTION", "CR-BIO", "CR-IMG"} <= types, types
    assert not mismatches, "\n".join(mismatches)
