"""Default mode says the same of the kit's examples as the stored reports, finding by finding.

Issue 14, item 2: speed work must not change a verdict. tests/data/kit94_reports.json holds
every default-mode report of the kit's ``ExemplesCDA`` (validity, type, level, indicator,
each finding's rule id, severity, line, XPath and message), written by
``python scripts/kit94_reports.py``. A deliberate rule change regenerates it; the diff then
shows every report it changed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.kit

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("kit94_reports", ROOT / "scripts" / "kit94_reports.py")
assert _spec is not None and _spec.loader is not None
K = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(K)


def test_kit_examples_reports_unchanged(kit_dir: Path) -> None:
    stored = json.loads(K.OUT.read_text(encoding="utf-8"))["reports"]
    fresh = K.reports(kit_dir)
    assert sorted(fresh) == sorted(stored), "the kit's examples are not the ones the reports were stored for"
    assert len(fresh) >= 90
    assert any(r["findings"] for r in stored.values()), "no stored finding: the comparison would prove little"
    diffs = []
    for name in sorted(stored):
        old, new = stored[name], fresh[name]
        for field in ("valid", "doc_type", "level", "indicator"):
            if old[field] != new[field]:
                diffs.append(f"{name}: {field} {old[field]!r} -> {new[field]!r}")
        gone = [f for f in old["findings"] if f not in new["findings"]]
        added = [f for f in new["findings"] if f not in old["findings"]]
        diffs += [f"{name}: finding gone {f}" for f in gone] + [f"{name}: finding added {f}" for f in added]
        if not gone and not added and old["findings"] != new["findings"]:
            diffs.append(f"{name}: same findings in another order")
    assert not diffs, "\n".join(diffs[:40]) + "\n(python scripts/kit94_reports.py rewrites the file)"

