"""The XSD engine: embedded schema, hits (line, XPath, French reason), --xsd, schema errors."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from cdacheck.config import Settings
from cdacheck.engines.xsd import (
    EMBEDDED_DIR,
    MAX_HITS,
    R_SCHEMA,
    R_TRUNCATED,
    SchemaError,
    XsdEngine,
    french_reason,
    load_schema,
)
from cdacheck.inputs.xml import parse_document
from cdacheck.model import EngineName
from cdacheck.registry import REGISTRY

ROOT = Path(__file__).resolve().parent.parent

# A minimal, structurally valid CDA R2 document (test identity, synthetic data).
MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <id root="1.2.250.1.213.1.4.10.99" extension="DOC-0001"/>
  <code code="11490-0" codeSystem="2.16.840.1.113883.6.1" displayName="Lettre de liaison"/>
  <title>Lettre de liaison de sortie</title>
  <effectiveTime value="20240102103000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="1.2.250.1.213.1.4.10.99" extension="SET-0001"/>
  <versionNumber value="1"/>
  <recordTarget>
    <patientRole>
      <id root="1.2.250.1.213.1.4.10" extension="279035121518989"/>
      <patient>
        <name><family qualifier="BR">TEST</family><given>Alice</given></name>
        <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="19790315"/>
      </patient>
    </patientRole>
  </recordTarget>
  <author>
    <time value="20240102103000+0100"/>
    <assignedAuthor>
      <id root="1.2.250.1.71.4.2.1" extension="899999999999"/>
      <assignedPerson><name><family>MEDECIN</family></name></assignedPerson>
    </assignedAuthor>
  </author>
  <custodian>
    <assignedCustodian>
      <representedCustodianOrganization>
        <id root="1.2.250.1.71.4.2.2" extension="1999999999"/>
      </representedCustodianOrganization>
    </assignedCustodian>
  </custodian>
  <component>
    <nonXMLBody>
      <text mediaType="application/pdf" representation="B64">JVBERi0xLjQK</text>
    </nonXMLBody>
  </component>
</ClinicalDocument>
"""

WRAPPED = """<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:data="urn:example:data">
  <data:Contenu>
{cda}
  </data:Contenu>
</xsl:stylesheet>
"""


def run(text: str, settings: Settings | None = None) -> list:
    doc, hits = parse_document(text.encode("utf-8"), "test.xml")
    assert doc is not None, hits
    return list(XsdEngine(settings or Settings()).run(doc, None, None))


def test_rules_are_declared() -> None:
    assert REGISTRY.get("XSD001") is R_SCHEMA and R_SCHEMA.name == "schema-violation"
    assert REGISTRY.get("XSD002") is R_TRUNCATED


def test_minimal_document_is_valid() -> None:
    assert run(MINIMAL) == []


def test_schema_compiled_once_per_process() -> None:
    assert load_schema() is load_schema()
    engine = XsdEngine(Settings())
    assert engine.describe()["schema"] == "embedded"
    assert len(engine.describe()["version"]) == 12


def test_missing_required_element() -> None:
    text = MINIMAL.replace('  <code code="11490-0" codeSystem="2.16.840.1.113883.6.1" '
                           'displayName="Lettre de liaison"/>\n', "")
    (hit,) = run(text)
    assert hit.rule_id == "XSD001" and hit.engine is EngineName.XSD
    assert hit.location.line == 7 and hit.location.xpath == "/*/*[5]"
    assert hit.params["element"] == "title"
    assert "attendu : code" in hit.message and "title" in hit.message
    assert "not expected" in hit.provenance["xsd_reason"]


def test_elements_out_of_order() -> None:
    text = MINIMAL.replace("<title>Lettre de liaison de sortie</title>\n  "
                           '<effectiveTime value="20240102103000+0100"/>',
                           '<effectiveTime value="20240102103000+0100"/>\n  '
                           "<title>Lettre de liaison de sortie</title>")
    hits = run(text)
    # title is optional: effectiveTime is accepted, then title comes too late.
    assert [h.params["element"] for h in hits] == ["title"]
    assert "attendu : confidentialityCode" in hits[0].message


def test_bad_attribute_value_and_unknown_attribute() -> None:
    text = MINIMAL.replace('<effectiveTime value="20240102103000+0100"/>',
                           '<effectiveTime value="2 janvier"/>')
    text = text.replace('<realmCode code="FR"/>', '<realmCode code="FR" couleur="bleu"/>')
    hits = run(text)
    assert [h.location.line for h in hits] == [3, 9]
    assert "l'attribut couleur n'est pas autorisé sur l'élément realmCode" in hits[0].message
    assert "« 2 janvier »" in hits[1].message and "effectiveTime" in hits[1].message


def test_wrong_namespace_and_unknown_element() -> None:
    text = MINIMAL.replace("<title>", '<title xmlns="urn:example:autre">')
    (hit,) = run(text)
    assert "title (urn:example:autre)" in hit.message
    assert "attendu : l'un de title, effectiveTime" in hit.message
    (hit,) = run(MINIMAL.replace("<title>", "<sousTitre/><title>"))
    assert hit.params["element"] == "sousTitre"


def test_wrapped_document_validates_only_the_clinical_document() -> None:
    assert run(WRAPPED.format(cda=MINIMAL.split("?>", 1)[1])) == []
    broken = MINIMAL.split("?>", 1)[1].replace("<versionNumber", "<versionNumero")
    (hit,) = run(WRAPPED.format(cda=broken))
    assert hit.location.xpath == "/xsl:stylesheet/data:Contenu/*/*[11]"


