"""StrucMin header structure checks (cdacheck/checks/structure.py, family HDR1xx)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from cdacheck.checks import structure
from cdacheck.checks.header_walk import walk_header
from cdacheck.config import Settings
from cdacheck.pipeline import Runner

from conftest import kit_path

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "samples" / "documents" / "ldl-ses-n1.xml"
H = "{urn:hl7-org:v3}"


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(Settings(env="test"))


def _hdr(runner: Runner, data: bytes) -> list[tuple[str, str]]:
    report, _, _ = runner.check_document(data, "x.xml")
    return [(f.rule_id, f.message) for f in report.findings if f.rule_id.startswith("HDR1")]


def _edit(fn) -> bytes:
    tree = etree.parse(str(BASE))
    fn(tree.getroot())
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def test_the_base_sample_has_no_structure_finding(runner: Runner) -> None:
    assert _hdr(runner, BASE.read_bytes()) == []


def test_second_family_name_of_the_author(runner: Runner) -> None:
    def twice(root):
        fam = root.find(f"{H}author/{H}assignedAuthor/{H}assignedPerson/{H}name/{H}family")
        fam.addnext(copy.deepcopy(fam))
    found = _hdr(runner, _edit(twice))
    assert [r for r, _ in found] == ["HDR101"], found
    msg = found[0][1]
    assert "name" in msg and "2 éléments hl7:family" in msg and "au plus 1" in msg and "CI-SISAuthor" in msg


def test_missing_attribute_and_fixed_value(runner: Runner) -> None:
    def edit(root):
        root.set("classCode", "DOC")            # fixed DOCCLIN (optional attribute)
        del root.find(f"{H}legalAuthenticator/{H}assignedEntity/{H}id").attrib["extension"]
    found = _hdr(runner, _edit(edit))
    ids = sorted(r for r, _ in found)
    assert "HDR104" in ids and "HDR103" in ids, found
    assert any("« DOC »" in m and "« DOCCLIN »" in m for _, m in found)
    assert any("@extension absent" in m for _, m in found)


def test_an_optional_fixed_attribute_may_be_absent(runner: Runner) -> None:
    def edit(root):
        root.attrib.pop("classCode", None)
        root.attrib.pop("moodCode", None)
    assert _hdr(runner, _edit(edit)) == []


def test_required_child_missing(runner: Runner) -> None:
    found = _hdr(runner, _edit(lambda root: root.remove(root.find(f"{H}setId"))))
    assert any(r == "HDR102" and "setId" in m and "au moins 1" in m for r, m in found), found


def test_only_the_first_matching_rule_applies() -> None:
    """One pattern: an element matched by two contexts gets the first rule's constraints only."""
    root, constraints = structure._table()
    table = json.loads((ROOT / "cdacheck" / "data" / "structure_contexts.json").read_text("utf-8"))
    assert len(constraints) <= len(table["rules"])
    doc = etree.parse(str(BASE)).getroot()
    first = walk_header(doc)[1]
    # Every element gets exactly one rule index, the smallest of those whose context matches.
    assert first and all(isinstance(i, int) for i in first.values())
    assert first[doc] == 0  # the ClinicalDocument rule comes first in the kit


def test_table_matches_the_kit() -> None:
    kit = kit_path()
    if kit is None:
        pytest.skip("official ANS kit not found (CDACHECK_KIT): the table is generated from it")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_structure_contexts.py"),
                           "--kit", str(kit), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_kit_examples_raise_no_structure_error(runner: Runner) -> None:
    kit = kit_path()
    if kit is None:
        pytest.skip("official ANS kit not found (CDACHECK_KIT)")
    for path in sorted((kit / "ExemplesCDA").glob("*.xml")):
        assert _hdr(runner, path.read_bytes()) == [], path.name


def _header_documents() -> list[Path]:
    kit = kit_path()
    docs = sorted((ROOT / "samples").rglob("*.xml"))
    if kit is not None:
        docs += sorted((kit / "ExemplesCDA").glob("*.xml"))
    return docs


def _datatype_walk(el: etree._Element, node, kinds: dict) -> None:
    """The datatype table walked on its own (as check_datatypes did before the merged walk):
    the reference the merged walk is compared with."""
    from cdacheck.checks.datatypes import _true

    for sub in el:
        for test, child in node.steps.get(sub.tag, ()):
            if test is _true or test(sub):
                if child.text_leaf and not sub.attrib and not len(sub) and sub.text \
                        and sub.text.strip(" \t\r\n"):
                    continue  # a plain non-empty string: nothing to check
                if child.rules:
                    prev = kinds.get(sub)
                    kinds[sub] = child.rules if prev is None else prev | child.rules
                if child.steps and len(sub):
                    _datatype_walk(sub, child, kinds)


def _structure_walk(el: etree._Element, node, first: dict) -> None:
    """The structure table walked on its own (first-match: the smallest rule index): the other
    reference."""
    if node.rules:
        idx = node.rules[0]
        if first.get(el) is None or idx < first[el]:
            first[el] = idx
    for sub in el if node.edges else ():
        for _, test, child in node.edges.get(sub.tag, ()):
            if test(sub):
                _structure_walk(sub, child, first)


def test_one_header_walk_gives_what_the_two_table_walks_give() -> None:
    """cdacheck.checks.header_walk merges the datatype and structure trees: on every sample and
    kit example, and on a header edited so that rules of both tables move, it must find the
    same rule sets and rule indexes as each table's own walk."""
    from cdacheck.checks import datatypes

    roots = []
    for path in _header_documents():
        try:
            roots.append(etree.parse(str(path)).getroot())
        except etree.XMLSyntaxError:
            continue  # the hostile samples
    edited = copy.deepcopy(etree.parse(str(BASE)).getroot())
    for el in list(edited.iter(f"{H}addr"))[:2]:
        el.set("nullFlavor", "UNK")
        etree.SubElement(el, f"{H}streetAddressLine").text = "1 rue de test"
    for el in list(edited.iter(f"{H}name"))[:1]:
        etree.SubElement(el, f"{H}prefix").text = "M"
    roots.append(edited)
    compared = 0
    for root in roots:
        if not datatypes.strucmin_applies(root):
            continue
        kinds: dict = {}
        _datatype_walk(root, datatypes._context_tree(), kinds)
        first: dict = {}
        _structure_walk(root, structure._table()[0], first)
        joint_kinds, joint_first = walk_header(root)
        assert joint_kinds == kinds and joint_first == first
        compared += 1
    assert compared >= 10, compared
