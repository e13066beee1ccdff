"""Default mode gives the official verdict on one-defect mutants of the five Ségur types (issue 17).

The mutants are regenerated from the kit (tests/parity/mutants.py, fixed seed) and checked
against the official verdicts stored in tests/data/parity/official.json (made once by
scripts/official_parity.py with the real official pipeline: no Java needed here). The three
figures are printed in the terminal summary of the run and shown in docs/rules.md.
"""

from __future__ import annotations

import pytest

from conftest import kit_path
from parity import evaluate as E

pytestmark = [
    pytest.mark.kit,
    pytest.mark.skipif(kit_path() is None, reason="official ANS kit not found: set CDACHECK_KIT to a "
                       "TestContenuCDA checkout (default ../shared/cisis-kit); the mutants are made from it"),
]

RERUN = "re-run scripts/official_parity.py (then scripts/parity_misses.py --update-data)"


@pytest.fixture(scope="module")
def ev() -> E.Evaluation:
    assert E.OFFICIAL_JSON.is_file(), f"{E.OFFICIAL_JSON} missing: {RERUN}"
    kit = kit_path()
    assert kit is not None
    result = E.evaluate(kit)
    E.SUMMARY[:] = result.figures.lines()
    return result


@pytest.fixture(scope="module")
def coverage(ev: E.Evaluation) -> dict:
    from parity import coverage as C

    import official_asserts as OA

    kit = kit_path()
    assert kit is not None
    return C.build(OA.Inventory.build(kit), ev)


def test_mutants_match_the_stored_official_verdicts(ev: E.Evaluation) -> None:
    assert not ev.sha_mismatch, f"{len(ev.sha_mismatch)} mutants changed, e.g. {ev.sha_mismatch[:3]}: {RERUN}"
    assert not ev.unstored, f"{len(ev.unstored)} mutants have no stored verdict, e.g. {ev.unstored[:3]}: {RERUN}"


def test_pool_is_large_enough(ev: E.Evaluation) -> None:
    fig = ev.figures
    assert len(fig.rejected) + len(fig.accepted) >= 600
    assert fig.rejected and fig.accepted


def _recorded() -> dict:
    """The figures committed with coverage.json (scripts/parity_misses.py --update-data)."""
    from parity import coverage as C

    return C.read()["meta"]


# Issue 17's targets are (a) >= 99 % and (b) = 0. Until both are met, the figures committed in
# coverage.json are a ratchet: a change may raise (a) and lower (b), never the reverse, and the
# gap to the target is printed in the terminal summary and docs/rules.md.
def test_a_rejected_mutants_get_an_error(ev: E.Evaluation) -> None:
    fig = ev.figures
    floor = min(E.TARGET_A, _recorded()["figures"]["a"])
    assert fig.a >= floor, (
        f"{fig.lines()[0]} (floor {floor:.1%}); missed e.g. {fig.missed[:5]} "
        "(python scripts/parity_misses.py lists them all)")


def test_b_rejected_mutants_get_no_indicator(ev: E.Evaluation) -> None:
    fig = ev.figures
    ceiling = max(0, _recorded()["figures"]["b"])
    assert fig.b <= ceiling, f"{fig.lines()[1]} (ceiling {ceiling}); e.g. {fig.indicator[:5]}"


def test_c_accepted_mutants_get_no_new_error(ev: E.Evaluation) -> None:
    fig = ev.figures
    assert fig.c <= E.TARGET_C, f"{fig.lines()[2]}; e.g. {fig.false_alarms[:5]}"


def test_stricter_rules_are_real_and_explained(ev: E.Evaluation) -> None:
    from cdacheck.registry import load_all

    ids = {r.id for r in load_all()}
    for rid, reason in ev.stricter.items():
        assert rid in ids, f"stricter.toml names an unknown rule {rid}"
        assert len(reason) > 20, rid


