"""classify(): the decision table, the gates, the policy and the stay key (pure unit tests)."""

from __future__ import annotations

import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdacheck.classify import INDICATORS, NOT_COUNTED, classify, stay_key
from cdacheck.config import IndicatorPolicy, Settings
from cdacheck.detect import T_CR_BIO_IHE, Detection
from cdacheck.facts import parse_ts
from cdacheck.model import (
    Body,
    Code,
    DocType,
    DocumentFacts,
    EngineName,
    Encounter,
    Finding,
    Identifier,
    Participant,
    PatientIdentifier,
    PatientTraits,
    Period,
    Severity,
)

LOINC = "2.16.840.1.113883.6.1"
TEST_INS = PatientIdentifier(root="1.2.250.1.213.1.4.10", extension="279035121518989", id_class="INS-NIR-TEST")
TRAITS = PatientTraits(birth_family_name="TEST", birth_given_names="MARIE ANNE", first_birth_given_name="MARIE",
                       sex="F", birth_date=parse_ts("19790328"), birthplace_code="51215")
N1 = Body(kind="nonXMLBody", media_type="application/pdf", representation="B64", payload_chars=400)
N3 = Body(kind="structuredBody", section_count=3, entry_count=5)
TEST = Settings(env="test")

CODES: dict[str, str] = {"LDL-SES": "11490-0", "PRESCRIPTION": "57833-6", "CRO": "34874-8",
                         "CR-BIO": "11502-2", "CR-IMG": "18748-4", "LDL-EES": "18761-7",
                         "CR-ANEST": "77436-4", "D2LM": "18748-4", "BIO-TROD": "96173-0",
                         "OTHER": "55115-0", "UNKNOWN": ""}


def facts(doc_type: str = "CRO", body: Body = N1, ids: list[PatientIdentifier] | None = None,
          traits: PatientTraits = TRAITS, encounter: Encounter | None = None, effective: str = "20250102103000+0100",
          templates: tuple[str, ...] = (), code: str | None = None) -> DocumentFacts:
    return DocumentFacts(
        root_form="ClinicalDocument",
        code=Code(code=code or CODES[doc_type], code_system=LOINC),
        effective_time=parse_ts(effective),
        template_ids=[Identifier(root=r) for r in templates],
        body=body,
        patient_ids=[TEST_INS] if ids is None else ids,
        patient=traits,
        encounter=encounter,
        set_id=Identifier(root="1.2.250.1.999.2", extension="S1"),
        version_number="2",
        custodian=Participant(ids=[Identifier(root="1.2.250.1.71.4.2.2", extension="1750803447")]),
    )


def det(doc_type: str, body: Body = N1) -> Detection:
    level = {"nonXMLBody": "N1", "structuredBody": "N3"}.get(body.kind, "unknown")
    return Detection(doc_type=doc_type, level=level, evidence=(f"code {CODES[doc_type]}",))  # type: ignore[arg-type]


def finding(rule_id: str, severity: Severity = Severity.ERROR, message: str = "problème") -> Finding:
    return Finding(rule_id=rule_id, severity=severity, message=message, engine=EngineName.PYTHON)


def run(doc_type: str, body: Body = N1, findings: list[Finding] | None = None, settings: Settings = TEST, **kw):  # type: ignore[no-untyped-def]
    return classify(facts(doc_type, body, **kw), det(doc_type, body), findings or [], settings)


IMP_STAY = Encounter(code=Code(code="IMP", code_system="2.16.840.1.113883.5.4"),
                     period=Period(low=parse_ts("20241220090000+0100"), high=parse_ts("20250102100000+0100")))


# --------------------------------------------------------------------------- the table

def test_every_document_type_has_a_row_or_a_reason() -> None:
    types = set(typing.get_args(DocType))
    covered = {r.doc_type for r in INDICATORS} | set(NOT_COUNTED)
    assert types == covered
    assert not {r.doc_type for r in INDICATORS} & set(NOT_COUNTED)


@pytest.mark.parametrize(("doc_type", "indicator"), [
    ("LDL-SES", "DS 1.1"), ("CRO", "DS 1.3"), ("CR-IMG", "DS 3.1"),
])
def test_n1_positives(doc_type: str, indicator: str) -> None:
    result = run(doc_type)
    assert (result.indicator, result.candidate, result.structured) == (indicator, indicator, False)
    assert result.blocking_rules == []
    assert result.reasons[-1].startswith(f"alimente {indicator}")


@pytest.mark.parametrize(("doc_type", "indicator", "flag"), [
    ("LDL-SES", "DS 1.1", "n3_counts_for_ds1"), ("CRO", "DS 1.3", "n3_counts_for_ds1"),
    ("CR-IMG", "DS 3.1", "n3_counts_for_ds3"),
])
def test_n3_counts_for_ds1_and_ds3_by_policy(doc_type: str, indicator: str, flag: str) -> None:
    result = run(doc_type, N3)
    assert (result.indicator, result.structured) == (indicator, True)
    assert "structuré" in result.reasons[-1]
    strict = Settings(env="test", indicator=IndicatorPolicy(**{flag: False}))
    refused = run(doc_type, N3, settings=strict)
    assert (refused.indicator, refused.candidate) == ("none", indicator)
    assert any("niveau N3" in r for r in refused.reasons)
    assert refused.policy[flag] is False


