"""Write the JSON Schema of cdacheck's report (RunReport), generated from the models.

    python scripts/gen_report_schema.py            # writes the two copies below
    python scripts/gen_report_schema.py --check    # exit 1 when a copy is out of date

Copies: ``cdacheck/data/report.schema.json`` (shipped in the wheel, see
``cdacheck.report_schema()``) and ``docs/report.schema.json``. tests/test_report_schema.py
fails when they drift from the models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdacheck.schema import schema_text  # noqa: E402

TARGETS = (ROOT / "cdacheck" / "data" / "report.schema.json", ROOT / "docs" / "report.schema.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    text = schema_text()
    stale = [t for t in TARGETS if not t.is_file() or t.read_text(encoding="utf-8") != text]
    if args.check:
        for t in stale:
            print(f"out of date: {t.relative_to(ROOT)}")
        return 1 if stale else 0
    for t in TARGETS:
        t.parent.mkdir(parents=True, exist_ok=True)
        t.write_text(text, encoding="utf-8")
        print(f"wrote {t.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
