"""Data-driven hostile cases (issue 10): samples/hostile/<name>.xml with <name>.hostile.json,
and samples/hostile/generated/<name>.hostile.json whose input scripts/hostile_cases.py
builds at test time (binary or large inputs are never committed).

Every case runs through the real command line, under a 60 s alarm (a hang fails the test
instead of blocking the suite), and must give: its exit code, the rules it names, none of
its absent rules, no internal failure (INT*, XDM099), every engine on every document when
``engines`` is given, and under 30 s. ``text_forbidden`` strings must not reach the text
output (terminal escapes, file contents).
"""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest

from cdacheck.cli import main
from cdacheck.registry import load_all

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "samples" / "hostile"
SIDECAR = ".hostile.json"
KEYS = {"env", "exit_code", "rules", "absent_rules", "description"}
OPTIONAL = {"engines", "documents", "text_forbidden", "args"}
MAX_SECONDS = 30


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "hostile_cases.py"
    spec = importlib.util.spec_from_file_location("hostile_cases_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


GEN = _generator()
CASES = sorted(HOSTILE.rglob(f"*{SIDECAR}"))


class _Hang(Exception):
    pass


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Hang("more than 60 s")


def _input_for(sidecar: Path, tmp_path: Path) -> Path:
    name = sidecar.name[: -len(SIDECAR)]
    if sidecar.parent.name == "generated":
        data = GEN.generated(name)
        path = tmp_path / (name + (".zip" if data.startswith(b"PK") else ".xml"))
        path.write_bytes(data)
        return path
    return sidecar.parent / f"{name}.xml"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    capsys.readouterr()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    start = time.perf_counter()
    try:
        code = main(args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, capsys.readouterr().out, time.perf_counter() - start


def test_cases_exist() -> None:
    assert len(CASES) >= 25
    names = {p.name[: -len(SIDECAR)] for p in CASES if p.parent.name == "generated"}
    assert names == set(GEN.GENERATED), "every generated case has a sidecar, and back"


@pytest.mark.parametrize("sidecar", CASES, ids=lambda p: str(p.relative_to(HOSTILE)))
def test_hostile_case(sidecar: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected: dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8"))
    assert KEYS <= expected.keys() <= KEYS | OPTIONAL, f"sidecar keys {sorted(expected)}"
    path = _input_for(sidecar, tmp_path)
    base = ["check", "--isolated", "--env", expected["env"], *expected.get("args", [])]
    code, out, seconds = _run([*base, "--format", "json", str(path)], capsys)
    report = json.loads(out)
    item = report["items"][0]
    docs = item.get("documents", []) if item.get("kind") == "archive" else [item]
    found = [f for f in item["findings"]] + [f for d in docs if d is not item for f in d["findings"]]
    ids = sorted({f["rule_id"] for f in found})
    internal = [f"{f['rule_id']}: {f['message'][:200]}" for f in found
                if f["rule_id"].startswith("INT") or f["rule_id"] == "XDM099"]
    assert not internal, f"internal failures: {internal}"
    assert code == expected["exit_code"], f"exit code {code}; findings {ids}"
    missing = [r for r in expected["rules"] if r not in ids]
    assert not missing, f"required rules not reported: {missing}; findings {ids}"
    unexpected = [r for r in expected["absent_rules"] if r in ids]
    assert not unexpected, f"rules that must not appear: {unexpected}; findings {ids}"
    if "engines" in expected:
        assert docs, "no document report"
        for doc in docs:
            assert doc["packs"] == expected["engines"], f"{doc['member'] or doc['source']}: engines {doc['packs']}"
    if "documents" in expected:
        assert len(docs) == expected["documents"], f"{len(docs)} document reports"
    assert seconds < MAX_SECONDS, f"{seconds:.1f} s"
    if "text_forbidden" in expected:
        _code, text, _s = _run([*base, "-v", str(path)], capsys)
        for bad in expected["text_forbidden"]:
            assert bad not in text, f"{bad!r} reached the text output"


def test_sidecar_rule_ids_are_declared() -> None:
    registry = load_all()
    bad = {}
    for sidecar in CASES:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        unknown = [r for r in data["rules"] + data["absent_rules"] if r not in registry]
        if unknown:
            bad[sidecar.name] = unknown
    assert not bad, f"undeclared rules: {bad}"


def test_text_cases_are_up_to_date(tmp_path: Path) -> None:
    """samples/hostile/*.xml are what scripts/hostile_cases.py writes today."""
    written = {p.name: p.read_bytes() for p in GEN.write_text_cases(tmp_path)}
    committed = {p.name: p.read_bytes() for p in HOSTILE.glob("*.xml")}
    assert written == committed
