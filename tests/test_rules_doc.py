"""docs/rules.md is generated from the registry; it must not drift, and ids must be sane."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cdacheck.registry import RULE_ID_RE, load_all

ROOT = Path(__file__).resolve().parent.parent


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_rules_doc", ROOT / "scripts" / "gen_rules_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rules_doc_is_up_to_date() -> None:
    gen = _generator()
    expected = gen.render(list(load_all()))
    current = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == expected, "docs/rules.md is stale: run python scripts/gen_rules_doc.py"


def test_every_rule_is_well_formed() -> None:
    rules = list(load_all())
    assert rules
    for r in rules:
        assert RULE_ID_RE.match(r.id)
        assert r.template.strip() and r.summary.strip(), r.id
