"""Benchmark: compile and validation time, embedded schema vs the kit's CDA_extended.xsd.

    python bench/bench_xsd.py [--runs 7]

Reads the kit from CDACHECK_KIT (default ../shared/cisis-kit). Each figure is the median
of ``--runs`` runs: compile = a fresh ``XMLSchema`` build of the entry file; validation =
every kit example (its ClinicalDocument subtree, already parsed) validated once, the time
divided by the number of documents. Both schemas are measured in the same process, run
after run alternately, so the machine's load affects them alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdacheck.engines.xsd import EMBEDDED_ENTRY  # noqa: E402
from cdacheck.inputs.xml import make_parser  # noqa: E402

CDA = "{urn:hl7-org:v3}ClinicalDocument"


def compile_once(entry: Path) -> tuple[etree.XMLSchema, float]:
    start = time.perf_counter()
    schema = etree.XMLSchema(etree.parse(str(entry)))
    return schema, time.perf_counter() - start


def validate_all(schema: etree.XMLSchema, docs: list[etree._Element]) -> float:
    start = time.perf_counter()
    for cda in docs:
        schema.validate(cda)
    return (time.perf_counter() - start) / len(docs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    kit = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))
    official = kit / "infrastructure" / "cda" / "CDA_extended.xsd"
    if not official.is_file():
        print(f"kit not found under {kit} (set CDACHECK_KIT)", file=sys.stderr)
        return 2
    files = sorted((kit / "ExemplesCDA").glob("*.xml"))
    docs = []
    for f in files:
        root = etree.fromstring(f.read_bytes(), make_parser())
        docs.append(root if root.tag == CDA else next(root.iter(CDA)))
    schemas = {"embedded": EMBEDDED_ENTRY, "official": official}
    compile_s: dict[str, list[float]] = {k: [] for k in schemas}
    valid_s: dict[str, list[float]] = {k: [] for k in schemas}
    for _ in range(args.runs):
        for name, entry in schemas.items():
            schema, took = compile_once(entry)
            compile_s[name].append(took)
            valid_s[name].append(validate_all(schema, docs))
    print(f"{len(docs)} kit documents, median of {args.runs} runs, lxml {etree.LXML_VERSION}, "
          f"libxml2 {etree.LIBXML_VERSION}")
    print(f"{'schema':<10} {'compile (ms)':>13} {'validate (ms/doc)':>18}")
    for name in schemas:
        print(f"{name:<10} {statistics.median(compile_s[name]) * 1e3:>13.1f} "
              f"{statistics.median(valid_s[name]) * 1e3:>18.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
