"""The valuesets-body pack: entry value sets and the kit's terminology checks (default mode).

One-defect variants of the kit's own examples, made here at test time (never stored): each
must raise the rule we expect, and the unmutated example must raise no error of this pack.
The mutations are those the official pipeline rejects (tests/data/parity/official.json holds
its verdicts on the same kinds of defects: add-nullflavor, remove-attribute, code-padded,
bogus-code, bad-unit).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from cdacheck.config import Settings
from cdacheck.model import Severity

NS = {"h": "urn:hl7-org:v3"}
PACK = "SCH/valuesets-body/"

IMG = "IMG_CR_IMG_2024.01.xml"
LDL = "LDL-SES_2022.01.xml"
MED = "eP-MED-DM_2023.01_PosoStruct.xml"
BIO = "BIO-CR-BIO_2024.01_DEP-CCU-HPV-structuré-CYTO-pdf.xml.xml"

CONTRA = "//h:observation[h:templateId/@root='1.2.250.1.213.1.1.3.150' and h:code/@code='64100-1']/h:value"
QTY = "//h:observation[h:templateId/@root='1.2.250.1.213.1.1.3.154']"
TECH = "//h:procedure[h:templateId/@root='1.2.250.1.213.1.1.3.153']/h:targetSiteCode"
MODALITY = "//h:act[h:templateId/@root='1.2.250.1.213.1.1.3.156']/h:code[@code='113015']/h:qualifier/h:value"
ALLERGY = "//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.6']/h:code"
BODY_AUTHOR = "//h:structuredBody//h:author/h:assignedAuthor/h:code"
PROBLEM = ("//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.5' and "
           "not(h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.6')]/h:code")
IMMUNIZATION = "//h:substanceAdministration[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.12']/h:code"
DEVICE = "//h:playingDevice/h:code"
RATE_LOW = "//h:substanceAdministration//h:rateQuantity/h:low"


def _set(path: str, attr: str, value: str) -> Callable[[etree._Element], bool]:
    def apply(root: etree._Element) -> bool:
        found = root.xpath(path, namespaces=NS)
        if not found:
            return False
        found[0].set(attr, value)
        return True
    return apply


def _drop(path: str, attr: str) -> Callable[[etree._Element], bool]:
    def apply(root: etree._Element) -> bool:
        found = [e for e in root.xpath(path, namespaces=NS) if e.get(attr) is not None]
        if not found:
            return False
        del found[0].attrib[attr]
        return True
    return apply


def _pad(path: str) -> Callable[[etree._Element], bool]:
    def apply(root: etree._Element) -> bool:
        found = [e for e in root.xpath(path, namespaces=NS) if e.get("code")]
        if not found:
            return False
        found[0].set("code", " " + found[0].get("code", ""))
        return True
    return apply


# (example, mutation name, mutation, expected rule id)
CASES = [
    (IMG, "contra-nullflavor", _set(CONTRA, "nullFlavor", "UNK"), "img-contraindication-nf"),
    (IMG, "contra-no-code", _drop(CONTRA, "code"), "img-contraindication-attrs"),
    (IMG, "contra-bogus", _set(CONTRA, "code", "999999"), "img-contraindication-jdv"),
    (IMG, "quantity-code-padded", _pad(QTY + "/h:code"), "img-quantity-code-jdv"),
    (IMG, "quantity-site-nullflavor", _set(QTY + "/h:targetSiteCode", "nullFlavor", "NI"), "img-quantity-site-nf"),
    (IMG, "technique-site-no-code", _drop(TECH, "code"), "img-technique-site-attrs"),
    (IMG, "modality-bogus", _set(MODALITY, "code", "XX"), "img-acquisition-modality-jdv"),
    (LDL, "allergy-code-nullflavor", _set(ALLERGY, "nullFlavor", "UNK"), "adverse-event-type-nf"),
    (LDL, "allergy-code-missing", _drop(ALLERGY, "code"), "adverse-event-type-attrs"),
    (LDL, "body-author-code-padded", _pad(BODY_AUTHOR), "body-author-code-jdv"),
    (BIO, "problem-code-missing", _drop(PROBLEM, "code"), "problem-code-attrs"),
    (BIO, "immunization-code-nullflavor", _set(IMMUNIZATION, "nullFlavor", "UNK"), "immunization-code-nf"),
    (MED, "device-bogus", _set(DEVICE, "code", "ZZZ999"), "term-code-known"),
    (MED, "device-padded", _pad(DEVICE), "term-code-known"),
    (MED, "rate-unit", _set(RATE_LOW, "unit", "blorg"), "term-ucum-unit"),
]


@pytest.fixture(scope="module")
def runner():  # type: ignore[no-untyped-def]
    from cdacheck.pipeline import Runner

    return Runner(Settings(env="test", skip_xsd=True))


def _pack_errors(runner, data: bytes, name: str) -> set[str]:  # type: ignore[no-untyped-def]
    report, _facts, _doc = runner.check_document(data, name)
    return {f.rule_id.removeprefix(PACK) for f in report.findings
            if f.rule_id.startswith(PACK) and f.severity.at_least(Severity.ERROR)}


def _example(kit_dir: Path, name: str) -> Path:
    path = kit_dir / "ExemplesCDA" / name
    if not path.is_file():
        pytest.skip(f"kit example {name} absent")
    return path


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES}))
def test_kit_examples_raise_no_error_of_the_pack(runner, kit_dir: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    path = _example(kit_dir, name)
    assert _pack_errors(runner, path.read_bytes(), name) == set()


@pytest.mark.parametrize(("name", "label", "mutate", "expected"), CASES,
                         ids=[f"{c[0][:12]}-{c[1]}" for c in CASES])
def test_one_defect_is_named(runner, kit_dir: Path, name: str, label: str,  # type: ignore[no-untyped-def]
                             mutate: Callable[[etree._Element], bool], expected: str) -> None:
    path = _example(kit_dir, name)
    tree = etree.parse(str(path))
    assert mutate(tree.getroot()), f"{label}: nothing to mutate in {name}"
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    errors = _pack_errors(runner, data, f"{label}.xml")
    assert expected in errors, (label, sorted(errors))
