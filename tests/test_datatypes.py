"""HL7 datatype rules (DTY): timestamps, intervals, codes, nullFlavor, identifiers, telecom.

The variants of ``tests/datatype_variants.py`` are built at test time (kit-based ones skip
without the kit); ``tests/data/datatypes_official.json`` holds the official pipeline's verdict
and failed asserts on the same variants (``official.py``, Saxon-HE 9.9, kit 7cd489b3), so
no Java is needed here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdacheck.checks.datatypes import parse_ts
from cdacheck.config import Settings
from cdacheck.pipeline import Runner

sys.path.insert(0, str(Path(__file__).parent))
from datatype_variants import BASES, VARIANTS, Variant, base_bytes, build, kit_dir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = json.loads((ROOT / "tests" / "data" / "datatypes_official.json").read_text("utf-8"))
KIT_PRESENT = (kit_dir() / "ExemplesCDA").is_dir()


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(Settings(env="test"))


def _findings(runner: Runner, data: bytes, name: str) -> list[tuple[str, str]]:
    report, _, _ = runner.check_document(data, name)
    return [(f.rule_id, f.severity.value) for f in report.findings]


def _official_dty(vid: str) -> bool:
    """True when the official pipeline failed a datatype assert on the variant (the DTr1 ones
    and the templates' "@value SHALL be of data type 'ts'")."""
    return any(a["text"].startswith("dtr1-") or "SHALL be of data type 'ts'" in a["text"]
               for a in OFFICIAL["documents"][vid]["failed"])


# --------------------------------------------------------------------------- parse_ts

@pytest.mark.parametrize("value", [
    "2023", "202303", "20230315", "2023031514", "202303151430", "20230315143000",
    "20230315143000+0100", "20230315143000-1400", "20230315143000+1400", "20240229",
    "20000229", "20230315143000.5+0100", "20230315240000+0100", "19", "2023031514+0100",
    "20230315143000.123456789012345678901234567890", "99991231235959-1400", "00010101000000+1400", "00000101",
])
def test_valid_timestamps(value: str) -> None:
    instant, reason = parse_ts(value)
    assert reason is None and instant is not None, value


@pytest.mark.parametrize(("value", "word"), [
    ("20230230", "jour"), ("20230229", "jour"), ("19000229", "jour"), ("20230431", "jour"),
    ("20231301", "mois"), ("20230001", "mois"), ("20230100", "jour"),
    ("2023031559", "heure"), ("202303151460", "minute"), ("20230315143060", "seconde"),
    ("20230315240100", "heure"), ("2023031", "chiffre"), ("202303151", "chiffre"),
    ("20230315143000+2500", "décalage"), ("20230315143000+1401", "décalage"),
    ("20230315143000+0160", "décalage"), ("1", "chiffre"),
])
def test_impossible_timestamps(value: str, word: str) -> None:
    instant, reason = parse_ts(value)
    assert instant is None and reason is not None and word in reason, (value, reason)


def test_schema_rejects_are_left_to_the_xsd() -> None:
    for value in ("", "2023-03-15", "٢٠٢٣", "20230315143000123", "20230315+0100", " 20230315",
                  "20230315143000.", "x" * 5000, "1" * 5000):
        assert parse_ts(value) == (None, None), value


def test_bound_reading_of_offsets() -> None:
    # dtr1-2-TS pads the offset ("+1" reads +10:00); dtr1-9-IVL_TS (bounds) does not
    assert parse_ts("20230315143000+1")[1] is None
    assert parse_ts("20230315143000+1", bound=True)[1] is not None
    assert parse_ts("20230315143000+010", bound=True)[1] is not None
    assert parse_ts("20230315143000+0100", bound=True)[1] is None


def test_instants_compare_with_offsets() -> None:
    a, _ = parse_ts("20230315123000+0000", bound=True)
    b, _ = parse_ts("20230315133000+0100", bound=True)
    c, _ = parse_ts("20230315133000-0100", bound=True)
    assert a is not None and b is not None and c is not None
    assert a == b and c > b
    f1, _ = parse_ts("20230315133000.5")
    f2, _ = parse_ts("20230315133000.45")
    assert f1 is not None and f2 is not None and f1 > f2


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-.٣x ", max_size=40))
def test_parse_ts_never_raises(value: str) -> None:
    instant, reason = parse_ts(value)
    assert instant is None or reason is None


# --------------------------------------------------------------------------- variants

def _cases() -> list[pytest.param]:
    return [pytest.param(v, id=v.vid) for v in VARIANTS]


@pytest.mark.parametrize("variant", _cases())
def test_variant_rules(runner: Runner, variant: Variant) -> None:
    """Each one-defect variant raises exactly the DTY rules it is built for."""
    data = build(variant)
    if data is None:
        pytest.skip(f"kit not found at {kit_dir()} (variant of {BASES[variant.base]})")
    found = {r for r, sev in _findings(runner, data, variant.vid) if r.startswith("DTY")}
    assert found == set(variant.expect)
    assert not any(r.startswith("INT") for r, _ in _findings(runner, data, variant.vid))


@pytest.mark.parametrize("variant", _cases())
def test_variant_agrees_with_official(runner: Runner, variant: Variant) -> None:
    """A DTY error exactly where the official pipeline failed a DTr1 datatype assert."""
    if variant.vid not in OFFICIAL["documents"]:
        pytest.fail(f"{variant.vid}: no official result stored; rerun the official pipeline")
    data = build(variant)
    if data is None:
        pytest.skip(f"kit not found at {kit_dir()}")
    findings = _findings(runner, data, variant.vid)
    official = OFFICIAL["documents"][variant.vid]
    if not official["xsd_valid"]:
        # a value the CDA schema rejects: our XSD engine reports it, not a DTY rule
        assert any(r.startswith("XSD") for r, _ in findings)
        return
    ours = any(r.startswith("DTY") and sev == "error" for r, sev in findings)
    assert ours == _official_dty(variant.vid), official["failed"]


def test_official_verdicts_reproduced(runner: Runner) -> None:
    """On every variant the official pipeline rejects, default mode raises an error too, and
    it raises none where the official pipeline accepts (the verdicts, all rules together)."""
    missed, extra = [], []
    for variant in VARIANTS:
        data = build(variant)
        if data is None or variant.vid not in OFFICIAL["documents"]:
            continue
        ours = any(sev in ("error", "fatal") for _, sev in _findings(runner, data, variant.vid))
        official = OFFICIAL["documents"][variant.vid]["official_invalid"]
        if official and not ours:
            missed.append(variant.vid)
        elif ours and not official:
            extra.append(variant.vid)
    print(f"datatype variants: {len(missed)} official rejections missed, {len(extra)} extra errors")
    assert not missed and not extra, (missed, extra)


@pytest.mark.parametrize("key", sorted(BASES))
def test_bases_are_clean(runner: Runner, key: str) -> None:
    data = base_bytes(key)
    if data is None:
        pytest.skip(f"kit not found at {kit_dir()}")
    assert not _official_dty(f"base-{key}")
    assert not [r for r, _ in _findings(runner, data, key) if r.startswith("DTY")]


def test_kit_examples_raise_no_datatype_error(runner: Runner) -> None:
    if not KIT_PRESENT:
        pytest.skip(f"kit not found at {kit_dir()}")
    for path in sorted((kit_dir() / "ExemplesCDA").glob("*.xml")):
        found = [r for r, _ in _findings(runner, path.read_bytes(), path.name) if r.startswith("DTY")]
        assert not found, (path.name, found)


def test_context_table_matches_the_kit() -> None:
    if not KIT_PRESENT:
        pytest.skip(f"kit not found at {kit_dir()}")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_datatype_contexts.py"),
                           "--kit", str(kit_dir()), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_messages_name_element_value_and_expectation(runner: Runner) -> None:
    variant = next(v for v in VARIANTS if v.vid == "sC-ts-feb30")
    data = build(variant)
    assert data is not None
    report, _, _ = runner.check_document(data, "x.xml")
    dty = [f for f in report.findings if f.rule_id == "DTY001"]
    assert len(dty) == 1
    f = dty[0]
    assert "effectiveTime" in f.message and "20230230101010+0100" in f.message and "attendu" in f.message
    assert f.location.line == 11 and f.location.xpath


def test_sc_code_rules_on_an_authoring_device(runner: Runner) -> None:
    """DTr1 SC (manufacturerModelName, softwareName): a code needs its code system, a
    displayName its code, a nullFlavor no code."""
    from lxml import etree

    h = "{urn:hl7-org:v3}"
    tree = etree.parse(str(ROOT / "samples" / "documents" / "ldl-ses-n1.xml"))
    author = tree.getroot().find(f"{h}author/{h}assignedAuthor")
    person = author.find(f"{h}assignedPerson")
    device = etree.Element(f"{h}assignedAuthoringDevice")
    etree.SubElement(device, f"{h}manufacturerModelName", code="M-1").text = "Modèle"
    etree.SubElement(device, f"{h}softwareName", displayName="Logiciel", nullFlavor="UNK")
    person.addprevious(device)
    author.remove(person)
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    report, _, _ = runner.check_document(data, "sc.xml")
    found = [(f.rule_id, f.message) for f in report.findings if f.rule_id in ("DTY006", "DTY007")]
    assert ("DTY006" in {r for r, _ in found}
            and any("manufacturerModelName" in m and "M-1" in m for r, m in found if r == "DTY006")), found
    assert any(r == "DTY007" and "softwareName" in m and "@displayName sans @code" in m for r, m in found), found
    assert any(r == "DTY007" and "softwareName" in m and "nullFlavor=UNK" in m for r, m in found), found


@pytest.mark.parametrize(("qualifiers", "flagged"), [
    (("BR BR", "SP SP"), True),      # every part repeats a qualifier: dtr1-7-EN fails
    (("BR BR", "SP"), False),        # one part with distinct qualifiers is enough
    (("BR", None), False),
    (("CL  CL", "BR\tBR"), True),    # any XPath \s separates; "CL  CL" has an empty token too
    (("A  B", "A  B"), False),       # A, '', B: distinct
])
def test_en_parts_with_repeated_qualifiers(runner: Runner, qualifiers: tuple, flagged: bool) -> None:
    from lxml import etree

    h = "{urn:hl7-org:v3}"
    tree = etree.parse(str(ROOT / "samples" / "documents" / "ldl-ses-n1.xml"))
    name = tree.getroot().find(f"{h}author/{h}assignedAuthor/{h}assignedPerson/{h}name")
    parts = [c for c in name if isinstance(c.tag, str)]
    assert len(parts) >= 2
    for i, part in enumerate(parts):  # the qualifiers given, in turn, on every part of the name
        q = qualifiers[i % len(qualifiers)]
        part.attrib.pop("qualifier", None)
        if q is not None:
            part.set("qualifier", q)
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    report, _, _ = runner.check_document(data, "en.xml")
    hits = [f.message for f in report.findings if "qualificatif répété" in f.message]
    assert bool(hits) == flagged, hits


@pytest.mark.parametrize(("xsi_type", "nsmap", "flagged"), [
    ("ST", {}, True),                       # ST derives from ED: the schema accepts it, the profile does not
    ("ED", {}, False),
    ("hl7:ED", {"hl7": "urn:hl7-org:v3"}, False),  # resolve-QName: the prefix is resolved
    ("x:ED", {"x": "urn:example:other"}, True),    # ED of another namespace
])
def test_xsi_type_of_a_header_element(runner: Runner, xsi_type: str, nsmap: dict, flagged: bool) -> None:
    """DTY019: a header element of the datatype table declares only its own datatype."""
    from lxml import etree

    h = "{urn:hl7-org:v3}"
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}"
    tree = etree.parse(str(ROOT / "samples" / "documents" / "ldl-ses-n1.xml"))
    author = tree.getroot().find(f"{h}author")
    fc = etree.Element(f"{h}functionCode", code="ATTPHYS", codeSystem="2.16.840.1.113883.5.88",
                       displayName="Médecin référent")
    ot = etree.SubElement(fc, f"{h}originalText")
    ot.set(f"{xsi}type", xsi_type)
    ot.text = "Médecin référent du patient"
    author.insert(0, fc)
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    declarations = "".join(f' xmlns:{p}="{uri}"' for p, uri in nsmap.items())
    data = data.replace(b"<originalText ", f"<originalText{declarations} ".encode(), 1)
    report, _, _ = runner.check_document(data, "xsi.xml")
    found = [f.message for f in report.findings if f.rule_id == "DTY019"]
    assert bool(found) is flagged, found
    if flagged:
        assert "functionCode/originalText" in found[0] and xsi_type in found[0] and "« ED »" in found[0]
