#!/usr/bin/env python3
"""Generate the compact value-set files our rule packs read (schematrons/valuesets/*.xml).

Reads the official kit's value sets (IHE SVS files in ``jeuxDeValeurs/``, plus the one HL7
vocabulary the header uses that the kit only ships as an ART-DECOR ``voc-*.xml`` file) from
the folder given by ``--kit`` or the environment variable ``CDACHECK_KIT`` (default
``<project>/../shared/cisis-kit``) and writes one small file per value set in our own format::

    <valueset id="J07" oid="1.2.250.1.213.1.1.5.471" name="JDV_J07_XdsTypeCode_CISIS"
              revision="2024-09-27T12:00:00+01:00" source="jeuxDeValeurs/JDV_J07_..."
              kit="7cd489b3...">
      <c code="11490-0" system="2.16.840.1.113883.6.1" display="..."/>
    </valueset>

plus ``index.json`` (id -> oid, name, revision, source, count) that the packs engine reports.
Run it again when the kit is updated: ``python scripts/gen_valuesets.py [--kit PATH]``.
``--check`` compares the files on disk with what would be generated (exit 1 on drift).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "schematrons" / "valuesets"
SVS = "urn:ihe:iti:svs:2008"

# id used in the packs -> file in the kit. Which sets, and why, is in cisis-facts.md §A.
SVS_SETS: dict[str, str] = {
    "J01": "jeuxDeValeurs/JDV_J01_XdsAuthorSpecialty_CISIS.xml",      # author / PS code
    "J02": "jeuxDeValeurs/JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml",  # facility code
    "J04": "jeuxDeValeurs/JDV_J04_XdsPracticeSettingCode_CISIS.xml",  # standardIndustryClassCode
    "J07": "jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml",             # ClinicalDocument/code
    "J11": "jeuxDeValeurs/JDV_J11_RelationPatient_CISIS.xml",         # informant relatedEntity
    "J47": "jeuxDeValeurs/JDV_J47_FunctionCode_CISIS.xml",            # author/functionCode
    "J140": "jeuxDeValeurs/JDV_J140_EncounterParticipationType_CISIS.xml",
    "J142": "jeuxDeValeurs/JDV_J142_TypeRencontre_CISIS.xml",         # encounter code
    "J143": "jeuxDeValeurs/JDV_J143_AdministrativeGender_CISIS.xml",  # patient gender
    "J144": "jeuxDeValeurs/JDV_J144_ParticipationType_CISIS.xml",     # participant/@typeCode
    "J245": "jeuxDeValeurs/JDV_J245_Civilite_CISIS.xml",              # name/prefix
    "J246": "jeuxDeValeurs/JDV_J246_Titre_CISIS.xml",                 # name/suffix
    "OBSINTERP": "jeuxDeValeurs/JDV_HL7_ObservationInterpretation_CISIS.xml",  # CR-BIO results
    "MODENTREE": "jeuxDeValeurs/JDV_ModaliteEntree_CISIS.xml",       # LDL-SES entry mode (ORG-070)
    "GROSSESSE": "jeuxDeValeurs/JDV_StatutGrossesse_CISIS.xml",      # CR-IMG pregnancy status
    "SVITAUX": "jeuxDeValeurs/JDV_SignesVitaux_CISIS.xml",           # vital sign observation code
    # entry value sets of valuesets-body.sch (IMG-CR-IMG 2024.01 and ModelesDeContenusCDA)
    "CONTREIND": "jeuxDeValeurs/JDV_Contre_indications_CISIS.xml",
    "OBJREF": "jeuxDeValeurs/JDV_ImagerieObjectifsReference_CISIS.xml",
    "LATIMG": "jeuxDeValeurs/JDV_LateraliteTechniqueImagerie_CISIS.xml",
    "LOCANAT": "jeuxDeValeurs/JDV_LocalisationAnatomique_CISIS.xml",
    "QTEXPO": "jeuxDeValeurs/JDV_QuantiteExpositionRayonnements_CISIS.xml",
    "MODACQ": "jeuxDeValeurs/JDV_ModaliteAcquisition_CISIS.xml",
    "ALLERGYCLIN": "jeuxDeValeurs/JDV_HL7_allergyintolerance_clinical_CISIS.xml",
    "CONDCLIN": "jeuxDeValeurs/JDV_HL7_ConditionClinical_CISIS.xml",
    "HEALTHST": "jeuxDeValeurs/JDV_HealthStatusCodes_CISIS.xml",
    "TYPEEI": "jeuxDeValeurs/JDV_TypeEvenementIndesirablePrevisible_CISIS.xml",
    "PROBLEM": "jeuxDeValeurs/JDV_ProblemCodes_CISIS.xml",
    "IMMROUTE": "jeuxDeValeurs/JDV_ImmunizationRouteCodes_CISIS.xml",
    "SOCIAL": "jeuxDeValeurs/JDV_SocialHistoryCodes_CISIS.xml",
    "DIRANT": "jeuxDeValeurs/JDV_TypeDirectiveAnticipee_CISIS.xml",
    "PERSREL": "jeuxDeValeurs/JDV_HL7_PersonalRelationshipRoleType_CISIS.xml",
    "ORIGEI": "jeuxDeValeurs/JDV_OrigineEffetIndesirable_CISIS.xml",
    "IMPUT": "jeuxDeValeurs/JDV_Imputabilite_CISIS.xml",
    "GRAVITE": "jeuxDeValeurs/JDV_Gravite_CISIS.xml",
    "EVOL": "jeuxDeValeurs/JDV_Evolution_CISIS.xml",
    "IMMCODE": "jeuxDeValeurs/JDV_HL7_ActSubstanceAdministrationImmunizationCode_CISIS.xml",
    "IMMABSENT": "jeuxDeValeurs/JDV_AbsentOrUnknownImmunization_CISIS.xml",
}
# HL7 v3 Confidentiality (2.16.840.1.113883.1.11.10228): not a JDV, only an ART-DECOR voc file.
VOC_SETS: dict[str, str] = {
    "CONF": "schematrons/profils/structurationMinimale/include/"
            "voc-2.16.840.1.113883.1.11.10228-DYNAMIC.xml",
}


# UCUM units the kit's terminologie.sch accepts (its own list, rows of <code>), for PQ values.
UCUM_SETS: dict[str, str] = {
    "UCUM": "schematrons/profils/terminologies/terminologie/2.16.840.1.113883.6.8.xml",
}


# Terminologies whose codes the kit's terminologie.sch looks up (is-code-exist): one SKOS/RDF
# file per code system OID in its folder; we keep only the notations, one compact file each.
TERM_DIR = "schematrons/profils/terminologies/terminologie/"
TERM_SETS: dict[str, str] = {
    "T-EDQM": TERM_DIR + "0.4.0.127.0.16.1.1.2.1.rdf",          # EDQM standard terms
    "T-ADICAP": TERM_DIR + "1.2.250.1.213.2.11.rdf",
    "T-CCAM": TERM_DIR + "1.2.250.1.213.2.5.rdf",               # also 1.2.250.1.215.300.1 (same file)
    "T-MEDICABASE": TERM_DIR + "1.2.250.1.213.2.59.rdf",
    "T-CLADIMED": TERM_DIR + "1.2.250.1.213.2.65.rdf",
    "T-EMDN": TERM_DIR + "1.2.250.1.213.2.68.rdf",
    "T-CIM10": TERM_DIR + "2.16.840.1.113883.6.3.rdf",
    "T-CIM11": TERM_DIR + "2.16.840.1.113883.6.347.rdf",
    "T-ATC": TERM_DIR + "2.16.840.1.113883.6.73.rdf",
}


def kit_dir(arg: str | None) -> Path:
    raw = arg or os.environ.get("CDACHECK_KIT")
    return Path(raw) if raw else ROOT.parent / "shared" / "cisis-kit"


def kit_revision(kit: Path) -> str:
    """The kit commit recorded in its SOURCE.md (or 'unknown')."""
    src = kit / "SOURCE.md"
    if src.is_file():
        m = re.search(r"commit\s+([0-9a-f]{7,40})", src.read_text(encoding="utf-8"))
        if m:
            return m.group(1)
    return "unknown"


def read_svs(path: Path) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """(metadata, [(code, codeSystem, displayName)]) of an IHE SVS value-set file."""
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    vs = root.find(f"{{{SVS}}}ValueSet")
    if vs is None:
        raise ValueError(f"{path}: no svs:ValueSet")
    meta = {
        "oid": vs.get("id", ""),
        "name": (vs.get("displayName") or path.stem).removesuffix(".tabs"),
        "revision": vs.get("revisionDate") or vs.get("dateMaj") or "",
    }
    concepts = [(c.get("code", ""), c.get("codeSystem", ""), c.get("displayName", ""))
                for c in vs.iter(f"{{{SVS}}}Concept")]
    return meta, concepts


def read_voc(path: Path) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """(metadata, concepts) of an ART-DECOR ``voc-*.xml`` value-set file."""
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    vs = root.find("valueSet")
    if vs is None:
        raise ValueError(f"{path}: no valueSet")
    meta = {"oid": vs.get("id", ""), "name": vs.get("displayName") or vs.get("name", ""),
            "revision": vs.get("effectiveDate", "")}
    concepts = [(c.get("code", ""), c.get("codeSystem", ""), c.get("displayName", ""))
                for c in vs.iter("concept")]
    return meta, concepts


def read_ucum(path: Path) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """(metadata, concepts) of the kit's UCUM list (``root/row/code``, ``name``)."""
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    meta = {"oid": "2.16.840.1.113883.6.8", "name": "UCUM (liste du kit, terminologie.sch)",
            "revision": ""}
    concepts = [(row.findtext("code") or "", "2.16.840.1.113883.6.8", row.findtext("name") or "")
                for row in root.iter("row") if row.findtext("code")]
    return meta, concepts


