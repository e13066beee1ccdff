"""Benchmark: default mode on the kit's 94 real examples, side by side with another cdacheck
(a baseline checkout) and with the lxml floor (parse + XSD), in one run.

    python bench/bench_kit94.py [--baseline-python OTHER/.venv/bin/python] [--rounds 3]
                                [--passes 3] [--cold 5]

Each side runs in its own process (its own virtual environment, so its own packs), rounds
interleaved (baseline, current, baseline, ...) so that a change of machine load hits both.
Per document: the median of every timed pass of every round (the first pass of a round
warms up and is not timed); then the median, p90 and maximum over the 94 documents. Cold:
``python -m cdacheck --env test <one N1 example>`` from process start to exit, median of
``--cold`` runs per side, alternated. The floor is lxml parsing + validation against the
embedded CDA schema, in the current tree. Stages: the time of each step of the Runner
(parse, header facts and detection, each engine, the rest) per document, on both sides.
Kit: CDACHECK_KIT (default ../shared/cisis-kit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))
COLD_DOC = "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"

WORKER = r"""
import json, sys, time
from pathlib import Path
kit, passes, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
docs = sorted((kit / "ExemplesCDA").glob("*.xml"))
data = [(d.name, d.read_bytes()) for d in docs]
times = {name: [] for name, _ in data}
spent = [0.0]  # ms spent in the packs engine during the current document
if mode == "floor":
    from lxml import etree
    import cdacheck.engines.xsd as X
    root = Path(X.__file__).resolve().parent.parent / "schemas" / "cda" / "hl7-cda.xsd"
    schema = etree.XMLSchema(etree.parse(str(root)))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    def run(raw):
        schema.validate(etree.fromstring(raw, parser))
else:
    from cdacheck.config import Settings
    from cdacheck.engines import packs
    from cdacheck.pipeline import Runner
    import cdacheck.pipeline as P
    # Stage breakdown, per document: reading (parse_document), the header facts and type
    # detection, each engine of the Runner (xsd, packs, python) and the rest (stamping the
    # findings, the indicator, the report model). Wrapped the same way on both sides.
    acc = {}
    def timed(stage, fn, consume=False):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                out = fn(*a, **k)
                return list(out) if consume else out  # an engine's run may be a generator
            finally:
                acc[stage] = acc.get(stage, 0.0) + time.perf_counter() - t0
        return wrapper
    P.parse_document = timed("parse", P.parse_document)
    P.extract_facts = timed("facts", P.extract_facts)
    P.detect = timed("facts", P.detect)
    runner = Runner(Settings(env="test"))
    for engine in runner.engines:
        engine.run = timed(engine.name, engine.run, consume=True)
    def run(raw):
        runner.check_document(raw, "<bench>")
acc = {}
stages = {}
for p in range(passes + 1):
    for name, raw in data:
        acc.clear()
        t = time.perf_counter()
        run(raw)
        total = (time.perf_counter() - t) * 1000
        if p:
            times[name].append(total)
            if mode != "floor":
                parts = {k: v * 1000 for k, v in acc.items()}
                parts["rest"] = total - sum(parts.values())
                for k, v in parts.items():
                    stages.setdefault(k, {}).setdefault(name, []).append(v)
print(json.dumps({"total": times, "stages": stages}))
"""


def _worker(python: str, cwd: Path, passes: int, mode: str) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([python, "-c", WORKER, str(KIT), str(passes), mode], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    for stage, per_doc in result["stages"].items():
        _merge(_STAGES.setdefault((python, mode), {}).setdefault(stage, {}), per_doc)
    return result["total"]


# (python, mode) -> stage -> document -> ms per timed pass
_STAGES: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = {}
STAGE_ORDER = ("parse", "facts", "xsd", "packs", "python", "rest")


def _cold(python: str, cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run([python, "-m", "cdacheck", "--env", "test",
                    str(KIT / "ExemplesCDA" / COLD_DOC)], cwd=cwd, capture_output=True)
    return time.perf_counter() - t


def _stats(samples: dict[str, list[float]]) -> dict[str, float]:
    per_doc = sorted(statistics.median(v) for v in samples.values())
    return {"median": statistics.median(per_doc),
            "p90": per_doc[int(0.9 * (len(per_doc) - 1))], "max": per_doc[-1], "docs": len(per_doc)}


def _merge(into: dict[str, list[float]], more: dict[str, list[float]]) -> None:
    for k, v in more.items():
        into.setdefault(k, []).extend(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-python", help="python of another cdacheck's virtualenv")
    ap.add_argument("--baseline-root", help="that checkout's root [default: two levels up]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--cold", type=int, default=5)
    args = ap.parse_args(argv)
    if not (KIT / "ExemplesCDA").is_dir():
        print(f"kit not found at {KIT} (CDACHECK_KIT)", file=sys.stderr)
        return 2
    sides = {"current": (sys.executable, ROOT)}
    if args.baseline_python:
        base_root = Path(args.baseline_root or Path(args.baseline_python).resolve().parents[2])
        sides = {"baseline": (args.baseline_python, base_root), **sides}
    warm: dict[str, dict[str, list[float]]] = {name: {} for name in sides}
    floor: dict[str, list[float]] = {}
    cold: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, (python, cwd) in sides.items():
            _merge(warm[name], _worker(python, cwd, args.passes, "default"))
        _merge(floor, _worker(sys.executable, ROOT, args.passes, "floor"))
    for _ in range(args.cold):
        for name, (python, cwd) in sides.items():
            cold[name].append(_cold(python, cwd))
    fl = _stats(floor)
    print(f"kit examples: {fl['docs']}, rounds {args.rounds} x passes {args.passes}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| side | warm median ms/doc | p90 | max | × floor (median) | cold 1 doc s (median) |")
    print("|---|---|---|---|---|---|")
    print(f"| lxml parse + XSD (floor) | {fl['median']:.2f} | {fl['p90']:.2f} | {fl['max']:.2f} | 1.0 | – |")
    for name in sides:
        st = _stats(warm[name])
        print(f"| {name} | {st['median']:.2f} | {st['p90']:.2f} | {st['max']:.2f} | "
              f"{st['median'] / fl['median']:.1f} | {statistics.median(cold[name]):.2f} |")
    print("Stages, ms per document: median over the documents (mean in brackets; the means add up to "
          "the mean total, the medians need not)")
    names = list(sides)
    print("| stage | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for stage in STAGE_ORDER:
        cells = []
        for name in names:
            per_doc = _STAGES[(sides[name][0], "default")].get(stage)
            if not per_doc:
                cells.append("–")
                continue
            meds = [statistics.median(v) for v in per_doc.values()]
            cells.append(f"{statistics.median(meds):.2f} ({statistics.mean(meds):.2f})")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    for name in names:
        per_doc = warm[name]
        meds = [statistics.median(v) for v in per_doc.values()]
        print(f"mean total {name}: {statistics.mean(meds):.2f} ms/doc")
    if "baseline" in sides:
        b, c = _stats(warm["baseline"])["median"], _stats(warm["current"])["median"]
        print(f"warm median change: {100 * (c - b) / b:+.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
