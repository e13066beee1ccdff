"""DOC family and type detection: tracked codes, traps of §D/§H, model templateIds."""

from __future__ import annotations

import pytest
from cda_builder import minimal_cda

from cdacheck.checks import CheckContext, doctype
from cdacheck.config import Settings
from cdacheck.detect import Detection, detect
from cdacheck.facts import extract_facts
from cdacheck.inputs.xml import parse_document
from cdacheck.registry import REGISTRY

CRO_CODE = '<code code="34874-8" codeSystem="2.16.840.1.113883.6.1" displayName="CR opératoire"/>'
XDS_SD = '<templateId root="1.3.6.1.4.1.19376.1.2.20"/>'
N1_BODY = '<component><nonXMLBody><text mediaType="text/plain" representation="B64">Qm9uam91cg==</text></nonXMLBody></component>'
LOINC = "2.16.840.1.113883.6.1"
XD_LAB = '<templateId root="1.3.6.1.4.1.19376.1.3.3"/>'
LAB_SECTION = ('<component><section><templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/><code code="18719-5"/>'
               '<title>Biochimie</title><text>x</text><entry typeCode="DRIV">'
               '<templateId root="1.3.6.1.4.1.19376.1.3.1"/><act classCode="ACT" moodCode="EVN">'
               '<code code="18719-5"/><statusCode code="completed"/></act></entry></section></component>')
OTHER_SECTION = ('<component><section><code code="x"/><title>t</title><text>t</text><entry>'
                 '<observation classCode="OBS" moodCode="EVN"><code code="y"/></observation></entry>'
                 '</section></component>')


def doc(code: str = "34874-8", system: str = LOINC, templates: str = XDS_SD, body: str | None = None) -> str:
    xml = minimal_cda().replace(CRO_CODE, f'<code code="{code}" codeSystem="{system}" displayName="x"/>')
    xml = xml.replace(XDS_SD, templates)
    if body is not None:
        xml = xml.replace(N1_BODY, f"<component><structuredBody>{body}</structuredBody></component>")
    return xml


def run(xml: str) -> tuple[Detection, list[str]]:
    parsed, _ = parse_document(xml.encode(), "t.xml")
    assert parsed is not None
    facts = extract_facts(parsed)
    detection = detect(facts)
    ctx = CheckContext(doc=parsed, facts=facts, detection=detection, settings=Settings(env="test"))
    hits = list(doctype.check_document_type(ctx))
    for h in hits:
        assert "?" not in REGISTRY.get(h.rule_id).render(h.params), h
    return detection, [h.rule_id for h in hits]


@pytest.mark.parametrize(("code", "system", "templates", "level", "expected"), [
    ("11490-0", LOINC, XDS_SD, "N1", "LDL-SES"),
    ("57833-6", LOINC, XDS_SD, "N1", "PRESCRIPTION"),
    ("57828-6", LOINC, XDS_SD, "N1", "PRESCRIPTION"),
    ("57832-8", LOINC, XDS_SD, "N1", "PRESCRIPTION"),
    ("PRESC-KINE", "1.2.250.1.213.1.1.4.12", XDS_SD, "N1", "PRESCRIPTION"),
    ("34874-8", LOINC, XDS_SD, "N1", "CRO"),
    ("11502-2", LOINC, XDS_SD, "N1", "CR-BIO"),
    ("18748-4", LOINC, XDS_SD, "N1", "CR-IMG"),
    ("18761-7", LOINC, XDS_SD, "N1", "LDL-EES"),
    ("77436-4", LOINC, XDS_SD, "N1", "CR-ANEST"),
    ("96173-0", LOINC, XDS_SD, "N1", "BIO-TROD"),
    ("55115-0", LOINC, XDS_SD, "N1", "OTHER"),          # imaging request
    ("83981-1", LOINC, XDS_SD, "N1", "OTHER"),          # LDL from a social structure
    ("34112-3", LOINC, XDS_SD, "N1", "OTHER"),
])
def test_detect_type_from_code(code: str, system: str, templates: str, level: str, expected: str) -> None:
    detection, _ = run(doc(code, system, templates))
    assert (detection.doc_type, detection.level) == (expected, level)
    assert detection.evidence


@pytest.mark.parametrize(("template", "code", "expected"), [
    ("1.2.250.1.213.1.1.1.27", "18748-4", "D2LM"),
    ("1.2.250.1.213.1.1.1.28", "18748-4", "D2LM"),
    ("1.2.250.1.213.1.1.1.59", "11502-2", "BIO-TROD"),
    ("1.2.250.1.213.1.1.1.40", "34874-8", "CR-ANEST"),
])
def test_detect_traps_decided_by_model_template(template: str, code: str, expected: str) -> None:
    detection, ids = run(doc(code, templates=f'<templateId root="{template}"/>', body=OTHER_SECTION))
    assert detection.doc_type == expected
    assert detection.level == "N3"
    assert "DOC006" in ids


def test_detect_unknown_without_code() -> None:
    detection, ids = run(minimal_cda().replace(CRO_CODE, ""))
    assert detection.doc_type == "UNKNOWN"
    assert ids == ["DOC001"]


def test_clean_cro_has_no_doc_finding() -> None:
    assert run(minimal_cda())[1] == []