def test_biology_n1_does_not_count_for_ds21() -> None:
    result = run("CR-BIO", N1, templates=(T_CR_BIO_IHE,))
    assert (result.indicator, result.candidate) == ("none", "DS 2.1")
    assert any("biologie en N1 ne compte pas pour DS 2.1" in r for r in result.reasons)


def test_biology_n3_feeds_ds21() -> None:
    result = run("CR-BIO", N3, templates=(T_CR_BIO_IHE, "1.2.250.1.213.1.1.1.55"))
    assert (result.indicator, result.structured) == ("DS 2.1", True)


def test_biology_n3_needs_xdlab_template_and_entries() -> None:
    assert run("CR-BIO", N3).indicator == "none"
    empty = Body(kind="structuredBody", section_count=2, entry_count=0)
    result = run("CR-BIO", empty, templates=(T_CR_BIO_IHE,))
    assert result.indicator == "none"
    assert any("aucune entrée" in r for r in result.reasons)


@pytest.mark.parametrize("doc_type", ["LDL-EES", "CR-ANEST", "D2LM", "BIO-TROD", "OTHER", "UNKNOWN"])
def test_traps_and_others_feed_none(doc_type: str) -> None:
    result = run(doc_type, N3)
    assert (result.indicator, result.candidate) == ("none", "none")
    assert NOT_COUNTED[doc_type] in result.reasons[0]


# --------------------------------------------------------------------------- blocking

def test_error_finding_blocks_and_is_cited() -> None:
    result = run("LDL-SES", findings=[finding("INS008", message="Clé de l'INS erronée")])
    assert (result.indicator, result.candidate) == ("none", "DS 1.1")
    assert result.blocking_rules == ["INS008"]
    assert "alimenterait DS 1.1 mais :" in result.reasons
    assert any(r.startswith("INS008") and "Clé" in r for r in result.reasons)


def test_any_engine_blocks() -> None:
    f = Finding(rule_id="SCH/strucmin/d1e2", severity=Severity.FATAL, message="x", engine=EngineName.SCHEMATRON)
    assert run("CRO", findings=[f]).blocking_rules == ["SCH/strucmin/d1e2"]


def test_warnings_do_not_block_by_default_but_can_by_policy() -> None:
    warn = [finding("BDY015", Severity.WARNING)]
    assert run("CRO", findings=warn).indicator == "DS 1.3"
    strict = Settings(env="test", indicator=IndicatorPolicy(blocking_severity=Severity.WARNING))
    assert run("CRO", findings=warn, settings=strict).indicator == "none"


def test_blocking_findings_are_cited_on_non_candidates_too() -> None:
    result = run("OTHER", findings=[finding("INS008", message="Clé de l'INS erronée")])
    assert result.indicator == "none"
    assert result.blocking_rules == ["INS008"]
    assert any("Clé" in r for r in result.reasons)


def test_many_blocking_findings_are_summarised() -> None:
    result = run("CRO", findings=[finding(f"XSD{i:03d}") for i in range(1, 13)])
    assert len(result.blocking_rules) == 12
    assert any("4 autre(s)" in r for r in result.reasons)


@given(st.lists(st.tuples(st.sampled_from(["INS008", "BDY003", "XSD001", "DOC006"]),
                          st.sampled_from(list(Severity)))))
def test_feeding_implies_no_blocking_finding(items: list[tuple[str, Severity]]) -> None:
    result = run("CR-IMG", findings=[finding(r, s) for r, s in items])
    blocking = any(s.at_least(Severity.ERROR) for _, s in items)
    assert (result.indicator == "none") == blocking
    assert result.candidate == "DS 3.1"


# --------------------------------------------------------------------------- INS gate (facts)

def test_test_identity_does_not_count_in_production_even_without_finding() -> None:
    result = run("CR-IMG", settings=Settings())
    assert result.indicator == "none"
    assert any("refusé en environnement production" in r for r in result.reasons)


def test_production_identity_counts_in_both_environments() -> None:
    prod = PatientIdentifier(root="1.2.250.1.213.1.4.8", extension="279035121518989", id_class="INS-NIR")
    assert run("CR-IMG", ids=[prod], settings=Settings()).indicator == "DS 3.1"
    assert run("CR-IMG", ids=[prod]).indicator == "DS 3.1"


def test_wrong_key_blocks_even_if_the_rule_was_disabled() -> None:
    bad = TEST_INS.model_copy(update={"extension": "279035121518988"})
    result = run("LDL-SES", ids=[bad])
    assert result.indicator == "none"
    assert any("clé de l'INS 279035121518988 est erronée" in r for r in result.reasons)


def test_ins_fact_reason_not_repeated_when_the_finding_is_cited() -> None:
    bad = TEST_INS.model_copy(update={"extension": "279035121518988"})
    result = run("LDL-SES", ids=[bad], findings=[finding("INS008", message="Clé de l'INS erronée")])
    assert not any("est erronée" in r for r in result.reasons)
    assert any(r.startswith("INS008") for r in result.reasons)


