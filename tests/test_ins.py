"""INS family: NIR/NIA arithmetic (property-based) and one failing/passing document per rule.

Identities are synthetic: the kit's test patient 279035121518989 and generated numbers.
"""

from __future__ import annotations

import pytest
from cda_builder import minimal_cda
from hypothesis import given, settings
from hypothesis import strategies as st

from cdacheck.checks import CheckContext, ins
from cdacheck.config import Settings
from cdacheck.detect import detect
from cdacheck.facts import extract_facts
from cdacheck.inputs.xml import parse_document
from cdacheck.registry import REGISTRY

TEST_ROOT = "1.2.250.1.213.1.4.10"
INS_ID = '<id root="1.2.250.1.213.1.4.10" extension="279035121518989"/>'


def key_of(first13: str) -> str:
    """The NIR key computed independently of the code under test (§B.4)."""
    n = first13[:5] + {"2A": "19", "2B": "18"}.get(first13[5:7], first13[5:7]) + first13[7:]
    return f"{97 - int(n) % 97:02d}"


def rule_ids(xml: str, env: str = "test") -> list[str]:
    doc, _ = parse_document(xml.encode(), "t.xml")
    assert doc is not None
    facts = extract_facts(doc)
    ctx = CheckContext(doc=doc, facts=facts, detection=detect(facts), settings=Settings(env=env))
    hits = [*ins.check_ins_identifiers(ctx), *ins.check_ins_traits(ctx)]
    for h in hits:  # every hit renders with all its parameters
        assert "?" not in REGISTRY.get(h.rule_id).render(h.params).replace(" ?", ""), h
    return [h.rule_id for h in hits]


def with_ids(*ids: str) -> str:
    return minimal_cda().replace(INS_ID, "".join(ids))


def ins_id(value: str, root: str = TEST_ROOT) -> str:
    return f'<id root="{root}" extension="{value}"/>'


# --------------------------------------------------------------------------- arithmetic

departments = st.one_of(
    st.integers(0, 99).map(lambda d: f"{d:02d}"),
    st.sampled_from(["2A", "2B"]),
)
nir_bodies = st.tuples(
    st.sampled_from("12345678"),
    st.integers(0, 99).map(lambda y: f"{y:02d}"),
    st.integers(1, 99).map(lambda m: f"{m:02d}"),
    departments,
    st.integers(0, 999).map(lambda c: f"{c:03d}"),
    st.integers(1, 999).map(lambda o: f"{o:03d}"),
).map("".join)
valid_nirs = nir_bodies.map(lambda b: b + key_of(b))


@given(valid_nirs)
def test_every_generated_nir_passes(value: str) -> None:
    assert len(value) == 15
    assert ins.nir_problem(value) is None
    assert ins.nir_key(value) == value[13:]


@given(valid_nirs, st.data())
@settings(max_examples=300)
def test_every_single_character_change_fails(value: str, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, 14))
    new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != value[pos]))
    mutated = value[:pos] + new + value[pos + 1:]
    assert ins.nir_problem(mutated) is not None, mutated


@given(valid_nirs, st.data())
def test_deleting_or_inserting_a_character_fails(value: str, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, 14))
    assert ins.nir_problem(value[:pos] + value[pos + 1:]) == "length"
    ch = data.draw(st.characters(codec="utf-8"))
    assert ins.nir_problem(value[:pos] + ch + value[pos:]) == "length"


@pytest.mark.parametrize(("value", "problem"), [
    ("279035121518989", None),           # kit test patient (§B.4 worked example)
    ("185052A12345633", None),           # Corsica 2A -> 19 (§B.4)
    ("185052B12345660", None),           # Corsica 2B -> 18
    ("185052a12345633", "charset"),      # stdnum would upper-case this: we do not
    ("2 79035121518989", "length"),
    ("27903512151898 ", "charset"),     # 15 characters, trailing space
    ("279035121518988", "key"),
    ("221042545611404", "key"),          # kit examples with a wrong key (§B.4)
    ("224027511583555", "key"),
    ("185052C12345633", "charset"),
    ("", "length"),
    (None, "length"),
])
def test_nir_examples(value: str | None, problem: str | None) -> None:
    assert ins.nir_problem(value) == problem


# --------------------------------------------------------------------------- documents

def test_minimal_document_is_clean_in_test_env() -> None:
    assert rule_ids(minimal_cda()) == []


def test_ins001_absent() -> None:
    assert rule_ids(with_ids('<id root="1.2.3.4.567.8.9.10" extension="IPP1"/>')) == ["INS001"]
    assert "INS001" not in rule_ids(minimal_cda())


@pytest.mark.parametrize("root", ["1.2.250.1.213.1.4.13", "1.2.250.1.213.1.4.14", "1.2.250.1.213.1.4.2"])
def test_ins002_nss_or_insc_instead_of_ins(root: str) -> None:
    ids = rule_ids(with_ids(ins_id("279035121518989", root)))
    assert ids == ["INS002"]


def test_ins002_not_raised_when_an_ins_is_also_there() -> None:
    ids = rule_ids(with_ids(INS_ID, ins_id("279035121518989", "1.2.250.1.213.1.4.13")))
    assert ids == []


