"""The N3 body packs (ldl-ses, prescription, cr-img, pdf-copy, entries) against the official pipeline.

tests/body_variants.py rebuilds, at test time, one-defect variants of the kit examples
(LDL-SES 2022.01, eP-MED-DM 2022.01/2023.01/2024.01, IMG-CR-IMG 2024.01) and of our CR-BIO
N3 sample; tests/data/body_official.json holds the official pipeline's verdict on each one
(recorded by scripts/body_official.py, so no Java is needed here). Default mode must raise an
error exactly on the variants the official pipeline rejects, and on no other. Kit-based
variants skip when the kit is absent. Figures are printed with ``-s``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import body_variants as bv
from cdacheck.config import Settings
from cdacheck.engines.packs import pack_asserts
from cdacheck.model import Severity

DATA = Path(__file__).resolve().parent / "data" / "body_official.json"
OFFICIAL: dict[str, dict] = json.loads(DATA.read_text(encoding="utf-8"))["variants"]
KIT = bv.kit_dir()
HAVE_KIT = (KIT / "ExemplesCDA").is_dir()
BODY_PACKS = ("ldl-ses", "prescription", "cr-img", "pdf-copy", "entries")

# Variants where default mode deliberately differs from the official verdict, with why.
DIVERGENT: dict[str, str] = {}


@pytest.fixture(scope="module")
def runner():
    from cdacheck.pipeline import Runner

    return Runner(Settings(env="test"))


def _errors(runner, name: str, data: bytes) -> list[str]:
    report = runner.check_document(data, name)[0]
    return sorted({f.rule_id for f in report.findings if f.severity.at_least(Severity.ERROR)})


def _variant(name: str) -> tuple:
    return next(v for v in bv.VARIANTS if v[0] == name)


def test_every_variant_has_an_official_verdict():
    missing = [v[0] for v in bv.VARIANTS if v[0] not in OFFICIAL]
    assert not missing, f"variants without a recorded official verdict: {missing}"
    assert not set(OFFICIAL) - {v[0] for v in bv.VARIANTS}, "stale verdicts in body_official.json"


def test_variants_cover_both_verdicts():
    verdicts = [OFFICIAL[v[0]]["official_invalid"] for v in bv.VARIANTS]
    assert verdicts.count(True) >= 100 and verdicts.count(False) >= 8


@pytest.mark.parametrize("name", [v[0] for v in bv.VARIANTS])
def test_variant_agrees_with_official(runner, name):
    _, base, op, xpath, *args = _variant(name)
    if bv.BASES[base][0] == "kit" and not HAVE_KIT:
        pytest.skip(f"kit absent ({KIT}): variant of a kit example")
    data = bv.apply(bv.base_bytes(base, KIT), op, xpath, *args)
    errors = _errors(runner, name, data)
    official = OFFICIAL[name]
    if name in DIVERGENT:
        assert bool(errors) != official["official_invalid"], f"{name} no longer diverges"
        return
    if official["official_invalid"]:
        assert errors, (f"{name}: the official pipeline rejects it "
                        f"({[f['text'][:90] for f in official['failed']][:3]}), default mode finds no error")
    else:
        assert not errors, f"{name}: the official pipeline accepts it, default mode says {errors}"


def test_agreement_figures(runner, capsys):
    if not HAVE_KIT:
        pytest.skip(f"kit absent ({KIT})")
    rejected = caught = accepted = false_alarms = 0
    for name, base, op, xpath, *args in bv.VARIANTS:
        errors = _errors(runner, name, bv.apply(bv.base_bytes(base, KIT), op, xpath, *args))
        if OFFICIAL[name]["official_invalid"]:
            rejected += 1
            caught += bool(errors)
        else:
            accepted += 1
            false_alarms += bool(errors)
    with capsys.disabled():
        print(f"\nbody variants: {caught}/{rejected} officially rejected caught by default mode, "
              f"{false_alarms}/{accepted} false alarms on officially accepted ones")
    assert caught == rejected - sum(1 for n in DIVERGENT if OFFICIAL[n]["official_invalid"])
    assert false_alarms == sum(1 for n in DIVERGENT if not OFFICIAL[n]["official_invalid"])


@pytest.mark.parametrize("pack", BODY_PACKS)
def test_body_pack_asserts_are_documented(pack):
    asserts = pack_asserts(pack)
    assert asserts
    ids = [a.id for a in asserts]
    assert len(ids) == len(set(ids)), f"duplicate assert ids in {pack}"
    for a in asserts:
        assert a.id and a.role in ("error", "warning", "info"), a
        assert a.see and a.summary, f"{pack}/{a.id}: @see and cdc:summary are required"
        assert " : " in a.template or "«" in a.template, f"{pack}/{a.id}: French message naming the element"
