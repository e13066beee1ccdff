"""Benchmark: streamed batches of many documents, ``--jobs 1`` and ``--jobs 2``, JSONL and JSON.

    python bench/bench_batch.py [--count 10000] [--small 1000] [--jobs 1 2] [--formats jsonl json]

The inputs are the official kit's 94 example documents (CDACHECK_KIT, default
../shared/cisis-kit), repeated through symbolic links in a temporary folder until there
are ``--count`` of them (nothing is copied). Each run is ``python -m cdacheck --env test
--format F -j N -o /dev/null DIR`` as a user runs it; the figures are the wall time,
documents per second and the peak resident memory of the whole process tree (the CLI and
its workers, sampled every 100 ms). ``--small`` runs the same with fewer documents, to show
that the peak does not grow with the count. Target (issue 11): peak under 400 MB whatever
the count, JSONL and JSON alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def kit_examples() -> list[Path]:
    kit = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))
    docs = sorted((kit / "ExemplesCDA").glob("*.xml"))
    if not docs:
        sys.exit(f"kit examples not found under {kit}/ExemplesCDA (set CDACHECK_KIT)")
    return docs


def make_inputs(folder: Path, docs: list[Path], count: int) -> None:
    for i in range(count):
        src = docs[i % len(docs)]
        (folder / f"{i:06d}-{src.name}").symlink_to(src)


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(sum, largest single process) of the resident memory of ``proc`` and its children."""
    sizes = []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            sizes.append(p.memory_info().rss)
        except psutil.Error:
            pass
    return sum(sizes), max(sizes, default=0)


def run(folder: Path, fmt: str, jobs: int) -> dict[str, float]:
    cmd = [sys.executable, "-m", "cdacheck", "--env", "test", "--format", fmt, "-j", str(jobs),
           "--no-progress", "-o", os.devnull, str(folder)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak = single = 0
    while proc.poll() is None:
        total, largest = tree_rss(ps)
        peak, single = max(peak, total), max(single, largest)
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        sys.exit(f"cdacheck failed ({proc.returncode}): {err}")
    return {"seconds": elapsed, "peak_mb": peak / 2**20, "single_mb": single / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=1_000)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--formats", nargs="+", default=["jsonl", "json"])
    ap.add_argument("--only", nargs="*", default=None, metavar="FMT:JOBS",
                    help="for the --count run, only these combinations (e.g. jsonl:2 json:2)")
    args = ap.parse_args()
    docs = kit_examples()
    print(f"kit examples: {len(docs)}; cores: {len(os.sched_getaffinity(0))}; "
          f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| documents | format | jobs | wall | docs/s | peak RSS, whole tree | largest process |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for count in (args.small, args.count):
        if count <= 0:
            continue
        with tempfile.TemporaryDirectory(prefix="cdacheck-bench-") as tmp:
            folder = Path(tmp)
            make_inputs(folder, docs, count)
            for fmt in args.formats:
                for jobs in args.jobs:
                    if count == args.count and args.only is not None and f"{fmt}:{jobs}" not in args.only:
                        continue
                    r = run(folder, fmt, jobs)
                    print(f"| {count:,} | {fmt} | {jobs} | {r['seconds']:.1f} s | "
                          f"{count / r['seconds']:.1f} | {r['peak_mb']:.0f} MB | "
                          f"{r['single_mb']:.0f} MB |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