@pytest.mark.parametrize("code_el", [
    '<code nullFlavor="UNK"/>',
    '<code codeSystem="2.16.840.1.113883.6.1" displayName="x"/>',
])
def test_doc001_code_unusable(code_el: str) -> None:
    assert run(minimal_cda().replace(CRO_CODE, code_el))[1] == ["DOC001"]


def test_doc002_tracked_code_not_loinc() -> None:
    # N1 (and LDL-SES): the official pipeline does not compare the codeSystem -> warning DOC008
    assert run(doc("11490-0", system="1.2.250.1.213.1.1.4.12"))[1] == ["DOC008"]
    assert REGISTRY.get("DOC008").severity == "warning"
    assert run(doc("11490-0"))[1] == []
    # the CR-IMG model's volet does -> error DOC002
    img = '<templateId root="1.2.250.1.213.1.1.1.45"/>'
    assert run(doc("18748-4", system="1.2.3", templates=img, body=OTHER_SECTION))[1] == ["DOC002"]


@pytest.mark.parametrize(("template", "code"), [
    ("1.2.250.1.213.1.1.1.29", "18761-7"),   # LDL-SES model with the entry-letter code
    ("1.2.250.1.213.1.1.1.45", "55115-0"),   # CR-IMG model with the imaging-request code
    ("1.2.250.1.213.1.1.1.39", "34874-8"),   # eP-MED-DM model with the CRO code
])
def test_doc003_model_template_contradicts_code(template: str, code: str) -> None:
    ids = run(doc(code, templates=f'<templateId root="{template}"/>', body=OTHER_SECTION))[1]
    assert ids == ["DOC003"]


@pytest.mark.parametrize(("template", "code"), [
    ("1.2.250.1.213.1.1.1.29", "11490-0"),
    ("1.2.250.1.213.1.1.1.45", "18748-4"),
    ("1.2.250.1.213.1.1.1.39", "57833-6"),
])
def test_doc003_consistent_model_template(template: str, code: str) -> None:
    assert run(doc(code, templates=f'<templateId root="{template}"/>', body=OTHER_SECTION))[1] == []


def test_cr_bio_n3_complete_is_clean() -> None:
    assert run(doc("11502-2", templates=XD_LAB, body=LAB_SECTION))[1] == []


def test_lab_entry_template_on_the_act_is_accepted() -> None:
    moved = LAB_SECTION.replace('<templateId root="1.3.6.1.4.1.19376.1.3.1"/><act classCode="ACT" moodCode="EVN">',
                                '<act classCode="ACT" moodCode="EVN"><templateId root="1.3.6.1.4.1.19376.1.3.1"/>')
    assert moved != LAB_SECTION
    assert run(doc("11502-2", templates=XD_LAB, body=moved))[1] == []


def test_doc004_cr_bio_n3_without_xdlab_template() -> None:
    ids = run(doc("11502-2", templates='<templateId root="1.2.250.1.213.1.1.1.55"/>', body=LAB_SECTION))[1]
    assert ids == ["DOC004"]


def test_doc005_cr_bio_n3_without_lab_result() -> None:
    assert run(doc("11502-2", templates=XD_LAB, body=OTHER_SECTION))[1] == ["DOC005"]


def test_cr_bio_n1_is_not_policed_by_doc004_doc005() -> None:
    detection, ids = run(doc("11502-2"))
    assert detection.level == "N1"
    assert ids == []


def test_doc006_is_informational() -> None:
    assert REGISTRY.get("DOC006").severity == "info"
    # a plain CR-IMG is not reported as a trap
    assert run(doc("18748-4", templates='<templateId root="1.2.250.1.213.1.1.1.45"/>', body=OTHER_SECTION))[1] == []


def test_doc_rules_are_declared_with_a_source() -> None:
    specs = [r for r in REGISTRY if r.family == "DOC"]
    assert len(specs) == 8
    assert all(r.source.startswith("cisis-facts") for r in specs)


@pytest.mark.parametrize(("template", "code"), [
    ("1.2.250.1.213.1.1.1.47", "18748-4"),   # IMG-DA-IMG request given the CR-IMG code
    ("1.2.250.1.213.1.1.1.13", "11490-0"),   # VSM given the discharge-letter code
    ("1.2.250.1.213.1.1.1.47", "34874-8"),   # a CRO code in another model
    ("1.2.250.1.213.1.1.1.2.1", "11502-2"),  # sub-model templateIds count as CI-SIS models too
])
def test_doc007_segur_code_in_another_cisis_model(template: str, code: str) -> None:
    detection, ids = run(doc(code, templates=f'<templateId root="{template}"/>', body=OTHER_SECTION))
    assert "DOC007" in ids
    assert REGISTRY.get("DOC007").severity == "error"


@pytest.mark.parametrize(("templates", "code"), [
    ('<templateId root="1.2.250.1.213.1.1.1.45"/>', "18748-4"),          # its own model
    ('<templateId root="1.2.250.1.213.1.1.1.27"/>', "18748-4"),          # D2LM: type by template
    ('<templateId root="1.2.250.1.213.1.1.1.47"/>', "55115-0"),          # not a Ségur code
    ('<templateId root="1.3.6.1.4.1.19376.1.5.3.1.1.1"/>', "11490-0"),  # IHE, not CI-SIS
    ('<templateId root="1.2.250.1.213.1.1.1.55"/>' + XD_LAB, "11502-2"),
])
def test_doc007_not_raised(templates: str, code: str) -> None:
    assert "DOC007" not in run(doc(code, templates=templates, body=OTHER_SECTION))[1]
