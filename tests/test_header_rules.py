"""Header rules of the default mode against the official pipeline (issue 17, header part).

The one-defect variants are built at test time (tests/header_variants.py) from our samples
and, when the kit is present, from kit examples of the five Ségur types. The official
verdicts they got are stored in tests/data/header_official.json (regenerate with
``python tests/header_variants.py --official``), so no Java is needed here.

For every variant, compared with its unmutated base:
* the official profiles (IHE, StrucMin, ModelesDeContenusCDA, Modeles_ANS, terminologie)
  fail a new assert -> default mode has a new error, and it is the rule expected;
* the official pipeline fails nothing new -> default mode adds no error.
Variants the official pipeline rejects only through a volet schematron (e.g. CR-BIO's
header requirements on an added authenticator) are left to the volet packs' tests.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

import header_variants as hv
from cdacheck.config import Settings
from cdacheck.model import Severity
from cdacheck.pipeline import Runner

OFFICIAL: dict[str, dict[str, object]] = json.loads(hv.DATA.read_text(encoding="utf-8"))
PROFILES = ("IHE", "ASIP-STRUCT-MIN-StrucMin", "CI-SIS_ModelesDeContenusCDA", "CI-SIS_Modeles_ANS",
            "terminologie")
ERRORS = (Severity.ERROR, Severity.FATAL)
# The rules this test holds to "no error where the kit accepts": the header pack and DOC.
# (The volet packs' own false alarms, if any, are measured by tests/test_official_parity.py.)
OWN = ("SCH/header/", "DOC")


@cache
def _runner() -> Runner:
    return Runner(Settings(env="test"))


@cache
def _built(base: str) -> dict[str, bytes]:
    return dict(hv.variants((base,)))


@cache
def _errors(vid: str) -> frozenset[str]:
    base = vid.split("~", 1)[0]
    data = _built(base).get(vid)
    assert data is not None, f"{vid}: the mutation no longer applies to its base"
    report = _runner().check_document(data, f"{vid}.xml")[0]
    return frozenset(f.rule_id for f in report.findings if f.severity in ERRORS)


def _new_official(vid: str) -> tuple[set[str], set[str]]:
    """(new failed asserts of the profiles, new failed asserts of the volet) vs the base."""
    base = OFFICIAL[vid.split("~", 1)[0] + "~none"]
    new = set(OFFICIAL[vid]["failed"]) - set(base["failed"])  # type: ignore[arg-type]
    profiles = {f for f in new if f.split("|", 1)[0] in PROFILES}
    return profiles, new - profiles


def _needs(vid: str) -> None:
    kind, _ = hv.BASES[vid.split("~", 1)[0]]
    if kind == "kit" and not (hv.kit_dir() / "ExemplesCDA").is_dir():
        pytest.skip(f"kit not found at {hv.kit_dir()} (CDACHECK_KIT)")


VARIANTS = sorted(v for v in OFFICIAL if not v.endswith("~none"))


def test_verdicts_cover_every_mutation() -> None:
    """The stored verdicts are those of the current mutation list (no stale or missing id)."""
    mids = {v.split("~", 1)[1] for v in OFFICIAL}
    assert mids == set(hv.MUTATIONS), sorted(mids ^ set(hv.MUTATIONS))
    assert all(OFFICIAL[f"{b}~none"]["invalid"] is False for b in hv.BASES)


@pytest.mark.parametrize("vid", VARIANTS)
def test_header_variant_agrees_with_official(vid: str) -> None:
    _needs(vid)
    base_errors = _errors(vid.split("~", 1)[0] + "~none")
    new_errors = _errors(vid) - base_errors
    profiles, volet = _new_official(vid)
    expected = set(hv.expected_rules(vid))
    if profiles:
        assert new_errors, f"{vid}: the kit rejects it ({sorted(profiles)[:2]}), default mode does not"
        if expected:
            assert expected & new_errors, f"{vid}: expected {sorted(expected)}, got {sorted(new_errors)}"
    elif not volet:
        ours = {r for r in new_errors if r.startswith(OWN)}
        assert not ours, f"{vid}: the kit accepts it, default mode adds {sorted(ours)}"


def test_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the agreement figures (pytest -s) and hold them to the issue's bar."""
    rejected = caught = accepted = false_alarms = 0
    for vid in VARIANTS:
        if hv.BASES[vid.split("~", 1)[0]][0] == "kit" and not (hv.kit_dir() / "ExemplesCDA").is_dir():
            continue
        profiles, volet = _new_official(vid)
        new_errors = _errors(vid) - _errors(vid.split("~", 1)[0] + "~none")
        if profiles:
            rejected += 1
            caught += bool(new_errors)
        elif not volet:
            accepted += 1
            false_alarms += any(r.startswith(OWN) for r in new_errors)
    with capsys.disabled():
        print(f"\nheader variants: official rejects {rejected}, default mode errs on {caught}; "
              f"official accepts {accepted}, default mode errs on {false_alarms}")
    assert rejected and caught == rejected
    assert false_alarms == 0


def test_examples_of_messages() -> None:
    """A message names the element, the value found and the value expected (in French)."""
    data = _built("s-ldl")["s-ldl~author-prefix-bad"]
    report = _runner().check_document(data, "x.xml")[0]
    msgs = [f.message for f in report.findings if f.rule_id == "SCH/header/hdr-name-prefix"]
    assert msgs and "« Docteur »" in msgs[0] and "MME" in msgs[0] and "attendu" in msgs[0]
    assert "assignedAuthor/assignedPerson/name/prefix" in msgs[0]


def test_data_file_is_small() -> None:
    assert Path(hv.DATA).stat().st_size < 400_000


@pytest.mark.parametrize(("code", "system", "rules"), [
    ("ETABLISSEMENT1.2.250.", "1.213.1.1.4.9", {"HDR105"}),     # the pair cut elsewhere
    ("ETABLISSEMENT1.2.250.1.213.1.1.4.9", None, {"HDR105"}),   # the system glued to the code
    ("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", set()),
])
def test_sector_code_split_across_its_attributes(code: str, system: str | None, rules: set) -> None:
    """HDR105: @code followed by @codeSystem spells a J04 concept the pair is not."""
    from lxml import etree

    from cdacheck.config import Settings
    from cdacheck.pipeline import Runner

    h = "{urn:hl7-org:v3}"
    root = Path(__file__).resolve().parents[1]
    tree = etree.parse(str(root / "samples" / "documents" / "ldl-ses-n1.xml"))
    sic = tree.getroot().find(f"{h}author/{h}assignedAuthor/{h}representedOrganization/{h}standardIndustryClassCode")
    sic.set("code", code)
    if system is None:
        del sic.attrib["codeSystem"]
    else:
        sic.set("codeSystem", system)
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    report, _, _ = Runner(Settings(env="test")).check_document(data, "j04.xml")
    found = [f for f in report.findings if f.rule_id == "HDR105"]
    assert {f.rule_id for f in found} == rules, [f.message for f in report.findings]
    if found:
        assert code in found[0].message and "« ETABLISSEMENT »" in found[0].message
