"""Time `cdacheck` on an IHE XDM archive of 100 documents (median of several runs).

Usage: python bench/bench_xdm.py [--documents 100] [--runs 5]

Builds one archive (one patient, N distinct N1 discharge letters, each with its PDF twin)
with scripts/samples_xdm.py, then times:
  * reading only (open_archive),
  * the archive checks alone (check_archive with a document callback that only extracts
    header facts),
  * the whole pipeline (Runner.check_archive: every CDA through XSD, packs, INS, level,
    indicator), after one warm-up run so that schema and pack compilation are excluded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import make_samples  # noqa: E402
import samples_lib as L  # noqa: E402
import samples_xdm as X  # noqa: E402

from cdacheck.checks.xdm import check_archive  # noqa: E402
from cdacheck.config import Settings  # noqa: E402
from cdacheck.detect import detect  # noqa: E402
from cdacheck.facts import extract_facts  # noqa: E402
from cdacheck.inputs.xdm import open_archive  # noqa: E402
from cdacheck.inputs.xml import parse_document  # noqa: E402
from cdacheck.model import DocumentReport  # noqa: E402
from cdacheck.pipeline import Runner  # noqa: E402


def build(n: int) -> bytes:
    docs = [(f"bench-{i}", L.serialize(L.build_cda(L.with_(make_samples.LDL_SES,
                                                           name=f"bench-ldl-{i:03d}"))))
            for i in range(n)]
    return X.archive_bytes(X.Archive(X._entries(docs, twins=True), "bench"))


def facts_only(data: bytes, source: str, member: str):  # type: ignore[no-untyped-def]
    doc, _ = parse_document(data, source, member)
    facts = extract_facts(doc) if doc is not None else None
    level = detect(facts).level if facts is not None else "unknown"
    return DocumentReport(source=source, member=member, valid=True, level=level), facts, doc


def timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = build(args.documents)
    settings = Settings(env="test")
    runner = Runner(settings)
    report = runner.check_archive(data, "bench.zip")  # warm-up: compile schema and packs
    errors = [f.rule_id for f in report.findings if f.severity.value in ("error", "fatal")]
    print(f"archive: {len(data) / 1024:.0f} kB, {len(report.members)} members, "
          f"{len(report.documents)} CDA, valid={report.valid}, archive errors={errors[:5]}")
    read = timed(lambda: open_archive(data, "bench.zip", settings.xdm), args.runs)
    checks = timed(lambda: check_archive(open_archive(data, "bench.zip", settings.xdm),
                                         settings, facts_only), args.runs)
    full = timed(lambda: runner.check_archive(data, "bench.zip"), args.runs)
    n = args.documents
    print(f"median of {args.runs} runs, {n} documents:")
    print(f"  read (open_archive)          {read * 1000:8.1f} ms")
    print(f"  archive checks + facts       {checks * 1000:8.1f} ms")
    print(f"  full pipeline                {full * 1000:8.1f} ms  ({full * 1000 / n:.1f} ms/document)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
