"""Benchmark of ``cdacheck stats``: time and peak RSS of the aggregation for N report rows.

    python bench/bench_stats.py [--sizes 100000 1000000] [--reports 20000] [--json out.json]

Each measure runs in a fresh child process (peak RSS = that process's ``ru_maxrss``):

* rows N: N generated document rows (the shape :mod:`cdacheck.stats.rows` gives DuckDB:
  5 indicators, 40 establishments, 12 months, ~10 % older versions, ~2 % RPLC replacements,
  ~30 % not qualifying with 1-3 reasons each, 2 % in rejected archives) plus a stays file of
  N/3 stays (read and validated by :func:`read_stays`), then :func:`compute_rows`: CSV
  spill, DuckDB load, logical documents, units, rates and reasons. DuckDB runs with
  ``--memory-limit`` (default 512MB, the engine's default) and 2 threads. The generator's
  own time (measured by a dry pass) is subtracted; its memory is not (it streams).
* reports M: a JSON-lines file of M DocumentReports (copies of a real report of our
  samples, with varied setId, version, stay and document id) read by the report reader
  (pydantic validation of each line) and aggregated: the cost of ``stats`` over reports
  written earlier.

Generated data only, with the test INS of the samples.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REASONS = ("pas d'INS qualifié", "biologie en N1 (N3 exigé pour DS 2.1)",
           "« de sortie » non démontrable : document hors de la fenêtre de sortie",
           "règle bloquante BDY013", "règle bloquante SCH/ldl-ses/ldl-n3-template",
           "trait INS absent : date de naissance")
INDICATORS = ("DS 1.1", "DS 1.2", "DS 1.3", "DS 2.1", "DS 3.1", "none")


def _finess(i: int) -> str:
    return f"{750000000 + i * 17:09d}"


def gen_rows(n: int, seed: int = 13) -> Iterator:  # type: ignore[type-arg]
    from cdacheck.stats.rows import DocRow

    rnd = random.Random(seed)
    stays = max(n // 3, 1)
    start = dt.date(2024, 1, 1)
    for i in range(n):
        logical = i if rnd.random() > 0.10 else rnd.randrange(max(i, 1))  # ~10 % new versions
        stay = logical % stays
        ok = rnd.random() > 0.30
        rejected = rnd.random() < 0.02
        yield DocRow(
            source=f"/corpus/doc-{i:07d}.xml", logical=f"2.25.{logical}", doc_id=f"2.25.9{i}",
            version=rnd.randint(1, 3), candidate=rnd.choice(INDICATORS),
            qualifies=ok and not rejected, rejected=rejected,
            stay=f"2.25.1^SEJ-{stay}", stay_ext=f"SEJ-{stay}", finess=_finess(stay % 40),
            doc_date=(start + dt.timedelta(days=stay % 365)).isoformat(),
            reasons=[] if ok else rnd.sample(REASONS, rnd.randint(1, 3)),
            replaces=[f"2.25.9{rnd.randrange(i)}"] if i and rnd.random() < 0.02 else [])


def write_stays(path: Path, n: int) -> None:
    start = dt.date(2024, 1, 1)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("stay_id,finess,discharge_date,surgical\n")
        for s in range(max(n // 3, 1)):
            day = start + dt.timedelta(days=s % 365)
            fh.write(f"SEJ-{s},{_finess(s % 40)},{day.isoformat()},{s % 4 == 0:d}\n")


MEMORY_LIMIT = "512MB"


def measure_rows(n: int) -> dict:  # type: ignore[type-arg]
    from cdacheck.stats.engine import StatsOptions, compute_rows
    from cdacheck.stats.inputs import read_stays

    with tempfile.TemporaryDirectory() as tmp:
        stays_path = Path(tmp) / "stays.csv"
        write_stays(stays_path, n)
        t0 = time.perf_counter()
        for _ in gen_rows(n):  # a dry pass: the generator's own time, subtracted below
            pass
        gen_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        stays = read_stays(stays_path)
        result = compute_rows(gen_rows(n), StatsOptions(stays=stays, memory_limit=MEMORY_LIMIT))
        elapsed = time.perf_counter() - t0 - gen_seconds
    total = next(r for r in result.rates if r["indicator"] == "DS 1.1"
                 and r["establishment"] == "*" and r["month"] == "total")
    return {"kind": "rows", "n": n, "seconds": round(elapsed, 2),
            "generation_seconds_excluded": round(gen_seconds, 2), "memory_limit": MEMORY_LIMIT,
            "stays": len(stays), "rate_rows": len(result.rates),
            "ds11": f"{total['numerator']}/{total['denominator']}"}


def write_reports(path: Path, m: int) -> None:
    import cdacheck

    base = cdacheck.check(str(ROOT / "samples" / "documents" / "ldl-ses-n1.xml"),
                          env="test").items[0].model_dump(mode="json")
    rnd = random.Random(7)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(m):
            doc = base  # changed in place, then written
            ind = doc["indicator"]
            ind["set_id"] = f"2.25.{i if rnd.random() > 0.1 else rnd.randrange(max(i, 1))}"
            ind["version"] = str(rnd.randint(1, 3))
            ind["stay_key"] = {"value": f"2.25.1^SEJ-{i // 3}", "source": "encounter-id"}
            doc["facts"]["id"] = {"root": f"2.25.9{i}"}
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")


def measure_reports(m: int) -> dict:  # type: ignore[type-arg]
    from cdacheck.stats.engine import StatsOptions, compute
    from cdacheck.stats.inputs import iter_report_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reports.jsonl"
        write_reports(path, m)
        size = path.stat().st_size
        t0 = time.perf_counter()
        result = compute(iter_report_file(path), StatsOptions())
        elapsed = time.perf_counter() - t0
    return {"kind": "reports", "n": m, "seconds": round(elapsed, 2),
            "file_mb": round(size / 1e6, 1), "logical": result.counts["logical_documents"]}


def child(kind: str, n: int, memory_limit: str) -> None:
    global MEMORY_LIMIT
    MEMORY_LIMIT = memory_limit
    out = measure_rows(n) if kind == "rows" else measure_reports(n)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--reports", type=int, nargs="*", default=[20_000])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--memory-limit", default="512MB", help="DuckDB memory_limit")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.memory_limit)
        return
    results = []
    for kind, sizes in (("rows", args.sizes), ("reports", args.reports)):
        for n in sizes:
            proc = subprocess.run([sys.executable, __file__, "--child", kind, str(n),
                                   "--memory-limit", args.memory_limit],
                                  capture_output=True, text=True, timeout=1800, check=False)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"{kind} {n}: exit {proc.returncode}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(res)
            print(f"{kind:<8} {n:>9,}  {res['seconds']:>7.2f} s  peak RSS "
                  f"{res['peak_rss_mb']:>7.1f} MB  {json.dumps(res, ensure_ascii=False)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
