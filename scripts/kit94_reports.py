"""The default-mode reports of the kit's examples, finding by finding (issue 14, item 2).

    python scripts/kit94_reports.py [--kit KIT] [--check]

Writes tests/data/kit94_reports.json: for every ``ExemplesCDA/*.xml`` of the kit, what
default mode (``--env test``, every engine) says of it — validity, type, level, indicator
and every finding (rule id, severity, line, XPath, message). tests/test_kit94_reports.py
compares a fresh run with it, so a speed change that alters a verdict fails the suite; a
rule change regenerates the file and the diff shows every report it changed. Only our own
output is stored (rule ids, our messages), never a copy of a kit document.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "kit94_reports.json"
DEFAULT_KIT = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))


def reports(kit: Path) -> dict[str, dict]:
    from cdacheck.config import Settings
    from cdacheck.pipeline import Runner

    runner = Runner(Settings(env="test"))
    out: dict[str, dict] = {}
    for path in sorted((kit / "ExemplesCDA").glob("*.xml"), key=lambda p: p.name):
        report, _, _ = runner.check_document(path.read_bytes(), path.name)
        out[path.name] = {
            "valid": report.valid, "doc_type": report.doc_type, "level": report.level,
            "indicator": report.indicator.indicator,
            "findings": [[f.rule_id, f.severity.value, f.location.line, f.location.xpath, f.message]
                         for f in report.findings],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kit", type=Path, default=DEFAULT_KIT)
    ap.add_argument("--check", action="store_true", help="compare with the stored file, write nothing")
    args = ap.parse_args(argv)
    if not (args.kit / "ExemplesCDA").is_dir():
        print(f"no kit examples under {args.kit}", file=sys.stderr)
        return 2
    fresh = reports(args.kit)
    if args.check:
        stored = json.loads(OUT.read_text(encoding="utf-8"))["reports"]
        changed = sorted(k for k in set(stored) | set(fresh) if stored.get(k) != fresh.get(k))
        print(f"{len(fresh)} reports, {len(changed)} changed: {changed[:10]}")
        return 1 if changed else 0
    OUT.write_text(json.dumps({"about": "default-mode reports of the kit examples "
                                        "(scripts/kit94_reports.py)", "reports": fresh},
                              ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    n = sum(len(r["findings"]) for r in fresh.values())
    print(f"{len(fresh)} reports, {n} findings -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
