"""PCC / CI-SIS entry and section asserts of the entries pack against recorded official verdicts.

One-defect variants of three kit examples (LDL-SES 2022.01, CR-BIO 2024.01 CYTO, CR-IMG
2024.01) are rebuilt at test time; each case carries the verdict the official pipeline
(../shared/oracle/pipeline/official.py, the kit's declared schematrons) gave on it when it was
recorded (2026-12-01) and, for a rejected one, the rule of ours expected to catch it. The cases
exercise official asserts that the stored parity mutants do not reach (encounter moods,
procedure status and mood, observation request mood, allergy participant, immunization
relationships, comment templateIds, DICOM section text) and three accepted variants (no false
alarm). Skips when the kit is absent.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

import body_variants as bv
from cdacheck.config import Settings
from cdacheck.model import Severity

H = "urn:hl7-org:v3"
NS = {"h": H}
KIT = bv.kit_dir()
EX = KIT / "ExemplesCDA"
LDL = "LDL-SES_2022.01.xml"
BIO = "BIO-CR-BIO_2024.01_DEP-CCU-HPV-structuré-CYTO-pdf.xml.xml"
IMG = "IMG_CR_IMG_2024.01.xml"
ENC = "//h:encounter[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.14']"
PRO = "//h:procedure[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.19']"
ALL = "//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.6']"
REQ = "//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.1.20.3.1']"
IMM = "//h:substanceAdministration[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.12']"


def _one(t, xp):
    found = t.xpath(xp, namespaces=NS)
    assert found, f"kit example changed: {xp} not found"
    return found[0]


def _remove(xp: str) -> Callable:
    def op(t):
        nodes = t.xpath(xp, namespaces=NS)
        assert nodes, f"kit example changed: {xp} not found"
        for n in nodes:
            n.getparent().remove(n)
    return op


def _set(xp: str, attr: str, value: str | None) -> Callable:
    def op(t):
        el = _one(t, xp)
        if value is None:
            el.attrib.pop(attr)
        else:
            el.set(attr, value)
    return op


def _append(xp: str, xml: str, before: str | None = None) -> Callable:
    def op(t):
        parent = _one(t, xp)
        child = etree.fromstring(xml.replace(" X ", f' xmlns="{H}" ', 1))
        anchor = parent.find(f"{{{H}}}{before}") if before else None
        if anchor is not None:
            anchor.addprevious(child)
        else:
            parent.append(child)
    return op


# name -> (base, change, official verdict, our rule expected when rejected)
CASES: dict[str, tuple[str, Callable, bool, str | None]] = {
    "enc-arq-no-time": (LDL, _remove(ENC + "/h:effectiveTime|" + ENC + "/h:priorityCode"), False, "ent-encounter-time"),
    "enc-arq-priority-only": (LDL, _remove(ENC + "/h:effectiveTime"), True, None),
    "enc-evn": (LDL, _set(ENC, "moodCode", "EVN"), True, None),
    "enc-loc-manu": (LDL, _append(ENC, '<participant X typeCode="LOC"><participantRole classCode="MANU"/></participant>'),
                     False, "ent-encounter-location"),
    "enc-none-code": (LDL, _set(ENC + "/h:code", "code", "02276797"), False, "ent-encounter-none"),
    "proc-status-new": (LDL, _set(PRO + "/h:statusCode", "code", "new"), False, "ent-procedure-status"),
    "proc-int-no-time": (LDL, _remove(PRO + "/h:effectiveTime|" + PRO + "/h:priorityCode"), False, "ent-procedure-int-time"),
    "proc-evn": (LDL, _set(PRO, "moodCode", "EVN"), False, "ent-procedure-tpl-mood"),
    "proc-aborted": (LDL, _set(PRO + "/h:statusCode", "code", "aborted"), True, None),
    "req-evn": (LDL, _set(REQ, "moodCode", "EVN"), False, "ent-obsreq-mood"),
    "allergy-code-loinc": (LDL, _set(ALL + "/h:code", "codeSystem", "2.16.840.1.113883.6.1"), False, "ent-allergy-code-snomed"),
    "allergy-participant-noref": (
        LDL, _append(ALL, '<participant X typeCode="CSM"><participantRole classCode="MANU"><playingEntity classCode="MMAT">'
                          '<code code="X1" codeSystem="1.2.3"/></playingEntity></participantRole></participant>',
                     before="entryRelationship"),
        False, "ent-allergy-participant"),
    "imm-consumable-no-typecode": (BIO, _set(IMM + "/h:consumable", "typeCode", None), False, "ent-immunization-consumable-csm"),
    "imm-text-ref-novalue": (BIO, _set(IMM + "/h:text/h:reference", "value", None), False, "ent-immunization-text-ref"),
    "imm-er-rson": (BIO, _append(IMM, '<entryRelationship X typeCode="RSON"><observation classCode="OBS" moodCode="EVN">'
                                      '<code code="X1" codeSystem="1.2.3"/></observation></entryRelationship>'),
                    False, "ent-immunization-relationships"),
    "imm-comment-without-fr-tpl": (
        BIO, _append(IMM, '<entryRelationship X typeCode="SUBJ" inversionInd="true"><act classCode="ACT" moodCode="EVN">'
                          '<templateId root="2.16.840.1.113883.10.20.1.40"/><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.2"/>'
                          '<code code="48767-8" codeSystem="2.16.840.1.113883.6.1"/><text><reference value="#x"/></text>'
                          '<statusCode code="completed"/></act></entryRelationship>'),
        False, "ent-comment-tpl-fr"),
    "imm-section-no-entry-tpl": (BIO, _remove(IMM + "/h:templateId[@root='1.3.6.1.4.1.19376.1.5.3.1.4.12']"),
                                 False, "sec-immunizations-entry"),
    "dicom-act-no-text": (IMG, _remove("//h:section[h:templateId/@root='1.2.840.10008.9.3']/h:text"), False, "sec-dicom-act-text"),
    "dicom-catalog-no-text": (IMG, _remove("//h:section[h:templateId/@root='2.16.840.1.113883.10.20.6.1.1']/h:text"),
                              False, "sec-dicom-catalog-text"),
    "dicom-results-no-text": (IMG, _remove("//h:section[h:templateId/@root='2.16.840.1.113883.10.20.6.1.2']/h:text"),
                              False, "sec-dicom-results-text"),
}


@pytest.fixture(scope="module")
def runner():
    from cdacheck.pipeline import Runner

    return Runner(Settings(env="test"))


def _errors(runner, data: bytes, name: str) -> set[str]:
    report = runner.check_document(data, name)[0]
    return {f.rule_id for f in report.findings if f.severity == Severity.ERROR}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_agrees_with_recorded_official_verdict(runner, name):
    if not EX.is_dir():
        pytest.skip(f"kit absent ({KIT}): variants of kit examples")
    base, change, officially_valid, ours = CASES[name]
    tree = etree.parse(str(EX / base))
    change(tree)
    errors = _errors(runner, etree.tostring(tree, xml_declaration=True, encoding="UTF-8"), name)
    if officially_valid:
        assert not errors, f"{name}: accepted officially, default mode says {sorted(errors)}"
    else:
        assert f"SCH/entries/{ours}" in errors, f"{name}: rejected officially, default mode says {sorted(errors)}"


@pytest.mark.parametrize("base", [LDL, BIO, IMG])
def test_bases_have_no_entries_error(runner, base):
    if not EX.is_dir():
        pytest.skip(f"kit absent ({KIT})")
    errors = _errors(runner, (EX / base).read_bytes(), base)
    assert not {e for e in errors if e.startswith("SCH/entries/")}, sorted(errors)
