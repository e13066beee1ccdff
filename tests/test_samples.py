"""Data-driven test of the synthetic samples (samples/**/<name>.expected.json).

Each sidecar says what the CI-SIS facts require for its sample; the test runs the real
command line (``cdacheck.cli.main``) on the sample and compares its exit code and JSON
report with the sidecar: valid, doc_type, level, indicator, rule ids present and absent.
A sample next to the sidecar is ``<name>.xml`` (a document) or ``<name>.zip`` (an IHE XDM
archive: the archive's own verdict and findings, plus those of its documents; its sidecar
may give ``documents`` (how many) and ``indicators`` (one per document, in order) in place
of doc_type / level / indicator).
A last test regenerates every sample into a temporary folder and requires byte-identical
files: the generator is deterministic and the committed samples are up to date.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cdacheck.cli import main
from cdacheck.model import Severity
from cdacheck.registry import load_all

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SIDECAR = ".expected.json"
COMMON = {"env", "valid", "rules", "absent_rules", "exit_code", "description"}
# A document sidecar names the document's verdict; an archive sidecar (samples/xdm/, written
# by scripts/samples_xdm.py) may instead give the number of documents and their indicators.
DOCUMENT_KEYS = COMMON | {"doc_type", "level", "indicator"}
OPTIONAL = {"pending", "max_severity", "inferred_nonempty", "documents", "indicators",
            "doc_type", "level", "indicator"}


def _sidecars() -> list[Path]:
    return sorted(SAMPLES.rglob(f"*{SIDECAR}"))


def _sample_for(sidecar: Path) -> Path:
    stem = sidecar.name[: -len(SIDECAR)]
    found = [p for p in sidecar.parent.glob(f"{stem}.*") if p != sidecar]
    assert len(found) == 1, f"{sidecar}: expected exactly one sample next to it, found {found}"
    return found[0]


def _load(sidecar: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8"))
    required = COMMON if _sample_for(sidecar).suffix == ".zip" else DOCUMENT_KEYS
    missing = required - data.keys()
    unknown = data.keys() - COMMON - OPTIONAL
    assert not missing and not unknown, f"sidecar keys: missing {missing}, unknown {unknown}"
    return data


def _run(path: Path, env: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["check", "--env", env, "--format", "json", str(path)])
    out = capsys.readouterr().out
    assert out.strip(), f"no JSON report on stdout (exit code {code})"
    return code, json.loads(out)


def _findings(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Every finding of a report item (an archive's own, then its documents')."""
    out = list(item.get("findings", []))
    for doc in item.get("documents", []):
        out.extend(doc.get("findings", []))
    return out


def _verdict(item: dict[str, Any]) -> dict[str, Any]:
    """valid / doc_type / level / indicator of a document.

    For an archive, ``valid`` is the archive's verdict and the other keys are those of its
    first document (UNKNOWN / unknown / none when it holds no document).
    """
    if item.get("kind") == "archive":
        docs = item.get("documents", [])
        first = docs[0] if docs else None
        return {
            "valid": item["valid"],
            "doc_type": first["doc_type"] if first else "UNKNOWN",
            "level": first["level"] if first else "unknown",
            "indicator": first["indicator"]["indicator"] if first else "none",
            "inferred": first["indicator"]["inferred"] if first else [],
        }
    return {"valid": item["valid"], "doc_type": item["doc_type"], "level": item["level"],
            "indicator": item["indicator"]["indicator"],
            "inferred": item["indicator"]["inferred"]}


SIDECARS = _sidecars()


def test_samples_exist() -> None:
    assert len(SIDECARS) >= 40, "samples/ is missing: run python scripts/make_samples.py"