def test_no_ins_or_nss_only_feeds_none() -> None:
    nss = PatientIdentifier(root="1.2.250.1.213.1.4.13", extension="279035121518989", id_class="NSS-NIR")
    for ids in ([], [nss]):
        result = run("CRO", ids=ids)
        assert result.indicator == "none"
        assert any("pas d'INS qualifié" in r for r in result.reasons)


def test_missing_trait_and_bad_sex_feed_none() -> None:
    assert run("CRO", traits=TRAITS.model_copy(update={"birthplace_code": None})).indicator == "none"
    result = run("CRO", traits=TRAITS.model_copy(update={"sex": "UN"}))
    assert any("sexe UN" in r for r in result.reasons)


def test_two_ins_feed_none() -> None:
    assert run("CRO", ids=[TEST_INS, TEST_INS]).indicator == "none"


# --------------------------------------------------------------------------- DS 1.2 "de sortie"

def test_prescription_inferred_discharge_feeds_ds12() -> None:
    result = run("PRESCRIPTION", encounter=IMP_STAY, effective="20250102103000+0100")
    assert result.indicator == "DS 1.2"
    assert result.inferred and "déduit" in result.inferred[0]


@pytest.mark.parametrize(("effective", "window", "expected"), [
    ("20241225", 1, "DS 1.2"),          # during the stay
    ("20250103", 1, "DS 1.2"),          # one day after discharge, window 1
    ("20250104", 1, "none"),            # two days after
    ("20250103", 0, "none"),
    ("20250110", 10, "DS 1.2"),
    ("20241219", 1, "none"),            # before admission
])
def test_discharge_window(effective: str, window: int, expected: str) -> None:
    s = Settings(env="test", indicator=IndicatorPolicy(discharge_window_days=window))
    result = run("PRESCRIPTION", encounter=IMP_STAY, effective=effective, settings=s)
    assert result.indicator == expected
    assert result.policy["discharge_window_days"] == window


@pytest.mark.parametrize(("encounter", "reason"), [
    (None, "pas de componentOf"),
    (IMP_STAY.model_copy(update={"code": Code(code="AMB")}), "rencontre AMB"),
    (IMP_STAY.model_copy(update={"period": Period(low=parse_ts("20241220"))}), "fin du séjour"),
])
def test_discharge_not_inferable(encounter: Encounter | None, reason: str) -> None:
    result = run("PRESCRIPTION", encounter=encounter)
    assert (result.indicator, result.candidate) == ("none", "DS 1.2")
    assert any(reason in r for r in result.reasons)


def test_discharge_context_can_be_waived_by_policy() -> None:
    s = Settings(env="test", indicator=IndicatorPolicy(require_discharge_context=False))
    result = run("PRESCRIPTION", settings=s)
    assert result.indicator == "DS 1.2"
    assert any("non exigé" in i for i in result.inferred)


def test_prescription_code_list_is_a_policy() -> None:
    result = run("PRESCRIPTION", encounter=IMP_STAY, code="PRESC-KINE")
    assert result.indicator == "none"
    assert any("PRESC-KINE" in r for r in result.reasons)
    s = Settings(env="test", indicator=IndicatorPolicy(prescription_codes=("57833-6", "PRESC-KINE")))
    assert run("PRESCRIPTION", encounter=IMP_STAY, code="PRESC-KINE", settings=s).indicator == "DS 1.2"


# --------------------------------------------------------------------------- stay, version, policy

def test_stay_key_from_encounter_id() -> None:
    enc = IMP_STAY.model_copy(update={"ids": [Identifier(root="1.2.250.1.999.9", extension="SEJ42")]})
    result = run("LDL-SES", encounter=enc)
    assert (result.stay_key.source, result.stay_key.value) == ("encounter-id", "1.2.250.1.999.9^SEJ42")
    assert (result.set_id, result.version) == ("1.2.250.1.999.2^S1", "2")


def test_stay_key_ignores_a_professional_id_used_as_encounter_id() -> None:
    enc = IMP_STAY.model_copy(update={"ids": [Identifier(root="1.2.250.1.71.4.2.1", extension="801234567897")]})
    key = stay_key(facts("LDL-SES", encounter=enc))
    assert key.source == "fallback"
    assert key.value == ("1.2.250.1.71.4.2.2^1750803447|1.2.250.1.213.1.4.10^279035121518989|"
                         "20241220090000+0100|IMP")


def test_stay_key_none_without_encounter_start() -> None:
    assert stay_key(facts("LDL-SES")).source == "none"
    assert stay_key(facts("LDL-SES", encounter=IMP_STAY, ids=[])).source == "none"


def test_policy_is_recorded() -> None:
    policy = run("CRO").policy
    assert policy["env"] == "test"
    assert set(IndicatorPolicy.model_fields) <= set(policy)


def test_unreadable_document() -> None:
    result = classify(None, None, [finding("PRS002", Severity.FATAL, "XML mal formé")], TEST)
    assert result.indicator == "none"
    assert result.blocking_rules == ["PRS002"]
    assert any("illisible" in r for r in result.reasons)
