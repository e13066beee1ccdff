"""Benchmark: default mode (our packs) side by side with kit mode (the ANS kit's schematrons).

    python bench/bench_default.py [--runs 5] [--warm-passes 3] [--no-kit] [--kit-cold]

Figures (each the median of ``--runs`` runs; the machine is shared, so look at medians):

* cold: one N1 document from process start to report, ``python -m cdacheck --env test FILE``
  (XSD, packs, INS, indicator), as a user runs it. Target: < 2 s.
* warm: in one process, the engines built once, every sample checked ``--warm-passes``
  times; per-document time = median over passes 2.. of each document, then the median over
  N1 documents (and over all documents). Target for N1: < 50 ms.
* packs only: the PacksEngine alone on each document (already parsed), warm.
* kit mode, same documents, warm (``--no-kit`` to skip; the kit's profiles take tens of
  seconds to compile once); ``--kit-cold`` also times one kit-mode process start to report.

Documents: samples/documents/*.xml (scripts/make_samples.py). Kit: CDACHECK_KIT
(default ../shared/cisis-kit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdacheck.config import Settings  # noqa: E402
from cdacheck.detect import detect  # noqa: E402
from cdacheck.facts import extract_facts  # noqa: E402
from cdacheck.inputs.xml import parse_document  # noqa: E402

N1_SAMPLES = ("ldl-ses-n1", "ordonnance-n1", "cro-n1", "cr-img-n1", "cr-bio-n1")


def cold_run(path: Path, extra: list[str]) -> float:
    """Seconds from process start to report for one document."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cdacheck", "--env", "test", *extra, str(path)],
                   cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - start


def warm_pipeline(settings: Settings, docs: list[tuple[str, bytes]], passes: int) -> dict[str, float]:
    """Median ms per document (passes after the first), keyed by document name."""
    from cdacheck.pipeline import Runner

    runner = Runner(settings)
    times: dict[str, list[float]] = {name: [] for name, _ in docs}
    for p in range(passes):
        for name, data in docs:
            start = time.perf_counter()
            runner.check_document(data, name)
            if p > 0 or passes == 1:
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(v) for name, v in times.items()}


def warm_packs(docs: list[tuple[str, bytes]], passes: int) -> dict[str, float]:
    """Median ms per document for the PacksEngine alone (document parsed beforehand)."""
    from cdacheck.engines.packs import PacksEngine

    engine = PacksEngine(Settings(env="test"))
    prepared = []
    for name, data in docs:
        doc, _ = parse_document(data, name)
        if doc is None:
            continue
        facts = extract_facts(doc)
        prepared.append((name, doc, facts, detect(facts)))
    times: dict[str, list[float]] = {name: [] for name, *_ in prepared}
    for p in range(passes):
        for name, doc, facts, det in prepared:
            start = time.perf_counter()
            engine.run(doc, facts, det)
            if p > 0 or passes == 1:
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(v) for name, v in times.items()}


def summarize(label: str, per_doc: dict[str, float]) -> str:
    n1 = [v for k, v in per_doc.items() if Path(k).stem in N1_SAMPLES]
    allv = list(per_doc.values())
    return (f"| {label} | {statistics.median(n1):.1f} | {statistics.median(allv):.1f} | "
            f"{max(allv):.1f} | {len(allv)} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warm-passes", type=int, default=3)
    ap.add_argument("--no-kit", action="store_true")
    ap.add_argument("--kit-cold", action="store_true")
    args = ap.parse_args()
    folder = ROOT / "samples" / "documents"
    paths = sorted(folder.glob("*.xml"))
    if not paths:
        print("no samples: run scripts/make_samples.py", file=sys.stderr)
        return 2
    docs = [(p.name, p.read_bytes()) for p in paths]
    one = folder / "ldl-ses-n1.xml"

    colds = [cold_run(one, []) for _ in range(args.runs)]
    print(f"cold, default mode, {one.name}: median {statistics.median(colds):.2f} s "
          f"(min {min(colds):.2f}, max {max(colds):.2f}, {args.runs} runs) — target < 2 s")

    print("\n| mode | warm ms/doc, N1 median | all docs median | max | docs |")
    print("|---|---|---|---|---|")
    print(summarize("default (XSD + packs + INS + indicator)",
                    warm_pipeline(Settings(env="test"), docs, args.warm_passes)))
    print(summarize("packs only", warm_packs(docs, args.warm_passes)))

    kit = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))
    if not args.no_kit and (kit / "schematrons").is_dir():
        start = time.perf_counter()
        kit_times = warm_pipeline(Settings(env="test", kit=kit), docs, max(2, args.warm_passes))
        total = time.perf_counter() - start
        print(summarize("kit mode (XSD + kit schematrons + INS + indicator)", kit_times))
        print(f"\nkit mode: {total:.1f} s in all for {len(docs)} documents × "
              f"{max(2, args.warm_passes)} passes, compilation of the kit included")
        if args.kit_cold:
            t = cold_run(one, ["--kit", str(kit)])
            print(f"cold, kit mode, {one.name}: {t:.2f} s (one run)")
    elif not args.no_kit:
        print(f"\nkit not found at {kit}: kit mode skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