def test_ins003_insc_next_to_ins() -> None:
    assert rule_ids(with_ids(INS_ID, ins_id("1234", "1.2.250.1.213.1.4.2"))) == ["INS003"]


@pytest.mark.parametrize(("root", "env", "expected"), [
    ("1.2.250.1.213.1.4.10", "production", ["INS004"]),
    ("1.2.250.1.213.1.4.11", "production", ["INS004"]),
    ("1.2.250.1.213.1.4.10", "test", []),
    ("1.2.250.1.213.1.4.11", "test", []),
    # Production root with the kit's synthetic test value (as in the kit's eDISP-MED example).
    ("1.2.250.1.213.1.4.8", "production", []),
    ("1.2.250.1.213.1.4.9", "production", []),
    ("1.2.250.1.213.1.4.8", "test", []),
])
def test_ins004_environment(root: str, env: str, expected: list[str]) -> None:
    assert rule_ids(with_ids(ins_id("279035121518989", root)), env=env) == expected


def test_settings_default_env_is_production() -> None:
    assert Settings().env == "production"


def test_ins005_two_ins() -> None:
    body = "185052A1234" + "56"
    other = body + key_of(body)
    assert rule_ids(with_ids(INS_ID, ins_id(other))).count("INS005") == 1
    assert "INS005" not in rule_ids(minimal_cda())


def test_ins006_null_flavor() -> None:
    assert rule_ids(with_ids(f'<id root="{TEST_ROOT}" nullFlavor="UNK"/>')) == ["INS006"]


@pytest.mark.parametrize("value", ["27903512151898", "2790351215189890", "279035121518 89", "2790351215189a9"])
def test_ins007_malformed(value: str) -> None:
    assert rule_ids(with_ids(ins_id(value))) == ["INS007"]


def test_ins008_wrong_key() -> None:
    assert rule_ids(with_ids(ins_id("279035121518988"))) == ["INS008"]
    assert "INS008" not in rule_ids(with_ids(ins_id("185052A12345633")))


TRAIT_CUTS = {
    "nom de naissance": ('<family qualifier="BR">TEST</family>', ""),
    "liste des prénoms de naissance": ("<given>MARIE ANNE</given>", ""),
    "premier prénom de naissance": ('<given qualifier="BR">MARIE</given>', ""),
    "sexe": ('<administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>', ""),
    "date de naissance": ('<birthTime value="19790328"/>', '<birthTime nullFlavor="UNK"/>'),
    "code INSEE du lieu de naissance": ("<county>51215</county>", ""),
}


@pytest.mark.parametrize("trait", sorted(TRAIT_CUTS))
def test_ins009_each_trait(trait: str) -> None:
    old, new = TRAIT_CUTS[trait]
    xml = minimal_cda()
    assert old in xml
    doc_ids = rule_ids(xml.replace(old, new))
    assert doc_ids == ["INS009"]


def test_ins009_not_raised_without_ins() -> None:
    xml = with_ids('<id root="1.2.3.4.567.8.9.10" extension="IPP1"/>').replace("<county>51215</county>", "")
    assert rule_ids(xml) == ["INS001"]


@pytest.mark.parametrize("sex", ["UN", "U", "I"])
def test_ins010_sex_not_f_m(sex: str) -> None:
    xml = minimal_cda().replace('code="F" codeSystem="2.16.840.1.113883.5.1"',
                                f'code="{sex}" codeSystem="2.16.840.1.113883.5.1"')
    assert rule_ids(xml) == ["INS010"]


def test_ins011_sex_contradicts_nir() -> None:
    xml = minimal_cda().replace('code="F" codeSystem="2.16.840.1.113883.5.1"',
                                'code="M" codeSystem="2.16.840.1.113883.5.1"')
    assert rule_ids(xml) == ["INS011"]


def test_ins011_not_raised_for_provisional_first_digit() -> None:
    body = "8790351215189"
    xml = with_ids(ins_id(body + key_of(body))).replace(
        'code="F" codeSystem="2.16.840.1.113883.5.1"', 'code="M" codeSystem="2.16.840.1.113883.5.1"')
    assert rule_ids(xml) == []


@pytest.mark.parametrize(("birth", "expected"), [
    ("19790328", []),
    ("1979", []),
    ("197903281200+0100", []),
    ("19800328", ["INS012"]),          # year 80 vs 79
    ("19790428", ["INS012"]),          # month 04 vs 03
    ("19810528", ["INS012", "INS012"]),
])
def test_ins012_birth_contradicts_nir(birth: str, expected: list[str]) -> None:
    assert rule_ids(minimal_cda().replace('value="19790328"', f'value="{birth}"')) == expected


def test_ins012_unknown_month_pseudo_value_is_not_compared() -> None:
    body = "2792051215189"  # month 20: unknown month
    xml = with_ids(ins_id(body + key_of(body)))
    assert rule_ids(xml) == []


def test_ins_rules_are_declared_with_a_source() -> None:
    specs = [r for r in REGISTRY if r.family == "INS"]
    assert len(specs) >= 12
    assert all(r.source.startswith("cisis-facts") for r in specs)
