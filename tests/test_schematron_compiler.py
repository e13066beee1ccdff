"""The Schematron -> XSLT compiler on small schematrons, one feature each (tests/data/sch)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cdacheck.engines.schematron import (
    SchematronError,
    assert_hash,
    compile_schematron,
    list_asserts,
    parse_svrl,
)
from cdacheck.engines.schematron.loader import load_schema, substitute_params
from cdacheck.engines.schematron.xpath import rewrite_doc_calls
from cdacheck.inputs.xml import parse_document
from cdacheck.model import EngineName

SCH = Path(__file__).parent / "data" / "sch"
HL7 = 'xmlns="urn:hl7-org:v3"'


def cda(body: str, wrap: str | None = None) -> object:
    xml = f"<ClinicalDocument {HL7}>\n{body}\n</ClinicalDocument>"
    if wrap == "signature":
        xml = f'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">\n<ds:Object>\n{xml}\n</ds:Object>\n</ds:Signature>'
    doc, _ = parse_document(xml.encode(), "test.xml")
    assert doc is not None
    return doc


def failed(hits: list) -> Counter[str]:
    return Counter(h.rule_id for h in hits)


def test_basic_assert_report_value_of_name_and_location() -> None:
    c = compile_schematron(SCH / "basic.sch")
    doc = cda('<code code="Y"/>\n<languageCode code="fr-FR"/>')
    hits = c.run(doc)
    by_id = {h.rule_id: h for h in hits}
    code_x = "SCH/basic/" + assert_hash("header", "cda:code/@code = 'X'")
    assert failed(hits) == Counter({"SCH/basic/has-title": 1, code_x: 1,
                                    "SCH/basic/has-lang": 1, "SCH/basic/never": 2})
    title = by_id["SCH/basic/has-title"]
    assert title.message == "Le titre manque dans ClinicalDocument."
    assert title.role == "error" and title.engine == EngineName.SCHEMATRON
    assert title.provenance["pattern"] == "header" and title.provenance["test"] == "cda:title"
    assert by_id["SCH/basic/has-lang"].message == "Langue : fr-FR"
    assert by_id["SCH/basic/has-lang"].provenance["kind"] == "successful-report"
    # First matching rule wins: ClinicalDocument fires the first rule only, children the second.
    never = [h for h in hits if h.rule_id == "SCH/basic/never"]
    assert sorted((h.location.line, h.location.xpath) for h in never) == [(2, "/ClinicalDocument/code"),
                                                                           (3, "/ClinicalDocument/languageCode")]


def test_compiled_once_per_content() -> None:
    a = compile_schematron(SCH / "basic.sch")
    b = compile_schematron(SCH / "basic.sch")
    assert a is b
    assert compile_schematron(SCH / "basic.sch", pack_name="other") is not a


def test_raw_svrl_is_available() -> None:
    c = compile_schematron(SCH / "basic.sch")
    svrl = c.run_svrl(cda('<title>t</title><code code="X"/>'))
    assert "schematron-output" in svrl and 'phase="#ALL"' in svrl
    assert [r.kind for r in parse_svrl(svrl)] == ["failed-assert", "failed-assert"]  # "never" x2


def test_includes_fragment_rule_level_and_case_bridge() -> None:
    c = compile_schematron(SCH / "includes.sch")
    ids = {a.id for a in c.asserts}
    assert ids == {"title-present", "code-present", "id-present", "bridged"}
    kinds = {d.kind for d in c.defects}
    assert "case-bridged-include" in kinds and "missing-include" not in kinds
    hits = c.run(cda('<code/>'))
    assert failed(hits) == Counter({"SCH/includes/title-present": 1, "SCH/includes/code-present": 1,
                                    "SCH/includes/id-present": 1, "SCH/includes/bridged": 1})


def test_missing_include_is_reported_and_the_rest_runs() -> None:
    c = compile_schematron(SCH / "missing-include.sch")
    assert [d.kind for d in c.defects] == ["missing-include"]
    assert failed(c.run(cda(""))) == Counter({"SCH/missing-include/kept-title": 1})


def test_abstract_patterns_and_rules() -> None:
    c = compile_schematron(SCH / "abstract.sch")
    doc = cda('<code code="1"/>\n<confidentialityCode code="X"/>\n<languageCode code="fr-FR"/>')
    hits = c.run(doc)
    patterns = Counter(h.provenance["pattern"] for h in hits)
    assert patterns == Counter({"confidentiality": 1, "with-abstract-rules": 1})
    conf = next(h for h in hits if h.provenance["pattern"] == "confidentiality")
    assert conf.message == "L'élément confidentialityCode a le code X hors de la liste."
    assert conf.provenance["test"] == "$c = ('N', 'R', 'V')"
    assert next(h for h in hits if h.provenance["pattern"] == "with-abstract-rules").rule_id == "SCH/abstract/code-system"


def test_param_substitution_is_longest_name_first_and_whole_names() -> None:
    params = {"path": "A", "path_jdv": "B"}
    assert substitute_params("$path | $path_jdv | $pathX", params) == "A | B | $pathX"


def test_lets_at_every_level_and_default_phase() -> None:
    c = compile_schematron(SCH / "lets-phases.sch")
    assert c.phase == "header"
    doc = cda('<realmCode code="BE"/>\n<title>ab</title>\n<author/><author/>')
    hits = c.run(doc)
    msgs = {h.rule_id.rsplit("/", 1)[1]: h.message for h in hits}
    assert msgs == {"realm": "Realm BE au lieu de FR.", "title-length": "Titre trop court (2 < 3).",
                    "authors": "Trop d'auteurs : 2."}


def test_explicit_phase() -> None:
    c = compile_schematron(SCH / "lets-phases.sch", phase="body")
    assert failed(c.run(cda('<realmCode code="BE"/>'))) == Counter({"SCH/lets-phases/body": 1})
    with pytest.raises(SchematronError):
        compile_schematron(SCH / "lets-phases.sch", phase="nope")


def test_diagnostics_flag_rule_role_and_name_path() -> None:
    c = compile_schematron(SCH / "messages.sch")
    doc = cda('<id root="1.2.x"/>\n<id extension="e"/>')
    all_hits = c.run(doc)
    assert failed(all_hits) == Counter({"SCH/messages/root-oid": 2, "SCH/messages/root-fatal": 1})
    hits = {(h.rule_id, h.location.line): h for h in all_hits}
    oid = hits[("SCH/messages/root-oid", 2)]
    assert oid.role == "warning"  # from the rule
    assert oid.message == "OID invalide dans id : 1.2.x"
    assert oid.provenance["flag"] == "identity"
    assert oid.provenance["diagnostics"] == "Valeur trouvée : « 1.2.x », attendue : un OID."
    fatal = hits[("SCH/messages/root-fatal", 3)]
    assert fatal.role == "fatal" and fatal.message == "Élément ClinicalDocument/id sans @root."
    assert fatal.location.line == 3


def test_value_sets_read_relative_to_the_schematron() -> None:
    c = compile_schematron(SCH / "valuesets.sch")
    assert {Path(p).name for p in c._docs} >= {"confidentiality.xml", "languages.xml"}
    good = cda('<confidentialityCode code="N"/><languageCode code="fr-FR"/>')
    assert c.run(good) == []
    bad = cda('<confidentialityCode code="V"/><languageCode code="en-US"/>')
    hits = {h.rule_id: h for h in c.run(bad)}
    assert set(hits) == {"SCH/valuesets/conf-in-jdv", "SCH/valuesets/lang-in-jdv"}
    assert hits["SCH/valuesets/conf-in-jdv"].message == "Code V absent de vs/confidentiality.xml."


def test_query_binding_xslt1_value_of_takes_first_node() -> None:
    c = compile_schematron(SCH / "xslt1.sch")
    doc = cda('<author><time value="2020"/></author><author><time value="2021"/></author>')
    assert [h.message for h in c.run(doc)] == ["Auteurs : 2020."]


def test_wrapped_document_validates_the_clinical_document_only() -> None:
    c = compile_schematron(SCH / "basic.sch")
    hits = c.run(cda('<code code="X"/>', wrap="signature"))
    title = next(h for h in hits if h.rule_id == "SCH/basic/has-title")
    assert title.location.line == 3 and title.location.xpath == "/ClinicalDocument"


def test_list_asserts_without_saxon() -> None:
    infos = list_asserts(SCH / "abstract.sch")
    assert [(a.pattern, a.id) for a in infos if a.has_id] == [("with-abstract-rules", "code-system"),
                                                               ("with-abstract-rules", "code")]
    conf = next(a for a in infos if a.pattern == "confidentiality")
    assert conf.id == assert_hash("confidentiality", conf.test) and conf.role is None
    # Parameters are substituted in value-of/@select too; lets stay as written.
    assert conf.message == "L'élément {'confidentialityCode'} a le code {$c} hors de la liste."
    assert list_asserts(SCH / "lets-phases.sch", phase="body")[0].id == "body"


def test_unsupported_binding_and_bad_xpath_raise() -> None:
    with pytest.raises(SchematronError, match="queryBinding"):
        compile_schematron(SCH / "bad-binding.sch")
    with pytest.raises(SchematronError, match="compilation XSLT"):
        compile_schematron(SCH / "bad-xpath.sch")


def test_doc_calls_rewritten_outside_string_literals_only() -> None:
    assert rewrite_doc_calls("doc('a.xml')//x and document($v) and doc-available('b')") == \
        "cx:doc('a.xml')//x and cx:document($v) and cx:doc-available('b')"
    assert rewrite_doc_calls("'doc(x)' = cda:document(1) or $doc (1)") == "'doc(x)' = cda:document(1) or $doc (1)"


def test_load_schema_digest_covers_included_files() -> None:
    a = load_schema(SCH / "includes.sch")
    assert len(a.files) == 5 and len(a.digest) == 64
    assert a.digest != load_schema(SCH / "basic.sch").digest


GUARDED = """<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <pattern id="keyed">
    <rule context="*[cda:templateId/@root = '1.2.3']"><assert test="false()" id="a">a</assert></rule>
    <rule context="cda:entry[cda:templateId[@root='4.5']]/cda:act"><assert test="false()" id="b">b</assert></rule>
  </pattern>
  <pattern id="open">
    <rule context="cda:section"><assert test="false()" id="c">c</assert></rule>
  </pattern>
