"""One-defect variants for the HL7 datatype rules (DTY), built at test time.

Each variant takes a base document (a kit example of a Ségur type, read from the kit, or one
of our samples), changes one header value and says which DTY rules cdacheck must raise
(empty: none). ``tests/data/datatypes_official.json`` holds what the official pipeline said on
the same variants (``scripts/`` are not needed: ``python tests/datatype_variants.py OUTDIR``
writes them for a run of ``official.py``). Kit files are never copied into the project.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}

# Profiles every Ségur example declares; our samples get them (and their volet) added.
_PROFILES = ("profils/IHE.sch", "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
             "profils/CI-SIS_ModelesDeContenusCDA.sch", "profils/CI-SIS_Modeles_ANS.sch",
             "profils/terminologies/schematron/terminologie.sch")
_SAMPLE_VOLETS = {"cr-bio-n3": "CI-SIS_BIO-CR-BIO_2024.01.sch"}

BASES = {
    "L": "kit:LDL-SES_2022.01",
    "P": "kit:eP-MED-DM_2024.01_PosoStruct",
    "B": "kit:BIO-CR-BIO_2024.01_TSH_1",
    "I": "kit:IMG_CR_IMG_2024.01",
    "I1": "kit:IMG_CR_IMG_2024.01_CDA-R2-Niveau-1",
    "sC": "sample:cro-n1",
    "sB": "sample:cr-bio-n3",
    "sL": "sample:ldl-ses-n1",
    "sP": "sample:ordonnance-n1",
}

Edit = Callable[[etree._Element], None]


@dataclass(frozen=True)
class Variant:
    vid: str
    base: str
    xpath: str          # the element changed (first match), from the document root
    edit: Edit
    expect: tuple[str, ...]  # DTY rule ids cdacheck raises ((): none)


def set_(attr: str, value: str) -> Edit:
    def fn(el: etree._Element) -> None:
        el.set(attr, value)
    return fn


def del_(*attrs: str) -> Edit:
    def fn(el: etree._Element) -> None:
        for a in attrs:
            el.attrib.pop(a, None)
    return fn


def text(value: str) -> Edit:
    def fn(el: etree._Element) -> None:
        for child in list(el):
            el.remove(child)
        el.text = value
    return fn


def children_gone(el: etree._Element) -> None:
    for child in list(el):
        el.remove(child)
    el.text = None


def both(*edits: Edit) -> Edit:
    def fn(el: etree._Element) -> None:
        for e in edits:
            e(el)
    return fn


def add_center(el: etree._Element) -> None:
    etree.SubElement(el, f"{{{HL7}}}center").set("value", "20191101")


def pinf_low(el: etree._Element) -> None:
    low = el.find("h:low", NS)
    assert low is not None
    low.attrib.pop("value")
    low.set("nullFlavor", "PINF")


def duplicate(el: etree._Element) -> None:
    el.addnext(copy.deepcopy(el))


def add_child(tag: str, **attrs: str) -> Edit:
    def fn(el: etree._Element) -> None:
        child = etree.SubElement(el, f"{{{HL7}}}{tag}")
        for k, v in attrs.items():
            child.set(k, v)
    return fn


def first_child(tag: str, edit: Edit) -> Edit:
    def fn(el: etree._Element) -> None:
        child = el.find(f"h:{tag}", NS)
        assert child is not None
        edit(child)
    return fn


def width_instead_of_high(unit: str) -> Edit:
    def fn(el: etree._Element) -> None:
        high = el.find("h:high", NS)
        assert high is not None
        el.remove(high)
        etree.SubElement(el, f"{{{HL7}}}width", value="2", unit=unit)
    return fn


def bounds(low: str, high: str) -> Edit:
    def fn(el: etree._Element) -> None:
        lo, hi = el.find("h:low", NS), el.find("h:high", NS)
        assert lo is not None and hi is not None
        lo.set("value", low)
        hi.set("value", high)
    return fn


CD = "/h:ClinicalDocument"
ET = f"{CD}/h:effectiveTime"
BT = f"{CD}/h:recordTarget/h:patientRole/h:patient/h:birthTime"
AT = f"{CD}/h:author/h:time"
LAT = f"{CD}/h:legalAuthenticator/h:time"
EE = f"{CD}/h:componentOf/h:encompassingEncounter/h:effectiveTime"
SE = f"{CD}/h:documentationOf/h:serviceEvent"
PR = f"{CD}/h:recordTarget/h:patientRole"
ARAB = "٢٠١٩١٢٠٣"  # 20191203 in Arabic-Indic digits
DTY1, DTY2, DTY3, DTY4, DTY5 = "DTY001", "DTY002", "DTY003", "DTY004", "DTY005"
DTY6, DTY7, DTY9, DTY10, DTY11 = "DTY006", "DTY007", "DTY009", "DTY010", "DTY011"
DTY13, DTY14, DTY15, DTY16 = "DTY013", "DTY014", "DTY015", "DTY016"
DTY8, DTY17, DTY18 = "DTY008", "DTY017", "DTY018"

VARIANTS: tuple[Variant, ...] = (
    # TS: impossible dates and times, digit counts, offsets
    Variant("L-ts-feb30", "L", ET, set_("value", "20190230133000+0100"), (DTY1,)),
    Variant("L-ts-hour59", "L", ET, set_("value", "20191203593000+0100"), (DTY1,)),
    Variant("L-ts-min60", "L", ET, set_("value", "20191203136000+0100"), (DTY1,)),
    Variant("L-ts-sec60", "L", ET, set_("value", "20191203133060+0100"), (DTY1,)),
    Variant("L-ts-month13", "L", ET, set_("value", "20191303133000+0100"), (DTY1,)),
    Variant("L-ts-month00", "L", BT, set_("value", "19790028"), (DTY1,)),
    Variant("L-ts-digits7", "L", BT, set_("value", "1979032"), (DTY1,)),
    Variant("L-ts-digits9", "L", ET, set_("value", "201912031+0100"), (DTY1,)),
    Variant("L-ts-digits11", "L", ET, set_("value", "20191203133+0100"), (DTY1,)),
    Variant("L-ts-off2500", "L", ET, set_("value", "20191203133000+2500"), (DTY1,)),
    Variant("L-ts-off1401", "L", ET, set_("value", "20191203133000+1401"), (DTY1,)),
    Variant("L-ts-off1400", "L", ET, set_("value", "20191203133000+1400"), ()),
    Variant("L-ts-off-1400", "L", ET, set_("value", "20191203133000-1400"), ()),
    Variant("L-ts-offmin60", "L", ET, set_("value", "20191203133000+0160"), (DTY1,)),
    Variant("L-ts-off1digit", "L", AT, set_("value", "20191203133000+1"), ()),
    Variant("L-ts-off3digits", "L", AT, set_("value", "20191203133000+010"), ()),
    Variant("L-ts-hour24", "L", AT, set_("value", "20191203240000+0100"), ()),
    Variant("L-ts-hour24-min", "L", AT, set_("value", "20191203240100+0100"), (DTY1,)),
    Variant("L-ts-year0", "L", BT, set_("value", "00000328"), ()),
    Variant("L-ts-leap2000", "L", BT, set_("value", "20000229"), ()),
    Variant("L-ts-leap1900", "L", BT, set_("value", "19000229"), (DTY1,)),
    Variant("L-ts-leap2023", "L", BT, set_("value", "20230229"), (DTY1,)),
    Variant("L-ts-day31-april", "L", BT, set_("value", "19790431"), (DTY1,)),
    Variant("L-ts-year-only", "L", BT, set_("value", "1979"), ()),
    Variant("L-ts-year-month", "L", BT, set_("value", "197903"), ()),
    Variant("L-ts-two-digits", "L", BT, set_("value", "19"), (DTY16,)),
    Variant("L-ts-one-digit", "L", BT, set_("value", "1"), (DTY1, DTY16)),
    Variant("L-ts-fraction", "L", AT, set_("value", "20191203133000.125+0100"), ()),
    Variant("L-ts-fraction-5000", "L", AT, set_("value", "20191203133000." + "7" * 5000 + "+0100"), ()),
    Variant("L-ts-y9999-offset", "L", AT, set_("value", "99991231235959-1400"), ()),
    Variant("L-ts-y0001-offset", "L", AT, set_("value", "00010101000000+1400"), ()),
    Variant("L-ts-nonascii", "L", BT, set_("value", ARAB), ()),
    Variant("L-ts-null-and-value", "L", AT, set_("nullFlavor", "UNK"), (DTY2, DTY10)),
    Variant("L-ts-empty", "L", LAT, del_("value"), (DTY2,)),
    Variant("L-ts-author-day32", "L", AT, set_("value", "20191232133000+0100"), (DTY1,)),
    Variant("L-ts-legal-hour25", "L", LAT, set_("value", "20191203253000+0100"), (DTY1,)),
    # IVL_TS: bounds
    Variant("L-ivl-low-after-high", "L", EE, bounds("20191204111700+0100", "20191203133000+0100"), (DTY3,)),
    Variant("L-ivl-low-equals-high", "L", EE, bounds("20191203133000+0100", "20191203133000+0100"), (DTY4,)),
    Variant("L-ivl-same-instant", "L", EE, bounds("20191203123000+0000", "20191203133000+0100"), ()),
    Variant("L-ivl-after-by-offset", "L", EE, bounds("20191203133000-0100", "20191203133000+0100"), (DTY3,)),
    Variant("L-ivl-low-hour25", "L", EE + "/h:low", set_("value", "20191029251700+0100"), (DTY1,)),
    Variant("L-ivl-low-off1digit", "L", EE + "/h:low", set_("value", "20191029111700+1"), (DTY1,)),
    Variant("L-ivl-reduced", "L", EE, bounds("201910", "20191203"), ()),
    Variant("L-ivl-center", "L", EE, add_center, (DTY5,)),
    Variant("L-ivl-low-pinf", "L", EE, pinf_low, (DTY5,)),
    Variant("L-ivl-serviceevent-order", "L", SE + "/h:effectiveTime",
            bounds("20191204111700+0100", "20191203133000+0100"), ()),
    Variant("L-ivl-performer-high-bad", "L", SE + "/h:performer/h:time/h:high",
            set_("value", "20191029251700+0100"), (DTY1,)),
    # Coded values
    Variant("L-cd-confidentiality-nosys", "L", f"{CD}/h:confidentialityCode", del_("codeSystem"), (DTY6,)),
    Variant("L-cd-gender-nosys", "L", f"{PR}/h:patient/h:administrativeGenderCode", del_("codeSystem"), (DTY6,)),
    Variant("L-cd-serviceevent-nosys", "L", SE + "/h:code", del_("codeSystem"), (DTY6, DTY7)),
    Variant("L-cd-facility-nosys", "L", f"{CD}/h:componentOf/h:encompassingEncounter/h:location/"
            "h:healthCareFacility/h:code", del_("codeSystem"), (DTY6,)),
    Variant("L-cd-participant-function-nosys", "L", f"{CD}/h:participant/h:functionCode",
            del_("codeSystem"), (DTY6,)),
    Variant("L-cd-related-nosys", "L", f"{CD}/h:informant/h:relatedEntity/h:code", del_("codeSystem"), (DTY6,)),
    Variant("L-cd-display-without-code", "L", f"{CD}/h:confidentialityCode", del_("code"), (DTY7,)),
    Variant("L-cd-code-and-null", "L", f"{CD}/h:participant/h:functionCode", set_("nullFlavor", "UNK"),
            (DTY7, DTY10)),
    # Text, nullFlavor, identifiers, telecom, address, integer
    Variant("L-st-city-empty", "L", f"{PR}/h:addr/h:city", text(""), (DTY9,)),
    Variant("L-st-city-blank", "L", f"{PR}/h:addr/h:city", text("  \n "), (DTY9,)),
    Variant("L-any-addr-null-with-parts", "L", f"{PR}/h:addr", set_("nullFlavor", "UNK"), (DTY10,)),
    Variant("L-any-telecom-null-with-value", "L", f"{PR}/h:telecom", set_("nullFlavor", "UNK"), (DTY10, DTY17)),
    Variant("L-ii-ruid", "L", f"{CD}/h:setId", set_("root", "abc"), (DTY11,)),
    Variant("L-tel-spaces", "L", f"{PR}/h:telecom", set_("value", "tel:01 44 53 45 51"), (DTY14,)),
    Variant("L-tel-no-value", "L", f"{PR}/h:telecom", del_("value"), (DTY14,)),
    Variant("L-ad-empty", "L", f"{CD}/h:author/h:assignedAuthor/h:addr", children_gone, (DTY13,)),
    Variant("L-int-no-value", "L", f"{CD}/h:versionNumber", del_("value"), (DTY15,)),
    Variant("L-rim-telecom-null", "L", f"{PR}/h:telecom", both(del_("value", "use"), set_("nullFlavor", "UNK")),
            (DTY17,)),
    Variant("L-rim-addr-duplicate", "L", f"{PR}/h:addr", duplicate, (DTY18,)),
    Variant("L-rim-author-addr-duplicate", "L", f"{CD}/h:author/h:assignedAuthor/h:addr", duplicate, (DTY18,)),
    Variant("L-pn-ls", "L", f"{PR}/h:patient/h:name/h:family", set_("qualifier", "LS"), (DTY13,)),
    Variant("L-cd-translation-null", "L", SE + "/h:code", add_child("translation", nullFlavor="UNK"), (DTY7,)),
    Variant("L-cs-language-display", "L", f"{CD}/h:languageCode", set_("displayName", "français"), (DTY8,)),
    Variant("L-cs-realm-codesystem", "L", f"{CD}/h:realmCode", set_("codeSystem", "1.0.3166.1"), (DTY8,)),
    Variant("L-ed-original-empty", "L", f"{CD}/h:participant/h:functionCode", add_child("originalText"), (DTY9,)),
    Variant("L-ii-null-and-root", "L", f"{CD}/h:informationRecipient/h:intendedRecipient/h:id",
            set_("nullFlavor", "UNK"), (DTY10, DTY11)),
    Variant("L-ii-duplicate-template", "L", f"{CD}/h:templateId[last()]", duplicate, (DTY11,)),
    Variant("L-ivl-width-unit", "L", EE, width_instead_of_high("xyz"), (DTY5,)),
    Variant("L-ivl-width-ok", "L", EE, width_instead_of_high("d"), ()),
    Variant("L-ivl-value-and-bounds", "L", EE, set_("value", "20191029"), (DTY5,)),
    Variant("L-ivxb-inclusive-null", "L", EE, first_child("low", both(del_("value"), set_("nullFlavor", "UNK"),
                                                                      set_("inclusive", "false"))), (DTY5, DTY10)),
    Variant("L-ivl-empty", "L", EE, children_gone, (DTY2,)),
    # The body is outside the official datatype contexts
    Variant("L-body-time-feb30", "L", "(//h:entry//h:effectiveTime[@value])[1]", set_("value", "20190230"), ()),
    # Other Ségur types
    Variant("P-ts-feb30", "P", ET, set_("value", "20230230101010+0100"), (DTY1,)),
    Variant("P-ts-author-hour59", "P", AT, set_("value", "20230101590000+0100"), (DTY1,)),
    Variant("P-cd-confidentiality-nosys", "P", f"{CD}/h:confidentialityCode", del_("codeSystem"), (DTY6,)),
    Variant("B-ts-feb30", "B", ET, set_("value", "20230230101010+0100"), (DTY1,)),
    Variant("B-ts-birth-month13", "B", BT, set_("value", "19801301"), (DTY1,)),
    Variant("B-cd-gender-nosys", "B", f"{PR}/h:patient/h:administrativeGenderCode", del_("codeSystem"), (DTY6,)),
    Variant("I-ts-feb30", "I", ET, set_("value", "20230230101010+0100"), (DTY1,)),
    Variant("I-ts-offset", "I", ET, set_("value", "20230101101010+1500"), (DTY1,)),
    Variant("I1-ts-feb30", "I1", ET, set_("value", "20230230101010+0100"), (DTY1,)),
    Variant("I1-cd-confidentiality-nosys", "I1", f"{CD}/h:confidentialityCode", del_("codeSystem"), (DTY6,)),
    Variant("sC-ts-feb30", "sC", ET, set_("value", "20230230101010+0100"), (DTY1,)),
    Variant("sC-ts-author-min61", "sC", AT, set_("value", "20230101106100+0100"), (DTY1,)),
    Variant("sB-ts-feb30", "sB", ET, set_("value", "20230230101010+0100"), (DTY1,)),
    Variant("sL-ts-birth-day00", "sL", BT, set_("value", "19800100"), (DTY1,)),
    Variant("sP-cd-confidentiality-nosys", "sP", f"{CD}/h:confidentialityCode", del_("codeSystem"), (DTY6,)),
)


def kit_dir() -> Path:
    raw = os.environ.get("CDACHECK_KIT")
    return Path(raw) if raw else ROOT.parent / "shared" / "cisis-kit"


def base_bytes(key: str) -> bytes | None:
    """The base document's bytes (None when the kit is absent), with the profiles' PIs."""
    kind, name = BASES[key].split(":", 1)
    if kind == "kit":
        path = kit_dir() / "ExemplesCDA" / f"{name}.xml"
        return path.read_bytes() if path.is_file() else None
    data = (ROOT / "samples" / "documents" / f"{name}.xml").read_bytes()
    pis = [f'<?oxygen SCHSchema="../schematrons/{p}"?>' for p in _PROFILES]
    if name in _SAMPLE_VOLETS:
        pis.append(f'<?oxygen SCHSchema="../schematrons/{_SAMPLE_VOLETS[name]}"?>')
    head, sep, rest = data.partition(b"?>")
    return head + sep + ("\n" + "\n".join(pis)).encode() + rest


def build(variant: Variant) -> bytes | None:
    data = base_bytes(variant.base)
    if data is None:
        return None
    tree = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True)).getroottree()
    found = tree.xpath(variant.xpath, namespaces=NS)
    if not found:
        raise LookupError(f"{variant.vid}: {variant.xpath} not found in {BASES[variant.base]}")
    variant.edit(found[0])
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def write_all(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for key in BASES:
        data = base_bytes(key)
        if data is not None:
            (out / f"base-{key}.xml").write_bytes(data)
            n += 1
    for v in VARIANTS:
        data = build(v)
        if data is not None:
            (out / f"{v.vid}.xml").write_bytes(data)
            n += 1
    return n


if __name__ == "__main__":
    print(write_all(Path(sys.argv[1])), "documents written")
