"""SVRL -> hits on stored SVRL, without Saxon."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from cdacheck.engines.schematron import assert_hash, parse_svrl, to_hits
from cdacheck.engines.schematron.svrl import readable_path, resolve_location, rule_id
from cdacheck.inputs.xml import parse_document

DOC = b"""<ClinicalDocument xmlns="urn:hl7-org:v3">
  <id root="1.2.3"/>
  <component>
    <structuredBody>
      <component><section><code code="A"/></section></component>
      <component><section><code code="B"/></section></component>
    </structuredBody>
  </component>
</ClinicalDocument>"""

SVRL = """<?xml version="1.0" encoding="UTF-8"?>
<svrl:schematron-output xmlns:svrl="http://purl.oclc.org/dsdl/svrl">
  <svrl:active-pattern id="first"/>
  <svrl:fired-rule context="cda:ClinicalDocument"/>
  <svrl:failed-assert test="cda:title" id="title" role="error"
      location="/Q{urn:hl7-org:v3}ClinicalDocument[1]/Q{urn:hl7-org:v3}component[1]/Q{urn:hl7-org:v3}structuredBody[1]/Q{urn:hl7-org:v3}component[2]/Q{urn:hl7-org:v3}section[1]/Q{urn:hl7-org:v3}code[1]/@code">
    <svrl:text>
        Titre   absent
        ici.
    </svrl:text>
    <svrl:diagnostic-reference diagnostic="d1">Voir  la doc.</svrl:diagnostic-reference>
  </svrl:failed-assert>
  <svrl:active-pattern id="second"/>
  <svrl:failed-assert test="@root = '1.2.4'" role="warning" flag="f"
      location="/*:ClinicalDocument[namespace-uri()='urn:hl7-org:v3'][1]/*:id[namespace-uri()='urn:hl7-org:v3'][1]">
    <svrl:text>Mauvais <svrl:emph>root</svrl:emph>.</svrl:text>
  </svrl:failed-assert>
  <svrl:successful-report test="true()" location="/ClinicalDocument/component/structuredBody/component[1]/section">
    <svrl:text>Rapport.</svrl:text>
  </svrl:successful-report>
  <svrl:failed-assert id="bad id with spaces" location="/Other">
    <svrl:text>Hors document.</svrl:text>
  </svrl:failed-assert>
</svrl:schematron-output>
"""


@pytest.fixture()
def doc() -> object:
    parsed, _ = parse_document(DOC, "doc.xml", member="m/doc.xml")
    assert parsed is not None
    return parsed


def test_parse_svrl_tracks_patterns_and_normalises_text() -> None:
    results = parse_svrl(SVRL)
    assert [(r.kind, r.pattern) for r in results] == [
        ("failed-assert", "first"), ("failed-assert", "second"),
        ("successful-report", "second"), ("failed-assert", "second")]
    first, second, report, _ = results
    assert first.text == "Titre absent ici." and first.diagnostics == ("Voir la doc.",)
    assert second.text == "Mauvais root." and second.flag == "f" and second.id is None
    assert second.assert_id == assert_hash("second", "@root = '1.2.4'")
    assert report.role is None


def test_hits_carry_rule_id_role_message_line_and_provenance(doc: object) -> None:
    hits = to_hits(parse_svrl(SVRL), "my-pack", doc)  # type: ignore[arg-type]
    root_hash = assert_hash("second", "@root = '1.2.4'")
    assert [h.rule_id for h in hits] == [
        "SCH/my-pack/title", f"SCH/my-pack/{root_hash}",
        f"SCH/my-pack/{assert_hash('second', 'true()')}", "SCH/my-pack/bad_id_with_spaces"]
    first, second, report, outside = hits
    assert first.role == "error" and first.message == "Titre absent ici."
    assert (first.location.line, first.location.xpath) == (6, "/ClinicalDocument/component/structuredBody/component[2]/section/code")
    assert first.location.file == "doc.xml" and first.location.member == "m/doc.xml"
    assert first.provenance == {
        "pack": "my-pack", "pattern": "first", "assert": "title", "test": "cda:title",
        "location": first.provenance["location"], "kind": "failed-assert", "diagnostics": "Voir la doc."}
    assert (second.location.line, second.role, second.provenance["flag"]) == (2, "warning", "f")
    assert report.location.line == 5 and report.provenance["kind"] == "successful-report"
    assert outside.location.line is None and outside.location.xpath == "/Other"


def test_hits_without_document_keep_the_svrl_location() -> None:
    hits = to_hits(parse_svrl(SVRL), "p", None)
    assert hits[0].location.line is None and hits[0].location.xpath.startswith("/Q{urn:hl7-org:v3}")


def test_rule_id_sanitises_pack_and_assert() -> None:
    r = parse_svrl(SVRL)[3]
    assert rule_id("CI-SIS LDL/SES", r) == "SCH/CI-SIS_LDL_SES/bad_id_with_spaces"


def test_resolve_location_forms() -> None:
    root = etree.fromstring(DOC)
    code = resolve_location(root, "/ClinicalDocument/component/structuredBody/component[2]/section/code")
    assert code is not None and code.get("code") == "B"
    assert resolve_location(root, "/Q{urn:hl7-org:v3}ClinicalDocument[1]/Q{urn:other}id[1]") is root
    assert resolve_location(root, "/Other") is None and resolve_location(root, "") is None
    assert readable_path(code) == "/ClinicalDocument/component/structuredBody/component[2]/section/code"


def test_stored_official_svrl(oracle_dir: Path, kit_dir: Path) -> None:
    """An SVRL of the official pipeline maps to one hit located on the right line."""
    svrl = oracle_dir / "svrl" / "TLM-DA_2022.01_TCG__CI-SIS_ModelesDeContenusCDA.svrl"
    if not svrl.is_file():
        pytest.skip("stored official SVRL TLM-DA_2022.01_TCG absent")
    source = kit_dir / "ExemplesCDA" / "TLM-DA_2022.01_TCG.xml"
    parsed, _ = parse_document(source.read_bytes(), str(source))
    assert parsed is not None
    hits = to_hits(parse_svrl(svrl.read_bytes()), "CI-SIS_ModelesDeContenusCDA", parsed)
    assert len(hits) == 1
    hit = hits[0]
    assert hit.provenance["pattern"] == "JDV_assignedAuthorCode" and hit.role is None
    assert hit.message.startswith("[dansJeuDeValeurs] L'élément author/assignedAuthor/code [G15_10/SCH16:")
    element = resolve_location(parsed.cda, hit.provenance["location"])
    assert element is not None and etree.QName(element).localname == "code"
    assert hit.location.line == element.sourceline
    assert hit.location.xpath == hit.provenance["location"]