def read_rdf(path: Path) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """(metadata, concepts) of one of the kit's terminology files (``skos:notation`` texts)."""
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True,
                                                  huge_tree=True)).getroot()
    oid = path.name.removesuffix(".rdf")
    meta = {"oid": oid, "name": f"terminologie {oid} (terminologie.sch)", "revision": ""}
    notations = root.iter("{http://www.w3.org/2004/02/skos/core#}notation")
    return meta, [("".join(n.itertext()), oid, "") for n in notations]


def render_terms(vs_id: str, meta: dict[str, str], source: str, kit_rev: str,
                 concepts: list[tuple[str, str, str]]) -> str:
    """Compact file of a terminology: the codes only (the system is the file's)."""
    codes = sorted({c for c, _, _ in concepts})
    head = (f"<terminology id={quoteattr(vs_id)} oid={quoteattr(meta['oid'])} "
            f"source={quoteattr(source)} kit={quoteattr(kit_rev)} count=\"{len(codes)}\">")
    body = [f"<c code={quoteattr(c)}/>" for c in codes]
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>',
                      "<!-- Generated by scripts/gen_valuesets.py from the ANS kit; do not edit. -->",
                      head, *body, "</terminology>"]) + "\n"


def render(vs_id: str, meta: dict[str, str], source: str, kit_rev: str,
           concepts: list[tuple[str, str, str]]) -> str:
    """Our compact XML for one value set (deterministic: sorted by code, then system)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             "<!-- Generated by scripts/gen_valuesets.py from the ANS kit; do not edit. -->",
             f"<valueset id={quoteattr(vs_id)} oid={quoteattr(meta['oid'])} "
             f"name={quoteattr(meta['name'])} revision={quoteattr(meta['revision'])} "
             f"source={quoteattr(source)} kit={quoteattr(kit_rev)} count=\"{len(concepts)}\">"]
    for code, system, display in sorted(set(concepts)):
        lines.append(f"  <c code={quoteattr(code)} system={quoteattr(system)} "
                     f"display={quoteattr(display)}/>")
    lines.append("</valueset>")
    return "\n".join(lines) + "\n"


def generate(kit: Path) -> dict[str, str]:
    """Every output file name -> its text."""
    rev = kit_revision(kit)
    out: dict[str, str] = {}
    index: dict[str, dict[str, object]] = {}
    jobs = [(k, v, read_svs) for k, v in SVS_SETS.items()] + \
           [(k, v, read_voc) for k, v in VOC_SETS.items()] + \
           [(k, v, read_ucum) for k, v in UCUM_SETS.items()] + \
           [(k, v, read_rdf) for k, v in TERM_SETS.items()]
    for vs_id, rel, reader in jobs:
        meta, concepts = reader(kit / rel)
        if not concepts:
            raise ValueError(f"{rel}: empty value set")
        writer = render_terms if reader is read_rdf else render
        out[f"{vs_id}.xml"] = writer(vs_id, meta, rel, rev, concepts)
        index[vs_id] = {**meta, "source": rel, "count": len(set(concepts))}
    out["index.json"] = json.dumps({"kit": rev, "valuesets": index}, indent=1,
                                   ensure_ascii=False, sort_keys=True) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", help="kit folder (default: $CDACHECK_KIT or ../shared/cisis-kit)")
    ap.add_argument("--out", default=str(OUT), help="output folder")
    ap.add_argument("--check", action="store_true", help="exit 1 if the files on disk differ")
    args = ap.parse_args(argv)
    kit = kit_dir(args.kit)
    if not (kit / "jeuxDeValeurs").is_dir():
        print(f"kit not found at {kit} (set CDACHECK_KIT or --kit)", file=sys.stderr)
        return 2
    files = generate(kit)
    out = Path(args.out)
    if args.check:
        drift = [n for n, t in files.items()
                 if not (out / n).is_file() or (out / n).read_text(encoding="utf-8") != t]
        for name in drift:
            print(f"out of date: {out / name}", file=sys.stderr)
        return 1 if drift else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