def test_every_applicable_official_error_assert_has_a_row(coverage: dict) -> None:
    """The committed table has a row for every applicable error-level assert, none left untested."""
    from parity import coverage as C

    stored = C.read()
    stored_keys = {r["key"] for r in stored["rows"]}
    applicable = [r for r in coverage["rows"] if r["applicable"]]
    missing = [r["key"] for r in applicable if r["key"] not in stored_keys]
    assert not missing, (f"{len(missing)} applicable official asserts have no row in coverage.json, e.g. "
                         f"{missing[:3]}: run python scripts/parity_misses.py --update-data")
    untested = [r["key"] for r in applicable if r["status"] == "untested"]
    # Target: none. Until then the committed count is a ratchet (it may only go down).
    ceiling = stored["meta"]["counts"].get("untested", 0)
    assert len(untested) <= ceiling, (
        f"{len(untested)} applicable official error asserts fired on the five types but no mutant "
        f"fails them and reasons.toml gives no reason (ceiling {ceiling}), e.g. {untested[:3]}")


def test_every_official_error_assert_is_accounted_for(coverage: dict) -> None:
    """Inventory = rows + rules never fired (not applicable): nothing silently dropped."""
    n_rows = len(coverage["rows"])
    n_na = sum(coverage["not_applicable"].values())
    assert n_rows + n_na == coverage["meta"]["inventoried"]
    assert coverage["meta"]["applicable_error_level"] > 0


def test_assertions_implied_by_their_rule_context() -> None:
    """An assertion whose test repeats its rule context's predicate cannot fail: status
    unreachable, with the predicate named (coverage.implied_by_context)."""
    from parity.coverage import implied_by_context as implied

    ctx = ("//hl7:ClinicalDocument[hl7:typeId[@root = '2.16.840.1.113883.1.3']]"
           "/hl7:realmCode[@code = 'FR']")
    assert implied(ctx, "string(@code) = ('FR')") == "@code = 'FR'"
    assert implied(ctx, "string(@code) = ('BE')") is None
    assert implied(ctx, "string(@root) = ('2.16.840.1.113883.1.3')") is None  # an ancestor's predicate
    assert implied("//a/hl7:name[hl7:family]", "count(hl7:family) >= 1") == "hl7:family"
    assert implied("//a/hl7:name[hl7:family]", "count(hl7:family) >= 2") is None
    assert implied("//a/hl7:patientRole[hl7:patient]", "count(hl7:patient[not(@nullFlavor)]) >= 1") is None
    assert implied("//a/hl7:x[@classCode][hl7:y]", "@classCode") == "@classCode"
    assert implied("//a/hl7:x[@classCode] | //b/hl7:x", "@classCode") is None  # another branch
    assert implied("//a/hl7:x[@code='A B']", "string(@code) = ('AB')") is None  # literals keep spaces
    tid = '*[cda:templateId/@root="1.3.6.1.4.1.19376.1.5.3.1.4.13.5"]'
    assert implied(tid, 'cda:templateId[@root="1.3.6.1.4.1.19376.1.5.3.1.4.13.5"]') is not None
    assert implied(tid, 'cda:templateId[@root="1.3.6.1.4.1.19376.1.5.3.1.4.13"]') is None
    assert implied(tid, "cda:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.13.5'") is not None
    assert implied(tid, "cda:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.4.13.5' and @x") is None
    assert implied("//a/hl7:dischargeDispositionCode[@codeSystem = '1.2.250.1.213.2.14']",
                   "string(@codeSystem) = ('1.2.250.1.213.2.14') or not(@codeSystem)") is not None


def test_assertions_that_are_always_true() -> None:
    from parity.coverage import always_true

    assert always_true("(not(@nullFlavor) or 1)") == "1"
    assert always_true("count(cda:inFulfillmentOf)>=0") == "count(cda:inFulfillmentOf)>=0"
    assert always_true("(($count_formCode =1) or ($count_formCode =0))") is None
    assert always_true("not(@a) or 1 = 2") is None
    assert always_true("count(a)-count(b)>=0") is None   # not one count
    assert always_true("not(@value) or string(@value castable as xs:anyURI)") is not None
    assert always_true("not(@value) or (@value castable as xs:anyURI)") is None
    assert always_true("f(1)") is None
    assert always_true("(a) or (b)") is None