def test_hits_are_capped() -> None:
    many = "".join(f'<templateId root="1.2.3" n{i}="x"/>' for i in range(MAX_HITS + 5))
    hits = run(MINIMAL.replace('<templateId root="1.2.250.1.213.1.1.1.1"/>', many))
    assert [h.rule_id for h in hits].count("XSD001") == MAX_HITS
    assert hits[-1].rule_id == "XSD002" and hits[-1].params["count"] == 5


@pytest.mark.parametrize("raw, expected", [
    ("Element '{urn:hl7-org:v3}foo': This element is not expected. Expected is one of "
     "( {urn:hl7-org:v3}templateId, {urn:hl7-org:v3}id ).",
     "élément foo inattendu à cet endroit ; attendu : l'un de templateId, id"),
    ("Element '{urn:hl7-org:v3}patientRole': Missing child element(s). Expected is "
     "( {urn:hl7-org:v3}id ).", "il manque un élément obligatoire dans patientRole ; attendu : id"),
    ("Element '{urn:hl7-org:v3}recordTarget', attribute 'typeCode': [facet 'enumeration'] The "
     "value 'XX' is not an element of the set {'RCT'}.",
     "valeur « XX » de l'attribut typeCode de l'élément recordTarget hors des valeurs permises (RCT)"),
    ("Element '{urn:hl7-org:v3}typeId': The attribute 'extension' is required but missing.",
     "l'attribut obligatoire extension manque sur l'élément typeId"),
    ("Element '{urn:hl7-org:v3}value', attribute '{http://www.w3.org/2001/XMLSchema-instance}type': "
     "The QName value 'Inconnu' of the xsi:type attribute does not resolve to a type definition.",
     "le type « Inconnu » donné par xsi:type sur l'élément value n'existe pas"),
    ("Element '{urn:hl7-org:sdtc}raceCode': This element is not expected.",
     "élément sdtc:raceCode inattendu à cet endroit ; aucun autre élément n'est attendu ici"),
])
def test_french_reasons(raw: str, expected: str) -> None:
    assert french_reason(raw) == expected


def test_unusable_schema_raises_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="introuvable"):
        XsdEngine(Settings(xsd=tmp_path / "absent.xsd"))
    bad = tmp_path / "bad.xsd"
    bad.write_text("<pas-fini", encoding="utf-8")
    with pytest.raises(SchemaError, match="illisible"):
        load_schema(bad)
    wrong = tmp_path / "wrong.xsd"
    wrong.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                     '<xs:element name="a" type="inconnu"/></xs:schema>', encoding="utf-8")
    with pytest.raises(SchemaError, match="invalide"):
        load_schema(wrong)


def test_other_schema_from_settings(tmp_path: Path) -> None:
    other = tmp_path / "other.xsd"
    other.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
                     'targetNamespace="urn:hl7-org:v3"><xs:element name="ClinicalDocument">'
                     "<xs:complexType/></xs:element></xs:schema>", encoding="utf-8")
    engine = XsdEngine(Settings(xsd=other))
    assert engine.describe()["schema"] == str(other)
    hits = run(MINIMAL, Settings(xsd=other))
    assert {h.params["element"] for h in hits} == {"ClinicalDocument"}
    assert "ne doit contenir aucun élément" in hits[0].message


def test_official_schema_through_settings(kit_dir: Path) -> None:
    official = kit_dir / "infrastructure" / "cda" / "CDA_extended.xsd"
    assert run(MINIMAL, Settings(xsd=official)) == []
    broken = MINIMAL.replace('<versionNumber value="1"/>', '<versionNumber value="un"/>')
    assert [h.location.line for h in run(broken, Settings(xsd=official))] == [13]
    assert [h.location.line for h in run(broken)] == [13]


def _gen_schema_module():
    spec = importlib.util.spec_from_file_location("gen_schema", ROOT / "scripts" / "gen_schema.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_schema"] = module  # dataclasses look their module up while executing it
    spec.loader.exec_module(module)
    return module


def test_generated_schema_matches_the_model() -> None:
    gen = _gen_schema_module()
    generated = gen.generate(gen.read_models())
    on_disk = {p.stem: p.read_text(encoding="utf-8") for p in EMBEDDED_DIR.glob("*.xsd")}
    assert generated == on_disk, "run python scripts/gen_schema.py"


def test_embedded_files_are_not_copies_of_the_kit(kit_dir: Path) -> None:
    kit_sums = {hashlib.sha1(p.read_bytes()).hexdigest()
                for p in (kit_dir / "infrastructure").rglob("*") if p.is_file()}
    ours = {hashlib.sha1(p.read_bytes()).hexdigest() for p in EMBEDDED_DIR.parent.rglob("*")
            if p.is_file()}
    assert not ours & kit_sums


def test_schema_imports_never_reach_the_network(tmp_path: Path) -> None:
    import http.server
    import threading
    import urllib.error
    import urllib.request

    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/remote.xsd"
        main = tmp_path / "net.xsd"
        main.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:m">'
                        f'<xs:import namespace="urn:r" schemaLocation="{url}"/>'
                        '<xs:element name="m"/></xs:schema>', encoding="utf-8")
        load_schema(main)
        # The server does answer: a probe made on purpose is the only request it saw.
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url.replace("remote.xsd", "probe"), timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert requests == ["/probe"]


def test_unexpanded_entity_reference_does_not_crash() -> None:
    text = MINIMAL.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                           '<?xml version="1.0" encoding="UTF-8"?>\n'
                           '<!DOCTYPE ClinicalDocument [<!ENTITY ext SYSTEM "file:///etc/hostname">]>\n')
    assert run(text.replace("Lettre de liaison de sortie", "avant &ext; après")) == []
    hits = run(text.replace("<versionNumber", "&ext;<versionNumero"))
    assert [h.params["element"] for h in hits] == ["versionNumero"]
