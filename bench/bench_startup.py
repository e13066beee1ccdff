"""Cold start and warm Python stages of the default mode, this tree vs a baseline tree.

    python bench/bench_startup.py --baseline /tmp/base [--runs 7] [--passes 3]

``--baseline`` is a directory holding another ``cdacheck`` package (``git worktree add
/tmp/base <commit>``); both sides run in fresh processes of this interpreter, alternated, with
``PYTHONPATH`` pointing at each tree. Figures are CPU time (user + system) of the process,
less disturbed than wall time on a shared machine; the medians are printed as Markdown.

* cold: one process per run, the phases of a command checking one N1 document (imports,
  ``Runner``, first document, text report). The command's own entry points set
  ``PYDANTIC_DISABLE_PLUGINS``; the "after" side gets it as they do, the baseline did not.
* warm: one process per run, 94 kit examples checked once to warm up, then ``--passes``
  timed passes; per stage (parse, facts, each engine, each Python check), ms per document.
* ``--whole``: instead, whole processes (``python -c "import cdacheck"``, ``python -m cdacheck
  --env test DOC``) on copies of both trees with and without compiled bytecode, interleaved;
  wall and CPU time of the child, medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))
DOC = ROOT / "samples" / "documents" / "ldl-ses-n1.xml"
PHASES = ("import cdacheck", "import cdacheck.cli", "Runner(Settings)", "first document",
          "text report", "total")


def cold_child(doc: str) -> None:
    t0 = time.process_time()
    import cdacheck  # noqa: F401
    t1 = time.process_time()
    import cdacheck.cli  # noqa: F401
    t2 = time.process_time()
    from cdacheck.config import Settings
    from cdacheck.pipeline import Runner
    from cdacheck.reporters import render

    runner = Runner(Settings(env="test"))
    t3 = time.process_time()
    report = runner.check_document(Path(doc).read_bytes(), doc)[0]
    t4 = time.process_time()
    render(runner.report([report]), "text")
    t5 = time.process_time()
    print(*(round(1000 * x, 1) for x in (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0)))


def warm_child(passes: int) -> None:
    from cdacheck import pipeline
    from cdacheck.checks import CHECKS
    from cdacheck.config import Settings

    docs = [(Path(f).read_bytes(), f) for f in sorted(glob.glob(str(KIT / "ExemplesCDA" / "*.xml")))]
    runner = pipeline.Runner(Settings(env="test"))
    for raw, name in docs:
        runner.check_document(raw, name)
    acc: dict[str, float] = {}

    def timed(label, fn, materialize=False):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            t = time.process_time()
            out = fn(*args, **kwargs)
            if materialize:
                out = list(out)
            acc[label] = acc.get(label, 0.0) + time.process_time() - t
            return out
        return wrapper

    pipeline.parse_document = timed("parse", pipeline.parse_document)
    pipeline.extract_facts = timed("facts", pipeline.extract_facts)
    for engine in runner.engines:
        engine.run = timed(f"engine {engine.name}", engine.run, materialize=True)
    for i, fn in enumerate(list(CHECKS)):
        CHECKS[i] = timed(f"check {fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}", fn, materialize=True)
    per_pass: dict[str, list[float]] = {}
    for _ in range(passes):
        acc.clear()
        t = time.process_time()
        for raw, name in docs:
            runner.check_document(raw, name)
        acc["whole pipeline"] = time.process_time() - t
        for key, value in acc.items():
            per_pass.setdefault(key, []).append(1000 * value / len(docs))
    for key, values in per_pass.items():
        print(f"{key}\t{statistics.median(values):.3f}")


def run_side(root: Path, args: list[str], after: bool) -> str:
    env = dict(os.environ, PYTHONPATH=str(root))
    if after:
        env["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    return subprocess.run([sys.executable, __file__, *args], cwd="/", env=env, check=True,
                          capture_output=True, text=True).stdout


def whole(sides: dict[str, Path], runs: int) -> None:
    """Whole processes on copies of each tree, bytecode compiled or not (PYTHONDONTWRITEBYTECODE)."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="cdacheck-startup-"))
    roots = {}
    for side, tree in sides.items():
        for cond in ("bytecode compiled", "from source"):
            root = work / f"{side}-{cond.split()[0]}"
            shutil.copytree(tree / "cdacheck", root / "cdacheck", ignore=shutil.ignore_patterns("__pycache__"))
            if cond == "bytecode compiled":
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "cdacheck")], check=True)
            roots[(side, cond)] = root
    cmds = {'`python -c "import cdacheck"`': ["-c", "import cdacheck"],
            f"`python -m cdacheck --env test {DOC.name}`": ["-m", "cdacheck", "--env", "test", str(DOC)]}

    def once(args: list[str], root: Path) -> tuple[float, float]:
        env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
        r0, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([sys.executable, *args], cwd="/", env=env, capture_output=True)
        wall, r1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    for root in roots.values():  # the OS cache and each copy's pack cache
        once(cmds[f"`python -m cdacheck --env test {DOC.name}`"], root)
    res: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for _ in range(runs):
        for label, args in cmds.items():
            for (side, cond), root in roots.items():
                res.setdefault((label, cond, side), []).append(once(args, root))
    shutil.rmtree(work, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {runs} interleaved runs, wall (CPU)\n")
    print("| command | modules | before | after |\n|---|---|---:|---:|")
    for label in cmds:
        for cond in ("bytecode compiled", "from source"):
            cells = [res[(label, cond, side)] for side in sides]
            print(f"| {label} | {cond} | " + " | ".join(
                f"{statistics.median(w for w, _ in c) * 1000:.0f} ms ({statistics.median(u for _, u in c) * 1000:.0f})"
                for c in cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--whole", action="store_true", help="time whole processes instead")
    ap.add_argument("--child", choices=("cold", "warm"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "cold":
        return cold_child(str(DOC))
    if args.child == "warm":
        return warm_child(args.passes)
    sides = {"before": args.baseline.resolve(), "after": ROOT}
    if args.whole:
        return whole(sides, args.runs)
    cold: dict[str, list[list[float]]] = {s: [] for s in sides}
    warm: dict[str, dict[str, list[float]]] = {s: {} for s in sides}
    for side, root in sides.items():  # warm the OS cache and each tree's pack cache
        run_side(root, ["--baseline", ".", "--child", "cold"], side == "after")
    for _ in range(args.runs):
        for side, root in sides.items():
            out = run_side(root, ["--baseline", ".", "--child", "cold"], side == "after")
            cold[side].append([float(x) for x in out.split()])
    for _ in range(max(1, args.runs // 2)):
        for side, root in sides.items():
            out = run_side(root, ["--baseline", ".", "--child", "warm", "--passes", str(args.passes)],
                           side == "after")
            for line in out.splitlines():
                key, value = line.split("\t")
                warm[side].setdefault(key, []).append(float(value))
    print(f"load average {os.getloadavg()[0]:.2f}; CPU ms, medians\n")
    print("| cold, one N1 document | before | after |\n|---|---:|---:|")
    for i, phase in enumerate(PHASES):
        print(f"| {phase} | " + " | ".join(f"{statistics.median(r[i] for r in cold[s]):.0f}" for s in sides) + " |")
    print("\n| warm, ms per document | before | after |\n|---|---:|---:|")
    for key in warm["before"]:
        print(f"| {key} | " + " | ".join(f"{statistics.median(warm[s].get(key, [0])):.2f}" for s in sides) + " |")


if __name__ == "__main__":
    main()
