"""A corpus for ``cdacheck stats``: variants of our samples with chosen setIds, versions,
stays, establishments and days, a stays file and a FINESS map (test identities only).

The expected rates are computed by hand in tests/test_stats.py from the table below.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "documents"
V3 = "{urn:hl7-org:v3}"
FINESS_A, FINESS_B, FINESS_C = "750999997", "130000011", "690000019"
LEGAL_B = "130000003"  # FINESS juridique of B and C in the map
_DAY = re.compile(r"^(\d{8})")


@dataclass(frozen=True)
class Variant:
    name: str
    base: str  # sample file stem
    set_id: str
    version: int
    stay: str
    finess: str
    day: str  # ISO day of the document
    location_finess: str | None = None  # encounter location FINESS (read first)
    replaces: str | None = None  # name of the variant it replaces (RPLC)


def _oid(name: str) -> str:
    return "2.25." + str(int.from_bytes(name.encode()[:15].ljust(15, b"\0"), "big"))


def variant_xml(v: Variant) -> bytes:
    tree = etree.parse(str(SAMPLES / f"{v.base}.xml"))
    cda = tree.getroot()
    cda.find(f"{V3}id").set("root", _oid("doc-" + v.name))
    cda.find(f"{V3}setId").set("root", _oid("set-" + v.set_id))
    cda.find(f"{V3}versionNumber").set("value", str(v.version))
    enc = cda.find(f"{V3}componentOf/{V3}encompassingEncounter")
    enc.find(f"{V3}id").set("extension", f"SEJ-{v.stay}")
    old = dt.datetime.strptime(cda.find(f"{V3}effectiveTime").get("value")[:8], "%Y%m%d").date()
    delta = dt.date.fromisoformat(v.day) - old
    for el in cda.iter():
        value = el.get("value")
        if (el.tag != f"{V3}birthTime" and value and _DAY.match(value)
                and el.tag in (f"{V3}effectiveTime", f"{V3}time", f"{V3}low", f"{V3}high")):
            day = dt.datetime.strptime(value[:8], "%Y%m%d").date() + delta
            el.set("value", day.strftime("%Y%m%d") + value[8:])
    for el in cda.iter(f"{V3}id"):
        if el.get("root") == "1.2.250.1.71.4.2.2":
            el.set("extension", "1" + v.finess)
    if v.location_finess:
        facility = enc.find(f"{V3}location/{V3}healthCareFacility")
        org = etree.SubElement(facility, f"{V3}serviceProviderOrganization")
        etree.SubElement(org, f"{V3}id", root="1.2.250.1.71.4.2.2",
                         extension="1" + v.location_finess)
    if v.replaces:
        related = etree.Element(f"{V3}relatedDocument", typeCode="RPLC")
        parent = etree.SubElement(related, f"{V3}parentDocument")
        etree.SubElement(parent, f"{V3}id", root=_oid("doc-" + v.replaces))
        cda.find(f"{V3}componentOf").addprevious(related)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


# name, base, setId, version, stay, FINESS, day, [location FINESS], [replaces]
VARIANTS = [
    # DS 1.1: S1's letter v1 lacks the INS, v2 is good -> S1 qualifies (v2 counts)
    Variant("L1v1", "ins-absent", "L1", 1, "S1", FINESS_A, "2024-03-15"),
    Variant("L1v2", "ldl-ses-n1", "L1", 2, "S1", FINESS_A, "2024-03-15"),
    # S2's letter v1 is good, v2 lacks the INS -> S2 does not qualify
    Variant("L2v1", "ldl-ses-n1", "L2", 1, "S2", FINESS_A, "2024-03-20"),
    Variant("L2v2", "ins-absent", "L2", 2, "S2", FINESS_A, "2024-03-20"),
    Variant("L3", "ldl-ses-n1", "L3", 1, "S3", FINESS_A, "2024-04-05"),
    Variant("L3b", "ldl-ses-n1", "L3b", 1, "S3", FINESS_A, "2024-04-05", replaces="L3"),
    Variant("L4", "ldl-ses-n1", "L4", 1, "S4", FINESS_B, "2024-03-18"),
    Variant("L7", "ldl-ses-n1", "L7", 1, "S7", FINESS_A, "2024-03-28"),
    # DS 1.2: S1 qualifies, S2's prescription is outside the stay ("de sortie" not provable)
    Variant("P1", "ordonnance-n1", "P1", 1, "S1", FINESS_A, "2024-03-15"),
    Variant("P2", "ordonnance-n1-hors-sejour", "P2", 1, "S2", FINESS_A, "2024-03-20"),
    # DS 1.3: operative reports on S1 (surgical) and S2 (not surgical in the stays file)
    Variant("C1", "cro-n1", "C1", 1, "S1", FINESS_A, "2024-03-14"),
    Variant("C2", "cro-n1", "C2", 1, "S2", FINESS_A, "2024-03-19"),
    # DS 2.1: two N3 reports and one N1 in A (March), one N3 in B (April)
    Variant("B1", "cr-bio-n3", "B1", 1, "S1", FINESS_A, "2024-03-12"),
    Variant("B2", "cr-bio-n3", "B2", 1, "S2", FINESS_A, "2024-03-19"),
    Variant("B3", "cr-bio-n1", "B3", 1, "S2", FINESS_A, "2024-03-19"),
    Variant("B4", "cr-bio-n3", "B4", 1, "S5", FINESS_B, "2024-04-09"),
    # DS 3.1: I1b replaces I1 under a new setId (counted once); I3's encounter location is C
    Variant("I1", "cr-img-n1", "I1", 1, "S1", FINESS_A, "2024-03-13"),
    Variant("I1b", "cr-img-n1", "I1b", 1, "S1", FINESS_A, "2024-03-13", replaces="I1"),
    Variant("I3", "cr-img-n1", "I3", 1, "S5", FINESS_B, "2024-04-08", location_finess=FINESS_C),
]
# In an archive the DMP rejects (its document hash is wrong): an imaging report of A, April
REJECTED = Variant("I9", "cr-img-n1", "I9", 1, "S3", FINESS_A, "2024-04-04")

STAYS_CSV = f"""stay_id,finess,discharge_date,surgical,comment
SEJ-S1,{FINESS_A},2024-03-15,1,x
SEJ-S2,{FINESS_A},2024-03-20,0,
SEJ-S3,{FINESS_A},2024-04-05,1,
SEJ-S4,{FINESS_B},2024-03-18,0,
SEJ-S5,{FINESS_B},2024-04-10,0,
SEJ-S6,{FINESS_A},2024-04-25,0,
SEJ-S7,{FINESS_A},2024-03-28,0,
"""
FINESS_MAP_CSV = f"finess_geo,finess_juridique\n{FINESS_B},{LEGAL_B}\n{FINESS_C},{LEGAL_B}\n"


def rejected_archive(folder: Path) -> Path:
    """An XDM archive of REJECTED whose document no longer matches its declared hash."""
    from cdacheck.xdm import build

    doc = folder / "I9.xml"
    doc.write_bytes(variant_xml(REJECTED))
    result = build([doc], None, env="test", submission_time="20240404120000")
    doc.unlink()
    assert result.data is not None, result.refusals
    src = zipfile.ZipFile(io.BytesIO(result.data))
    out = folder / "rejete.zip"
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.upper().endswith(".XML") and b"ClinicalDocument" in data[:400]:
                data = data.replace(b"<title>", b"<title>modifi\xc3\xa9 ", 1)
            dst.writestr(info, data)
    return out


def write_corpus(folder: Path) -> dict[str, Path]:
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for v in VARIANTS:
        (docs / f"{v.name}.xml").write_bytes(variant_xml(v))
    rejected_archive(docs)
    stays = folder / "stays.csv"
    stays.write_text(STAYS_CSV, encoding="utf-8")
    fmap = folder / "finess-map.csv"
    fmap.write_text(FINESS_MAP_CSV, encoding="utf-8")
    return {"docs": docs, "stays": stays, "map": fmap}
