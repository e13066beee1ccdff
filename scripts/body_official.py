#!/usr/bin/env python3
"""Record the official verdicts of the body-pack variants (tests/body_variants.py).

    python scripts/body_official.py build DIR        # write every variant to DIR/<name>.xml
    python .../official.py --kit KIT --out OUT ... DIR  # the official pipeline, one batch
    python scripts/body_official.py record OUT/results.json

``build`` gives each variant the ``<?oxygen SCHSchema?>`` instructions of its kit example (our
samples get those of a kit example of the same type), so the official pipeline runs the
kit's usual schematrons on it. ``record`` keeps, per variant, the official verdict and its
failed asserts (schematron, pattern, role, the first 160 characters of the text) in
tests/data/body_official.json, which tests/test_body_rules.py compares default mode with,
so the tests need neither Java nor the official pipeline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import body_variants  # noqa: E402

OUT = ROOT / "tests" / "data" / "body_official.json"


def build(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for name, data in body_variants.build(with_pis=True):
        (folder / f"{name}.xml").write_bytes(data)
        n += 1
    return n


def record(results: Path) -> int:
    data = json.loads(results.read_text(encoding="utf-8"))
    known = {v[0] for v in body_variants.VARIANTS}
    stored = json.loads(OUT.read_text(encoding="utf-8")) if OUT.is_file() else {"variants": {}}
    tool = data.get("tool", {})
    stored["meta"] = {"kit_commit": (tool.get("kit") or {}).get("commit"),
                      "pipeline": tool.get("pipeline"), "saxon": tool.get("saxon"),
                      "verdict": "XSD invalid, a schematron that did not run, or a failed assert "
                                 "whose role is not warning/info"}
    n = 0
    for path, doc in data.get("documents", {}).items():
        name = Path(path).stem
        if name not in known:
            continue
        failed = []
        for sch, res in sorted(doc.get("schematrons", {}).items()):
            for f in res.get("failed", []):
                if (f.get("role") or "").lower() in ("warning", "info"):
                    continue
                failed.append({"schematron": Path(sch).stem, "pattern": f.get("pattern"),
                               "role": f.get("role"), "text": (f.get("text") or "")[:160]})
        stored["variants"][name] = {
            "official_invalid": bool(doc.get("official_invalid")),
            "xsd_valid": bool(doc.get("xsd_valid")),
            "failed": failed,
        }
        n += 1
    stored["variants"] = dict(sorted(stored["variants"].items()))
    OUT.write_text(json.dumps(stored, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return n


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    if len(argv) != 2 or argv[0] not in ("build", "record"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "build":
        print(f"{build(Path(argv[1]))} variant(s) written to {argv[1]}")
    else:
        print(f"{record(Path(argv[1]))} variant(s) recorded in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
