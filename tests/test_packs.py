"""cdacheck's own rule packs: metadata of every assert, value sets, selection, engine.

The mutant and kit-agreement tests are in test_packs_agreement.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from cdacheck.config import DEFAULT_ROLE_MAP, Settings
from cdacheck.detect import Detection, detect
from cdacheck.engines.packs import (
    PACKS,
    PacksEngine,
    available_packs,
    pack_asserts,
    pack_path,
    register_pack_rules,
    selected_packs,
)
from cdacheck.facts import extract_facts
from cdacheck.inputs.xml import parse_document
from cdacheck.model import Severity
from cdacheck.registry import RULE_ID_RE, Registry

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "documents"
SCH = "http://purl.oclc.org/dsdl/schematron"
ROLES = {"error", "warning", "info", "fatal"}


# --------------------------------------------------------------------------- assert metadata


@pytest.mark.parametrize("pack", list(PACKS))
def test_every_assert_is_documented(pack: str) -> None:
    """@id, @role, @see, cdc:summary and a French message naming found and expected values."""
    asserts = pack_asserts(pack)
    assert asserts, f"{pack}: no assert"
    ids = [a.id for a in asserts]
    assert len(ids) == len(set(ids)), f"{pack}: duplicate assert ids"
    for a in asserts:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", a.id), a.id
        assert RULE_ID_RE.match(a.rule_id), a.rule_id
        assert a.role in ROLES, (a.id, a.role)
        assert a.see.startswith("cisis-facts §"), (a.id, a.see)
        assert len(a.summary) > 20, (a.id, a.summary)
        assert len(a.template) > 30, (a.id, a.template)
        # French, and it says what was expected.
        assert re.search(r"attendu|obligatoire|absent|manquant", a.template), (a.id, a.template)


def test_messages_show_the_value_found() -> None:
    """Most messages interpolate the value found (value-of), not just a fixed text."""
    total = with_value = 0
    for pack in PACKS:
        root = etree.parse(str(pack_path(pack))).getroot()
        for el in root.iter(f"{{{SCH}}}assert"):
            total += 1
            with_value += el.find(f"{{{SCH}}}value-of") is not None
    assert with_value / total > 0.85, (with_value, total)


def test_packs_are_ours_not_copies_of_the_kit(kit_dir: Path) -> None:
    """No pack or value-set file is byte-identical to a kit file."""
    import hashlib

    kit_hashes = {hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in kit_dir.rglob("*") if p.is_file() and p.suffix in (".sch", ".xml")}
    ours = list((ROOT / "schematrons").rglob("*.sch")) + list((ROOT / "schematrons").rglob("*.xml"))
    assert ours
    for path in ours:
        assert hashlib.sha256(path.read_bytes()).hexdigest() not in kit_hashes, path


def test_register_pack_rules() -> None:
    reg = Registry()
    register_pack_rules(reg)
    expected = sum(len(pack_asserts(p)) for p in PACKS)
    assert len(reg) == expected
    spec = reg.get("SCH/header/hdr-realm-code")
    assert spec is not None
    assert spec.severity is Severity.ERROR and spec.engine == "schematron"
    assert spec.source.startswith("cisis-facts §A.1")
    assert "realmCode" in spec.template and "FR" in spec.template
    assert spec.render({}) == spec.template.replace("{{", "{").replace("}}", "}")
    for a in pack_asserts("header"):
        assert reg.get(a.rule_id).severity is DEFAULT_ROLE_MAP[a.role]  # type: ignore[union-attr]


def test_registry_load_all_includes_packs() -> None:
    from cdacheck.registry import load_all

    reg = load_all()
    assert "SCH/cr-bio/bio-pdf-copy" in reg
    assert reg.get("SCH/header/hdr-type-id").severity is Severity.ERROR  # type: ignore[union-attr]


def test_available_packs_listed() -> None:
    names = [n for n, _ in available_packs()]
    assert names == list(PACKS)
    assert {"header", "ldl-ses", "prescription", "cro", "cr-bio", "cr-img"} <= set(names)
    for name in names:
        assert pack_path(name).is_file()


# --------------------------------------------------------------------------- value sets


def test_value_sets_are_compact_and_sourced() -> None:
    folder = ROOT / "schematrons" / "valuesets"
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    assert index["kit"] and index["kit"] != "unknown"
    for vs_id in ("J01", "J02", "J04", "J07", "J142", "J143", "J144", "CONF"):
        meta = index["valuesets"][vs_id]
        root = etree.parse(str(folder / f"{vs_id}.xml")).getroot()
        assert root.get("id") == vs_id and root.get("oid") == meta["oid"]
        assert root.get("revision") and root.get("source", "").endswith(".xml")
        assert len(root.findall("c")) == meta["count"] > 0
    j07 = etree.parse(str(folder / "J07.xml")).getroot()
    codes = {c.get("code") for c in j07.findall("c")}
    assert {"11490-0", "57833-6", "34874-8", "11502-2", "18748-4"} <= codes
    conf = etree.parse(str(folder / "CONF.xml")).getroot()
    assert {c.get("code") for c in conf.findall("c")} == {"L", "M", "N", "R", "U", "V"}


def test_value_sets_up_to_date_with_kit(kit_dir: Path) -> None:
    """scripts/gen_valuesets.py --check: the committed files are what the kit generates."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_valuesets.py"),
                           "--kit", str(kit_dir), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- selection