@pytest.mark.parametrize("sidecar", SIDECARS, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_sample(sidecar: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _load(sidecar)
    sample = _sample_for(sidecar)
    code, report = _run(sample, expected["env"], capsys)
    assert len(report["items"]) == 1, "one input, one report item"
    item = report["items"][0]
    found = _findings(item) + list(report.get("findings", []))
    ids = [f["rule_id"] for f in found]
    summary = sorted({f"{f['rule_id']}:{f['severity']}" for f in found})
    verdict = _verdict(item)

    assert code == expected["exit_code"], f"exit code {code}; findings {summary}"
    for key in ("valid", "doc_type", "level", "indicator"):
        if key not in expected:
            continue  # archive sidecars may speak of their documents as a whole
        assert verdict[key] == expected[key], (
            f"{key}: {verdict[key]!r} != {expected[key]!r}; findings {summary}; "
            f"reasons {item.get('indicator', {}).get('reasons')}")
    missing = [r for r in expected["rules"] if r not in ids]
    assert not missing, f"required rules not reported: {missing}; findings {summary}"
    unexpected = [r for r in expected["absent_rules"] if r in ids]
    assert not unexpected, f"rules that must not appear: {unexpected}; findings {summary}"
    if "max_severity" in expected:
        ceiling = Severity(expected["max_severity"])
        worse = [s for s in summary if Severity(s.rsplit(":", 1)[1]).rank > ceiling.rank]
        assert not worse, f"findings above {ceiling}: {worse}"
    if "documents" in expected:
        assert len(item.get("documents", [])) == expected["documents"], "documents in the archive"
    if "indicators" in expected:
        got = [d["indicator"]["indicator"] for d in item.get("documents", [])]
        assert got == expected["indicators"], f"indicators {got}; findings {summary}"
    if expected.get("inferred_nonempty"):
        assert verdict["inferred"], "the indicator should say what it inferred"


def test_sidecar_rule_ids_are_declared() -> None:
    """Every id a sidecar names exists in the registry (a renamed rule breaks loudly)."""
    registry = load_all()
    unknown = {}
    for sidecar in SIDECARS:
        data = _load(sidecar)
        bad = [r for r in data["rules"] + data["absent_rules"] if r not in registry]
        if bad:
            unknown[str(sidecar.relative_to(SAMPLES))] = bad
    assert not unknown, f"sidecars name undeclared rules: {unknown}"


def test_pending_rules_are_still_pending() -> None:
    """A pending id that is now declared must move to ``rules`` (regenerate the samples)."""
    registry = load_all()
    ready = {}
    for sidecar in SIDECARS:
        data = _load(sidecar)
        now = [r for r in data.get("pending", []) if r in registry]
        if now:
            ready[str(sidecar.relative_to(SAMPLES))] = now
    assert not ready, f"pending rules are declared now, move them to rules: {ready}"


def test_every_ins_bdy_doc_rule_has_failing_and_passing_sample() -> None:
    """Issue 3: each INS, BDY and DOC rule is shown failing by one sample, passing by another."""
    registry = load_all()
    required, forbidden = set(), set()
    for sidecar in SIDECARS:
        data = _load(sidecar)
        required.update(data["rules"])
        forbidden.update(data["absent_rules"])
    families = [r.id for r in registry if r.family in ("INS", "BDY", "DOC")]
    assert families, "no INS/BDY/DOC rule declared"
    no_fail = [r for r in families if r not in required]
    no_pass = [r for r in families if r not in forbidden]
    assert not no_fail, f"rules with no failing sample: {no_fail}"
    assert not no_pass, f"rules with no passing sample: {no_pass}"


def _load_generator() -> Any:
    path = ROOT / "scripts" / "make_samples.py"
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("make_samples_under_test", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))


def test_samples_are_regenerated_identically(tmp_path: Path) -> None:
    """The generator is deterministic and samples/ is what it writes today."""
    generator = _load_generator()
    generator.generate(tmp_path)
    fresh = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(SAMPLES) for p in SAMPLES.rglob("*") if p.is_file()
                 and p.relative_to(SAMPLES).parts[0] != "hostile"}  # scripts/hostile_cases.py
    assert fresh, "the generator wrote nothing"
    assert fresh == committed, (f"only generated: {sorted(map(str, fresh - committed))}; "
                                f"only committed: {sorted(map(str, committed - fresh))}")
    changed = [str(p) for p in sorted(fresh) if (tmp_path / p).read_bytes() != (SAMPLES / p).read_bytes()]
    assert not changed, f"samples out of date (run python scripts/make_samples.py): {changed}"
