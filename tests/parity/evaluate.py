"""Default mode against the stored official verdicts (issue 17, items 3 and 4).

Shared by tests/test_official_parity.py and scripts/parity_misses.py. Needs the kit (the
mutants are regenerated from it) but neither Java nor the official pipeline: the official
verdicts come from tests/data/parity/official.json (scripts/official_parity.py).

Figures, over the stored mutants whose base the official pipeline accepts:

* (a) officially rejected mutants on which default mode raises an error-level finding that
  its base does not have (target >= 99 %);
* (b) officially rejected mutants that default mode still awards an indicator (target 0);
* (c) officially accepted mutants on which default mode adds an error-level finding the base
  does not have, the deliberately stricter rules of stricter.toml aside (target <= 1 %).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cdacheck.config import Settings
from cdacheck.model import Severity
from cdacheck.pipeline import Runner

from parity import mutants as M

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "parity"
OFFICIAL_JSON = DATA / "official.json"
TARGETED_JSON = DATA / "targeted.json"
STRICTER_TOML = DATA / "stricter.toml"
REASONS_TOML = DATA / "reasons.toml"
COVERAGE_JSON = DATA / "coverage.json"
FIGURES_JSON = DATA / "figures.json"

# Bases whose volet the kit cannot compile (CR-BIO 2023.01: its include folder is an empty file):
# the official pipeline accepts their mutants for want of the volet's rules, so they are left out
# of figure (c) (still counted in (a) and (b): the profiles did run).
KIT_DEFECT_BASES = frozenset({"kit/BIO-CR-BIO_2023.01_Electrophorese"})

TARGET_A = 0.99
TARGET_C = 0.01

# Lines printed in pytest's terminal summary (tests/conftest.py) once the parity test ran.
SUMMARY: list[str] = []


def load_official() -> dict:
    return json.loads(OFFICIAL_JSON.read_text(encoding="utf-8"))


def load_targeted() -> list[tuple[str, str, str]]:
    if not TARGETED_JSON.is_file():
        return []
    rows = json.loads(TARGETED_JSON.read_text(encoding="utf-8"))["mutants"]
    return [(r["base"], r["operator"], r["target"]) for r in rows]


def load_stricter() -> dict[str, str]:
    """Rule id -> why it is deliberately stricter than the kit."""
    if not STRICTER_TOML.is_file():
        return {}
    data = tomllib.loads(STRICTER_TOML.read_text(encoding="utf-8"))
    return {r["id"]: r["reason"] for r in data.get("rule", [])}


def load_reasons() -> dict[str, dict[str, str]]:
    """Official assert key (or key prefix ending in '|') -> {status, reason}."""
    if not REASONS_TOML.is_file():
        return {}
    data = tomllib.loads(REASONS_TOML.read_text(encoding="utf-8"))
    return {r["key"]: {"status": r["status"], "reason": r["reason"]} for r in data.get("assert", [])}


def pool(kit: Path) -> tuple[list[M.Base], list[M.Mutant]]:
    return M.all_bases(kit), M.generate(kit, extra=load_targeted())


@dataclass(frozen=True)
class Verdict:
    """What default mode says about one document."""

    errors: frozenset[str]
    indicator: str
    messages: tuple[tuple[str, str], ...] = ()   # (rule id, message) of the error-level findings
    others: frozenset[str] = frozenset()          # rule ids of the findings below error


def default_mode(docs: list[tuple[str, bytes]]) -> dict[str, Verdict]:
    """Default mode (no kit), test environment (the kit examples carry test INS), one Runner."""
    runner = Runner(Settings(env="test"))
    out: dict[str, Verdict] = {}
    for doc_id, data in docs:
        report, _, _ = runner.check_document(data, doc_id)
        errs = [f for f in report.findings if f.severity.at_least(Severity.ERROR)]
        out[doc_id] = Verdict(frozenset(f.rule_id for f in errs), report.indicator.indicator,
                              tuple((f.rule_id, f.message[:300]) for f in errs),
                              frozenset(f.rule_id for f in report.findings if f not in errs))
    return out


@dataclass
class Figures:
    rejected: list[str] = field(default_factory=list)
    caught: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    indicator: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    stricter_only: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)        # base rejected officially, or a schematron did not run

    @property
    def a(self) -> float:
        return len(self.caught) / len(self.rejected) if self.rejected else 1.0

    @property
    def b(self) -> int:
        return len(self.indicator)

    @property
    def c(self) -> float:
        return len(self.false_alarms) / len(self.accepted) if self.accepted else 0.0

    def lines(self) -> list[str]:
        return [
            f"(a) officially rejected mutants with a new error-level finding in default mode: "
            f"{len(self.caught)}/{len(self.rejected)} = {100 * self.a:.1f} % (target >= {100 * TARGET_A:.0f} %)",
            f"(b) officially rejected mutants still awarded an indicator: {self.b}/{len(self.rejected)} (target 0)",
            f"(c) officially accepted mutants with an added error-level finding (stricter rules aside): "
            f"{len(self.false_alarms)}/{len(self.accepted)} = {100 * self.c:.1f} % (target <= {100 * TARGET_C:.0f} %)",
        ]

    def as_dict(self) -> dict[str, object]:
        return {"a": round(self.a, 4), "a_caught": len(self.caught), "rejected": len(self.rejected),
                "b": self.b, "c": round(self.c, 4), "c_false_alarms": len(self.false_alarms),
                "accepted": len(self.accepted), "stricter_only": len(self.stricter_only),
                "skipped": len(self.skipped)}


@dataclass
class Evaluation:
    official: dict
    bases: list[M.Base]
    mutants: list[M.Mutant]
    verdicts: dict[str, Verdict]
    figures: Figures
    sha_mismatch: list[str]
    unstored: list[str]
    stricter: dict[str, str]

    def new_errors(self, mutant_id: str) -> frozenset[str]:
        base = mutant_id.split("|", 1)[0]
        return self.verdicts[mutant_id].errors - self.verdicts[base].errors


def evaluate(kit: Path) -> Evaluation:
    official = load_official()
    bases, mutants = pool(kit)
    stored = official["mutants"]
    sha_mismatch = [m.id for m in mutants if m.id in stored and stored[m.id]["sha256"] != m.sha256]
    unstored = [m.id for m in mutants if m.id not in stored]
    docs = [(b.id, M.base_document(b)) for b in bases] + [(m.id, m.data) for m in mutants]
    verdicts = default_mode(docs)
    stricter = load_stricter()
    fig = Figures()
    base_rows = official["bases"]
    for m in mutants:
        row = stored.get(m.id)
        if row is None or row["sha256"] != m.sha256:
            continue
        base_row = base_rows.get(m.base)
        if base_row is None or base_row["official_invalid"] or not row.get("all_ran", True):
            fig.skipped.append(m.id)
            continue
        new = verdicts[m.id].errors - verdicts[m.base].errors
        if row["official_invalid"]:
            fig.rejected.append(m.id)
            (fig.caught if new else fig.missed).append(m.id)
            if verdicts[m.id].indicator != "none":
                fig.indicator.append(m.id)
        elif m.base in KIT_DEFECT_BASES:
            fig.skipped.append(m.id)
        else:
            fig.accepted.append(m.id)
            if new - set(stricter):
                fig.false_alarms.append(m.id)
            elif new:
                fig.stricter_only.append(m.id)
    return Evaluation(official, bases, mutants, verdicts, fig, sha_mismatch, unstored, stricter)
