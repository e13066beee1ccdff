"""Kit mode benchmark: compile time per schematron, warm per-document time on the kit corpus,
side by side with the official pipeline's recorded wall time (oracle ``wall_ms``).

    python bench/bench_kit.py [--kit DIR] [--oracle DIR] [--passes 3] [--json out.json]
    python bench/bench_kit.py --cold [--doc EXAMPLE]   # cold starts: empty, then filled disk cache
    python bench/bench_kit.py --java OFFICIAL_OUT/results.json   # + warm Java Saxon 9.9, same run

``--java``: the official compiled schematrons (those ``../shared/oracle/pipeline/official.py``
placed in its working copy of the kit; its ``results.json`` says which ones each document
declares) run by Saxon-HE 9.9 in one warm JVM (``bench/java/WarmSchematron.java``, compiled
with javac into a temporary folder), same passes; per document: parse + every declared
stylesheet, median of the warm passes. Needs java, javac and the Saxon-HE 9.9 jar
(``SAXON_JAR``, default /usr/share/java/Saxon-HE.jar).

One process: every schematron is compiled once (timed), then the corpus is run ``passes``
times; the per-document figure is the median over the warm passes (2..n) of each document,
then the median over documents. Per-schematron warm times are reported too (StrucMin target:
under 200 ms per document).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdacheck.config import Settings  # noqa: E402
from cdacheck.detect import detect  # noqa: E402
from cdacheck.engines.schematron.kit import KitEngine  # noqa: E402
from cdacheck.engines.schematron.runner import xdm_document  # noqa: E402
from cdacheck.facts import extract_facts  # noqa: E402
from cdacheck.inputs.xml import parse_document  # noqa: E402


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kit", type=Path, default=ROOT.parent / "shared" / "cisis-kit")
    ap.add_argument("--oracle", type=Path, default=ROOT.parent / "shared" / "oracle")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cold", action="store_true",
                    help="time cold starts in fresh processes: empty cache, filled cache, then warm")
    ap.add_argument("--doc", default="LDL-SES_2022.01.xml", help="kit example for --cold")
    ap.add_argument("--java", type=Path, metavar="RESULTS_JSON",
                    help="official.py results.json: also time the official XSLTs in a warm JVM")
    ap.add_argument("--one-start", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_start:
        return _one_start(args.kit, args.one_start)
    if args.cold:
        return _cold(args.kit, args.kit / "ExemplesCDA" / args.doc)

    t0 = time.perf_counter()
    engine = KitEngine(Settings(kit=args.kit))
    docs = []
    for path in sorted((args.kit / "ExemplesCDA").glob("*.xml")):
        doc, _ = parse_document(path.read_bytes(), str(path))
        if doc is not None:
            facts = extract_facts(doc)
            docs.append((path, doc, facts, detect(facts)))

    # Compile every schematron the corpus needs, timed one by one.
    needed: dict[Path, None] = {}
    for _, doc, facts, det in docs:
        sets, candidates, _why, _declared = engine._choose(facts, det, doc)
        for p in [*sets, *candidates]:
            needed[p] = None
    compile_ms: dict[str, float] = {}
    for p in needed:
        t = time.perf_counter()
        state = engine._compiled(p)
        compile_ms[p.stem] = (time.perf_counter() - t) * 1000
        if state.compiled is not None:
            compile_ms[p.stem] = state.compiled.compile_ms
    setup_s = time.perf_counter() - t0

    per_doc: dict[str, list[float]] = defaultdict(list)
    per_set: dict[str, list[float]] = defaultdict(list)
    for rep in range(args.passes):
        for path, doc, facts, det in docs:
            t = time.perf_counter()
            list(engine.run(doc, facts, det))
            per_doc[path.stem].append((time.perf_counter() - t) * 1000)
            if rep == args.passes - 1:  # one extra timed pass per schematron, warm
                node = xdm_document(doc)
                for stem in engine.last_applied:
                    p = next(q for q in needed if q.stem == stem)
                    compiled = engine._compiled(p).compiled
                    if compiled is not None:
                        t = time.perf_counter()
                        compiled.results(doc, node)
                        per_set[stem if not stem.startswith("CI-SIS_") or "Modele" in stem else "volet"].append(
                            (time.perf_counter() - t) * 1000)
    warm = [statistics.median(v[1:] if len(v) > 1 else v) for v in per_doc.values()]
    cold = [v[0] for v in per_doc.values()]

    official = {}
    oracle_file = args.oracle / "official-verdicts.json"
    if oracle_file.is_file():
        for ex in json.loads(oracle_file.read_text(encoding="utf-8"))["examples"]:
            official[Path(ex["file"]).stem] = ex["wall_ms"]
    ratios = [official[k] / statistics.median(v[1:] or v) for k, v in per_doc.items() if k in official]

    print(f"documents: {len(docs)}; schematrons compiled: {len(compile_ms)}; setup {setup_s:.1f} s")
    print("\ncompile ms per schematron (largest first):")
    for name, ms in sorted(compile_ms.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {name:45} {ms:9.0f}")
    others = [ms for name, ms in compile_ms.items() if name.startswith("CI-SIS_") and "Modele" not in name]
    if others:
        print(f"  volets: median {statistics.median(others):.0f} ms, total {sum(others) / 1000:.1f} s")
    print(f"\nper document, all kit schematrons: warm median {statistics.median(warm):.0f} ms "
          f"(p90 {_p(warm, 0.9):.0f}), first pass median {statistics.median(cold):.0f} ms")
    print("per schematron, warm ms/doc median (p90):")
    for name, values in sorted(per_set.items()):
        print(f"  {name:45} {statistics.median(values):7.1f} ({_p(values, 0.9):.1f})")
    if official:
        print(f"\nofficial pipeline wall_ms per document: median {statistics.median(official.values()):.0f} ms")
        print(f"speed-up per document (official / cdacheck warm): median {statistics.median(ratios):.0f}x, "
              f"min {min(ratios):.0f}x")
        ours_total = sum(statistics.median(v[1:] or v) for k, v in per_doc.items() if k in official)
        print(f"whole corpus: official {sum(official.values()) / 1000:.0f} s, cdacheck warm "
              f"{ours_total / 1000:.1f} s ({sum(official.values()) / ours_total:.0f}x)")
    java: dict[str, float] = {}
    if args.java:
        java = _java_warm(args.java, args.passes)
        both = [k for k in per_doc if k in java]
        ours = {k: statistics.median(per_doc[k][1:] or per_doc[k]) for k in both}
        ratio = [ours[k] / java[k] for k in both]
        print(f"\nJava Saxon 9.9, one warm JVM, official XSLTs, {len(both)} documents: warm median "
              f"{statistics.median(java[k] for k in both):.0f} ms/doc (p90 {_p([java[k] for k in both], 0.9):.0f})")
        print(f"cdacheck kit mode / Java, same documents: median per document {statistics.median(ratio):.2f}x, "
              f"corpus {sum(ours.values()) / sum(java[k] for k in both):.2f}x "
              f"(cdacheck {sum(ours.values()) / 1000:.1f} s, Java {sum(java[k] for k in both) / 1000:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"compile_ms": compile_ms, "per_doc_ms": per_doc,
                                         "per_set_ms": per_set, "official_wall_ms": official,
                                         "java_warm_ms": java}, indent=1))
    return 0


def _java_warm(results: Path, passes: int) -> dict[str, float]:
    """Per document stem: warm ms of parse + every declared official XSLT, one JVM."""
    saxon = Path(os.environ.get("SAXON_JAR", "/usr/share/java/Saxon-HE.jar"))
    data = json.loads(results.read_text(encoding="utf-8"))
    tool = data["tool"]
    kit = Path(tool["working_kit"])
    pairs = []
    for path, d in data["documents"].items():
        for name, run in (d.get("schematrons") or {}).items():
            info = tool["compiled"].get(name) or {}
            if info.get("xsl") and run.get("ran"):
                pairs.append(f"{path}\t{kit / info['xsl']}")
    with tempfile.TemporaryDirectory() as classes:
        subprocess.run(["javac", "-cp", str(saxon), "-d", classes,
                        str(ROOT / "bench" / "java" / "WarmSchematron.java")], check=True)
        out = subprocess.run(["java", "-cp", f"{saxon}:{classes}", "WarmSchematron", str(passes)],
                             input="\n".join(pairs), capture_output=True, text=True, check=True).stdout
    totals: dict[tuple[str, int], float] = defaultdict(float)
    for line in out.splitlines():
        row = json.loads(line)
        if "doc" in row:
            totals[(Path(row["doc"]).stem, row["pass"])] += row["ms"]
    stems = {stem for stem, _ in totals}
    return {stem: statistics.median([totals[(stem, p)] for p in range(1, passes)] or [totals[(stem, 0)]])
            for stem in stems}


def _one_start(kit: Path, path: Path) -> int:
    """One process start: engine, every schematron the document needs, one run; then warm."""
    t0 = time.perf_counter()
    engine = KitEngine(Settings(kit=kit))
    doc, _ = parse_document(path.read_bytes(), str(path))
    assert doc is not None
    facts = extract_facts(doc)
    det = detect(facts)
    hits = list(engine.run(doc, facts, det))
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    list(engine.run(doc, facts, det))
    warm = time.perf_counter() - t1
    print(json.dumps({"start_to_first_result_s": first, "warm_s": warm, "hits": len(hits),
                      "schematrons": engine.applied_schematrons()}))
    return 0


def _cold(kit: Path, path: Path) -> int:
    """First cold start (empty cache folder), second cold start (cache filled), side by side."""
    with tempfile.TemporaryDirectory(prefix="cdacheck-bench-cache-") as cache:
        env = {**os.environ, "CDACHECK_CACHE_DIR": cache}
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, __file__, "--kit", str(kit), "--one-start", str(path)],
                                 env=env, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert first["hits"] == second["hits"], "the cache changed the result"
    print(f"document: {path.name}; schematrons: {len(first['schematrons'])}")
    print(f"{'':32} {'start to first result':>22} {'warm run':>10}")
    for label, r in (("cold, empty cache", first), ("cold, filled cache", second)):
        print(f"{label:32} {r['start_to_first_result_s']:20.1f} s {r['warm_s'] * 1000:8.0f} ms")
    print(f"second cold start: {first['start_to_first_result_s'] / second['start_to_first_result_s']:.2f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
