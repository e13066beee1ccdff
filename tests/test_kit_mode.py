"""Kit mode against the official pipeline's recorded results (oracle), on every kit example.

The corpus is run once (module fixture, a few minutes: the profile schematrons are compiled
once, StrucMin alone takes about 10 s) and compared per example: same schematrons applied,
same failed assertions (schematron, pattern, whitespace-normalised message, count).
Differences allowed here must be explained in docs/kit-mode.md (section Agreement).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cdacheck.config import Settings
from cdacheck.detect import detect
from cdacheck.engines.schematron import KitEngine, KitError, parse_svrl
from cdacheck.facts import extract_facts
from cdacheck.inputs.xml import parse_document
from cdacheck.model import Hit

# Examples where kit mode may apply other schematrons than the official run, and why
# (documented in docs/kit-mode.md, section Agreement). Failed assertions must agree everywhere.
SET_EXCEPTIONS: dict[str, str] = {
    "BIO-CR-BIO_2021.01_CDA-R2-Niveau-1": "official run applied only StrucMin and terminologie; "
                                          "kit mode applies the five profiles to every document",
}

Key = tuple[str, str, str]  # (schematron, pattern, message)


@dataclass
class Row:
    name: str
    official_sets: list[str]
    our_sets: list[str]
    theirs: Counter[Key]
    ours: Counter[Key]
    other: list[Hit] = field(default_factory=list)
    ms: float = 0.0

    @property
    def same_sets(self) -> bool:
        return sorted(self.official_sets) == sorted(self.our_sets)

    @property
    def agrees(self) -> bool:
        return self.ours == self.theirs and (self.same_sets or self.name in SET_EXCEPTIONS)


def _official(oracle: Path, example: dict, stem: str) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for rel in example["schematrons"]:
        name = Path(rel).stem
        svrl = oracle / "svrl" / f"{stem}__{name}.svrl"
        if svrl.is_file():
            for r in parse_svrl(svrl.read_bytes()):
                if r.kind == "failed-assert":
                    out[(name, r.pattern, r.text)] += 1
    return out


@pytest.fixture(scope="module")
def engine(kit_dir: Path) -> KitEngine:
    return KitEngine(Settings(kit=kit_dir))


@pytest.fixture(scope="module")
def rows(engine: KitEngine, kit_dir: Path, oracle_dir: Path) -> list[Row]:
    verdicts = json.loads((oracle_dir / "official-verdicts.json").read_text(encoding="utf-8"))
    out = []
    for example in verdicts["examples"]:
        path = kit_dir / example["file"]
        stem = Path(example["file"]).stem
        doc, _ = parse_document(path.read_bytes(), str(path))
        assert doc is not None, example["file"]
        facts = extract_facts(doc)
        t0 = time.perf_counter()
        hits = list(engine.run(doc, facts, detect(facts)))
        ms = (time.perf_counter() - t0) * 1000
        ours = Counter((h.provenance["pack"], h.provenance["pattern"], h.message or "")
                       for h in hits if h.provenance.get("kind") == "failed-assert")
        out.append(Row(name=stem, official_sets=[Path(s).stem for s in example["schematrons"]],
                       our_sets=list(engine.last_applied), theirs=_official(oracle_dir, example, stem),
                       ours=ours, other=[h for h in hits if not h.rule_id.startswith("SCH/")], ms=ms))
    return out


def test_agreement_with_the_official_pipeline(rows: list[Row]) -> None:
    lines = [f"{'example':58} {'sets':5} {'official':>8} {'cdacheck':>8} {'ms':>7}  other"]
    for r in rows:
        sets = "same" if r.same_sets else "DIFF"
        other = ",".join(sorted(h.rule_id for h in r.other))
        lines.append(f"{r.name[:58]:58} {sets:5} {sum(r.theirs.values()):8} {sum(r.ours.values()):8} "
                     f"{r.ms:7.0f}  {'' if r.agrees else 'DISAGREE '}{other}")
    agree = sum(r.agrees for r in rows)
    lines.append(f"agreement: {agree}/{len(rows)} examples")
    print("\n" + "\n".join(lines))
    problems = []
    for r in rows:
        if r.agrees:
            continue
        problems.append(f"{r.name}: sets ours={r.our_sets[5:]} official={r.official_sets[5:]}; "
                        f"only ours={list(r.ours - r.theirs)[:3]}; only official={list(r.theirs - r.ours)[:3]}")
    assert not problems, "\n".join(problems)
    assert len(rows) == 94
    assert sum(sum(r.theirs.values()) for r in rows) == 6  # the six official errors, all found


def test_kit_defects_are_reported(engine: KitEngine, rows: list[Row]) -> None:
    described = engine.describe()
    assert described["kit_name"].startswith("TestContenuCDA") and described["kit_version"]
    defects = [v for k, v in described.items() if k.startswith("defect_")]
    assert any(d.startswith("value-set-rebuilt:") and "JDV_J07_XdsTypeCode_CISIS.xml" in d for d in defects)
    assert any(d.startswith("case-bridged-include:") and "E_directiveanticipee_int.sch" in d for d in defects)
    bio_2023 = next(r for r in rows if r.name == "BIO-CR-BIO_2023.01_Electrophorese")
    assert [h.rule_id for h in bio_2023.other] == ["INT102"]
    assert bio_2023.other[0].params["schematron"] == "CI-SIS_BIO-CR-BIO_2023.01.sch"


def test_volet_version_chosen_when_the_document_names_none(rows: list[Row]) -> None:
    tsh = next(r for r in rows if r.name == "BIO-CR-BIO_2024.01_TSH_1")
    chosen = [h for h in tsh.other if h.rule_id == "INT104"]
    assert len(chosen) == 1 and chosen[0].params["volet"] == "CI-SIS_BIO-CR-BIO_2024.01"
    assert all(h.rule_id != "INT104" for r in rows if r.name.startswith("LDL-SES") for h in r.other)


def test_kit_rule_ids_and_roles(rows: list[Row], engine: KitEngine, kit_dir: Path) -> None:
    path = kit_dir / "ExemplesCDA" / "eDISP-MED_2024.01.xml"
    doc, _ = parse_document(path.read_bytes(), str(path))
    assert doc is not None
    facts = extract_facts(doc)
    hits = [h for h in engine.run(doc, facts, detect(facts)) if h.rule_id.startswith("SCH/")]
    assert len(hits) == 1
    hit = hits[0]
    assert hit.rule_id.startswith("SCH/ASIP-STRUCT-MIN-StrucMin/") and hit.role == "error"
    assert hit.location.xpath == "/ClinicalDocument/recordTarget/patientRole/patient/name"
    assert hit.location.line is not None


def test_unusable_kit_folder(tmp_path: Path) -> None:
    with pytest.raises(KitError):
        KitEngine(Settings(kit=tmp_path))
    with pytest.raises(KitError):
        KitEngine(Settings())
