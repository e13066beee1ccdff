"""Enriched parity bases: our samples with the optional header parts none of the bases has.

Many official header asserts sit on elements no kit example (nor our samples) carries while
being officially valid: an informant who is a professional, a data enterer, a participant with
its period, an authenticator, an order, a replaced document, a guardian... An assert whose rule
never fires on a valid base gets no mutant. Each enrichment below adds one such part to an
officially valid sample of ours (test identities only: the kit's test RPPS / FINESS style
numbers and invented names); ``all_bases`` (mutants.py) adds them as bases ``enriched/<name>``,
the official pipeline judges them like the others, and one rejected officially simply gets no
mutants (see OFFICIALLY_INVALID in official.json). Built at test time, never stored as files.

    python tests/parity/enriched.py OUTDIR     # write them, to run the official pipeline on
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, when run as a script
from cda_builder import insert_after, insert_header  # noqa: E402

HL7 = "urn:hl7-org:v3"
SDTC = "urn:hl7-org:sdtc"
_NS = {"h": HL7}

RPPS = '<id root="1.2.250.1.71.4.2.1" extension="810999999997"/>'
PRO_CODE = ('<code code="G15_10/SM27" displayName="Médecin - Médecine interne (SM)" '
            'codeSystem="1.2.250.1.213.1.1.4.5"/>')
ADDR = ('<addr><houseNumber>1</houseNumber><streetName>Rue de l\'Essai</streetName>'
        '<postalCode>75001</postalCode><city>PARIS</city></addr>')
PERSON = ('<assignedPerson><name><given>Jeanne</given><family>INFORMANTE-TEST</family></name>'
          '</assignedPerson>')
ORG = ('<representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1750999997"/>'
       '<name>Centre hospitalier de test CDACHECK</name><telecom value="tel:0100000000" use="WP"/>'
       + ADDR + '<standardIndustryClassCode code="ETABLISSEMENT" displayName="Etablissement de santé" '
       'codeSystem="1.2.250.1.213.1.1.4.9"/></representedOrganization>')
TEL = '<telecom value="tel:0100000001" use="WP"/>'


def _xml(fragment: str) -> etree._Element:
    return etree.fromstring(f'<x xmlns="{HL7}" xmlns:sdtc="{SDTC}">{fragment}</x>')[0]


def _insert_header(root: etree._Element, fragment: str) -> None:
    insert_header(root, _xml(fragment))


def _insert_after(parent: etree._Element, after: tuple[str, ...], fragment: str) -> None:
    """Insert ``fragment`` in ``parent`` after its last child named in ``after`` (first if none)."""
    insert_after(parent, after, _xml(fragment))


def informant_professional(root: etree._Element) -> None:
    _insert_header(root, f"<informant><assignedEntity>{RPPS}{PRO_CODE}{ADDR}{TEL}{PERSON}{ORG}"
                         "</assignedEntity></informant>")


def data_enterer(root: etree._Element) -> None:
    _insert_header(root, f'<dataEnterer><time value="20240315143000+0100"/><assignedEntity>{RPPS}'
                         f"{PRO_CODE}{ADDR}{TEL}{PERSON}{ORG}</assignedEntity></dataEnterer>")


def participant(root: etree._Element) -> None:
    _insert_header(root, '<participant typeCode="INF"><functionCode code="PCP" '
                         'displayName="Médecin traitant" codeSystem="2.16.840.1.113883.5.88">'
                         "<originalText>Médecin traitant</originalText></functionCode>"
                         '<time><low value="20240310"/><high value="20240315"/></time>'
                         f'<associatedEntity classCode="PROV">{RPPS}{PRO_CODE}{ADDR}{TEL}'
                         "<associatedPerson><name><given>Luc</given><family>TRAITANT-TEST</family>"
                         "</name></associatedPerson><scopingOrganization>"
                         '<id root="1.2.250.1.71.4.2.2" extension="1750999997"/>'
                         f"<name>Cabinet de test CDACHECK</name>{TEL}{ADDR}</scopingOrganization>"
                         "</associatedEntity></participant>")


def authenticator(root: etree._Element) -> None:
    _insert_header(root, '<authenticator><time value="20240315143000+0100"/><signatureCode code="S"/>'
                         f"<assignedEntity>{RPPS}{PRO_CODE}{ADDR}{TEL}{PERSON}{ORG}</assignedEntity>"
                         "</authenticator>")


def in_fulfillment_of(root: etree._Element) -> None:
    _insert_header(root, '<inFulfillmentOf><order><id root="1.2.250.1.213.1.1.9" extension="CMD-0001"/>'
                         "</order></inFulfillmentOf>")


def related_document(root: etree._Element) -> None:
    set_id = root.find("h:setId", _NS).get("root")
    root.find("h:versionNumber", _NS).set("value", "2")
    _insert_header(root, '<relatedDocument typeCode="RPLC"><parentDocument>'
                         '<id root="2.25.299775153431416046226093939203245453122"/>'
                         f'<setId root="{set_id}"/><versionNumber value="1"/></parentDocument>'
                         "</relatedDocument>")


def information_recipient(root: etree._Element) -> None:
    _insert_header(root, f"<informationRecipient><intendedRecipient>{RPPS}{ADDR}{TEL}"
                         "<informationRecipient><name><given>Luc</given><family>TRAITANT-TEST</family>"
                         "</name></informationRecipient></intendedRecipient></informationRecipient>")


def guardian(root: etree._Element) -> None:
    patient = root.find("h:recordTarget/h:patientRole/h:patient", _NS)
    _insert_after(patient, ("name", "administrativeGenderCode", "birthTime", "maritalStatusCode",
                            "religiousAffiliationCode", "raceCode", "ethnicGroupCode"),
                  f'<guardian>{ADDR}<telecom value="tel:0600000001" use="MC"/><guardianPerson>'
                  "<name><family qualifier=\"BR\">TUTEUR-TEST</family><given>MARC</given></name>"
                  "</guardianPerson></guardian>")


def encounter_parts(root: etree._Element) -> None:
    enc = root.find("h:componentOf/h:encompassingEncounter", _NS)
    _insert_after(enc, ("id", "code", "effectiveTime"),
                  f"<responsibleParty><assignedEntity>{RPPS}{PRO_CODE}{ADDR}{TEL}{PERSON}{ORG}"
                  "</assignedEntity></responsibleParty>")


def telecoms(root: etree._Element) -> None:
    """A telecom on every party of the header that has none (order: after id, code, addr)."""
    for path in ("h:author/h:assignedAuthor", "h:legalAuthenticator/h:assignedEntity",
                 "h:custodian/h:assignedCustodian/h:representedCustodianOrganization"):
        el = root.find(path, _NS)
        if el is not None and el.find("h:telecom", _NS) is None:
            _insert_after(el, ("id", "code", "name", "addr"), TEL)


def birthplace_name(root: etree._Element) -> None:
    place = root.find("h:recordTarget/h:patientRole/h:patient/h:birthplace/h:place", _NS)
    place.insert(0, _xml("<name>Maternité de test</name>"))


def guardian_organization(root: etree._Element) -> None:
    patient = root.find("h:recordTarget/h:patientRole/h:patient", _NS)
    _insert_after(patient, ("name", "administrativeGenderCode", "birthTime", "maritalStatusCode",
                            "religiousAffiliationCode", "raceCode", "ethnicGroupCode"),
                  '<guardian><guardianOrganization><id root="1.2.250.1.71.4.2.2" extension="1750999997"/>'
                  "<name>Association tutélaire de test</name>" + TEL + ADDR
                  + "</guardianOrganization></guardian>")


def service_event_code(root: etree._Element) -> None:
    event = root.find("h:documentationOf/h:serviceEvent", _NS)
    _insert_after(event, ("templateId", "id"),
                  '<code code="IMP" displayName="Hospitalisation" codeSystem="2.16.840.1.113883.5.4">'
                  "<originalText>Séjour en médecine interne</originalText></code>")


def order_code(root: etree._Element) -> None:
    _insert_header(root, '<inFulfillmentOf><order><id root="1.2.250.1.213.1.1.9" extension="CMD-0002"/>'
                         '<code code="11490-0" displayName="Lettre de liaison" codeSystem="2.16.840.1.113883.6.1">'
                         "<originalText>Lettre de liaison</originalText></code></order></inFulfillmentOf>")


def discharge_disposition(root: etree._Element) -> None:
    enc = root.find("h:componentOf/h:encompassingEncounter", _NS)
    _insert_after(enc, ("id", "code", "effectiveTime"),
                  '<dischargeDispositionCode code="6" displayName="Domicile" codeSystem="1.2.250.1.213.2.14"/>')


def organization_part_of(root: etree._Element) -> None:
    org = root.find("h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/h:representedOrganization", _NS)
    _insert_after(org, ("id", "name", "telecom", "addr", "standardIndustryClassCode"),
                  '<asOrganizationPartOf><id root="1.2.250.1.71.4.2.2" extension="1750999997"/>'
                  '<statusCode code="active"/></asOrganizationPartOf>')


ENRICHMENTS: dict[str, tuple[str, Callable[[etree._Element], None]]] = {
    "ldl-ses-n1+informant": ("ldl-ses-n1", informant_professional),
    "ldl-ses-n1+data-enterer": ("ldl-ses-n1", data_enterer),
    "ldl-ses-n1+participant": ("ldl-ses-n1", participant),
    "ldl-ses-n1+authenticator": ("ldl-ses-n1", authenticator),
    "ldl-ses-n1+in-fulfillment-of": ("ldl-ses-n1", in_fulfillment_of),
    "ldl-ses-n1+related-document": ("ldl-ses-n1", related_document),
    "ldl-ses-n1+information-recipient": ("ldl-ses-n1", information_recipient),
    "ldl-ses-n1+guardian": ("ldl-ses-n1", guardian),
    "ldl-ses-n1+responsible-party": ("ldl-ses-n1", encounter_parts),
    "ldl-ses-n1+telecoms": ("ldl-ses-n1", telecoms),
    "ldl-ses-n1+birthplace-name": ("ldl-ses-n1", birthplace_name),
    "ldl-ses-n1+guardian-organization": ("ldl-ses-n1", guardian_organization),
    "ldl-ses-n1+service-event-code": ("ldl-ses-n1", service_event_code),
    "ldl-ses-n1+order-code": ("ldl-ses-n1", order_code),
    "ldl-ses-n1+discharge-disposition": ("ldl-ses-n1", discharge_disposition),
    "ldl-ses-n1+organization-part-of": ("ldl-ses-n1", organization_part_of),
}


def enriched(samples: Path) -> list[tuple[str, bytes]]:
    """(name, document bytes) of every enrichment, built from ``samples/<stem>.xml``."""
    out = []
    for name, (stem, fn) in ENRICHMENTS.items():
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        tree = etree.parse(str(samples / f"{stem}.xml"), parser)
        fn(tree.getroot())
        out.append((name, etree.tostring(tree, xml_declaration=True, encoding="UTF-8")))
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    dest = Path(sys.argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in enriched(root / "samples" / "documents"):
        (dest / f"{name}.xml").write_bytes(data)
    print(f"{len(ENRICHMENTS)} enriched bases written to {dest}")
