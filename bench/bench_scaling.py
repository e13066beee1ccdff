"""Benchmark: how default mode scales with processes on this machine, without HTTP.

    python bench/bench_scaling.py [--seconds 8] [KIND ...]

KIND: ``loop`` (a pure-Python busy loop), ``small`` (our N1 samples), ``kit`` (the kit's 94
examples, CDACHECK_KIT). For each kind, 1 then 2 processes (spawned, each with its own warm
runner) check documents in a closed loop for ``--seconds``; rounds alternate 1, 2, 1, 2 and
the best of each is kept. The ratio (2 processes / 1) is the ceiling that the service's
2-worker figure (bench/bench_service.py) can reach once the HTTP layer and the load generator
take their share of the same cores.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))


def _documents(kind: str) -> list[tuple[str, bytes]]:
    if kind == "small":
        paths = sorted((ROOT / "samples" / "documents").glob("*n1*.xml"))
    else:
        paths = sorted((KIT / "ExemplesCDA").glob("*.xml"))
    return [(p.name, p.read_bytes()) for p in paths]


def _work(kind: str, seconds: float, out: mp.Queue) -> None:
    if kind == "loop":
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for i in range(10_000):
                n += i
        out.put(n / seconds)
        return
    from cdacheck.config import Settings
    from cdacheck.pipeline import Runner

    data = _documents(kind)
    runner = Runner(Settings(env="test"))
    for name, raw in data[:5]:
        runner.check_document(raw, name)
    k, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        name, raw = data[k % len(data)]
        runner.check_document(raw, name)
        k += 1
    out.put(k / seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kinds", nargs="*", default=["loop", "small", "kit"])
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args(argv)
    mp.set_start_method("spawn")
    print(f"cores {os.cpu_count()}; load average at start {os.getloadavg()[0]:.1f}")
    print("| kind | 1 process | 2 processes | ratio |\n|---|---:|---:|---:|")
    for kind in args.kinds:
        if kind == "kit" and not KIT.is_dir():
            print(f"| kit | skipped: no kit at {KIT} | | |")
            continue
        best: dict[int, float] = {1: 0.0, 2: 0.0}
        for n in (1, 2, 1, 2):
            q: mp.Queue = mp.Queue()
            procs = [mp.Process(target=_work, args=(kind, args.seconds, q)) for _ in range(n)]
            for p in procs:
                p.start()
            total = sum(q.get() for _ in procs)
            for p in procs:
                p.join()
            best[n] = max(best[n], total)
        unit = "loops/s" if kind == "loop" else "docs/s"
        print(f"| {kind} | {best[1]:,.1f} {unit} | {best[2]:,.1f} {unit} | {best[2] / best[1]:.2f}x |",
              flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