def _det(doc_type: str, level: str) -> Detection:
    return Detection(doc_type=doc_type, level=level)  # type: ignore[arg-type]


@pytest.mark.parametrize(("doc_type", "level", "expected"), [
    ("LDL-SES", "N1", ["header", "ldl-ses"]),
    ("LDL-SES", "N3", ["header", "ldl-ses", "entries", "valuesets-body", "pdf-copy"]),
    ("PRESCRIPTION", "N1", ["header", "prescription"]),
    ("PRESCRIPTION", "N3", ["header", "prescription", "entries", "valuesets-body", "pdf-copy"]),
    ("CRO", "N1", ["header", "cro"]),
    ("CRO", "N3", ["header", "cro", "valuesets-body", "pdf-copy"]),
    ("CR-BIO", "N1", ["header"]),
    ("CR-BIO", "N3", ["header", "cr-bio", "entries", "valuesets-body", "pdf-copy"]),
    ("CR-IMG", "N1", ["header", "cr-img"]),
    ("CR-IMG", "N3", ["header", "cr-img", "entries", "valuesets-body", "pdf-copy"]),
    ("D2LM", "N3", ["header", "pdf-copy"]),
    ("OTHER", "N1", ["header"]),
    ("UNKNOWN", "unknown", ["header"]),
])
def test_selection_by_type_and_level(doc_type: str, level: str, expected: list[str]) -> None:
    assert selected_packs(_det(doc_type, level), Settings()) == expected


def test_forced_packs() -> None:
    settings = Settings(packs=("cr-img", "header"))
    assert selected_packs(_det("LDL-SES", "N1"), settings) == ["header", "cr-img"]


def test_unknown_forced_pack_is_rejected() -> None:
    with pytest.raises(ValueError, match="inconnu"):
        PacksEngine(Settings(packs=("nope",)))


def _sample(name: str):  # type: ignore[no-untyped-def]
    path = SAMPLES / f"{name}.xml"
    if not path.is_file():
        pytest.skip(f"{path} absent: run scripts/make_samples.py")
    doc, _ = parse_document(path.read_bytes(), path.name)
    assert doc is not None
    facts = extract_facts(doc)
    return doc, facts, detect(facts)


def test_volet_template_selects_its_pack() -> None:
    """A model templateId selects its pack even when the code says another type."""
    doc, facts, det = _sample("model-template-code-mismatch")
    assert "cr-bio" in selected_packs(det, Settings(), facts)


# --------------------------------------------------------------------------- engine on samples


def _sidecars() -> list[Path]:
    return sorted(SAMPLES.glob("*.expected.json")) if SAMPLES.is_dir() else []


@pytest.fixture(scope="module")
def engine() -> PacksEngine:
    return PacksEngine(Settings(env="test"))


@pytest.mark.parametrize("sidecar", _sidecars(), ids=lambda p: p.name.removesuffix(".expected.json"))
def test_samples(engine: PacksEngine, sidecar: Path) -> None:
    """Valid samples get no pack error; defect samples get the pack rules they expect."""
    exp = json.loads(sidecar.read_text(encoding="utf-8"))
    doc, facts, det = _sample(sidecar.name.removesuffix(".expected.json"))
    hits = engine.run(doc, facts, det)
    assert not [h for h in hits if h.rule_id.startswith("INT")], hits
    got = {h.rule_id for h in hits}
    errors = {h.rule_id for h in hits if (h.role or "error") in ("error", "fatal")}
    wanted = {r for r in exp.get("rules", []) + exp.get("pending", []) if r.startswith("SCH/")}
    assert wanted <= got, f"missing {wanted - got}"
    if exp.get("valid"):
        assert not errors, errors
    for rid in exp.get("absent_rules", []):
        assert rid not in got
    for h in hits:  # every hit is located in the document and carries a French message
        assert h.location.line and h.message and h.provenance["pack"] in PACKS


def test_engine_describe(engine: PacksEngine) -> None:
    info = engine.describe()
    assert set(PACKS) <= set(info)
    assert info["valuesets"].startswith("kit ")


def test_pack_hit_shape(engine: PacksEngine) -> None:
    doc, facts, det = _sample("realm-code-missing")
    hits = [h for h in engine.run(doc, facts, det) if h.rule_id == "SCH/header/hdr-realm-code"]
    assert len(hits) == 1
    h = hits[0]
    assert h.role == "error" and h.engine == "schematron"
    assert "realmCode" in (h.message or "") and "FR" in (h.message or "")
    assert h.location.file == doc.source