</schema>"""


def test_pattern_guards_skip_only_patterns_that_cannot_fire(tmp_path: Path) -> None:
    from cdacheck.engines.schematron.compiler import required_roots

    assert required_roots(["*[cda:templateId/@root='1']", "x[./cda:templateId/@root = \"2\"]//y"]) == {"1", "2"}
    assert required_roots(["*[cda:templateId/@root='1' and not(cda:templateId/@root='2')]"]) == {"1"}
    assert required_roots(["x[cda:act/cda:templateId/@root = ('3', '4') or cda:templateId[@root='5']]"]) == {"3", "4", "5"}
    for unguarded in ("cda:section", "*[cda:templateId/@root='1' or @x]", "*[not(cda:templateId/@root='1')]",
                      "$ctx", "*[cda:templateId/@root='1'] | cda:section", "x[android = '1']",
                      "x[descendant::cda:templateId/@root='1']"):
        assert required_roots([unguarded]) is None, unguarded
    sch = tmp_path / "guarded.sch"
    sch.write_text(GUARDED, encoding="utf-8")
    c = compile_schematron(sch)
    assert c.generated.xslt.count("key('cx-templateId-root'") == 2  # pattern "keyed" only
    none = cda("<component><section/></component>")
    assert failed(c.run(none)) == Counter({"SCH/guarded/c": 1})
    both = cda('<templateId root="1.2.3"/><component><section><entry><templateId root="4.5"/>'
               "<act/></entry></section></component>")
    assert failed(c.run(both)) == Counter({"SCH/guarded/a": 1, "SCH/guarded/b": 1, "SCH/guarded/c": 1})
    # A templateId elsewhere opens the guard; the rule still decides where it fires.
    other = cda('<component><section><templateId root="4.5"/></section></component>')
    assert failed(c.run(other)) == Counter({"SCH/guarded/c": 1})
