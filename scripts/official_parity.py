#!/usr/bin/env python3
"""Run the official CI-SIS pipeline once on the parity mutants and store its verdicts (issue 17).

    python scripts/official_parity.py run   [--work DIR] [--kit KIT] [--oracle OFFICIAL_PY]
    python scripts/official_parity.py store [--work DIR] [--kit KIT]

``run`` writes the bases and the mutants of tests/parity/mutants.py (plus the targeted ones
of tests/data/parity/targeted.json) to WORK/docs, runs the official pipeline on them
(``--cache /work/oracle-cache --jobs 2``; one batch, about 0.7 s per document) into WORK/out.
``store`` reads WORK/out (results.json and the SVRL), maps every failed assert to its key in
the official assert inventory (scripts/official_asserts.py), and writes
tests/data/parity/official.json, which lets the parity test run without Java or the oracle.
Without a sub-command both are done.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from parity import mutants as M  # noqa: E402
from parity.evaluate import pool  # noqa: E402

DATA = ROOT / "tests" / "data" / "parity"
OFFICIAL_JSON = DATA / "official.json"
DEFAULT_KIT = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))
DEFAULT_ORACLE = ROOT.parent / "shared" / "oracle" / "pipeline" / "official.py"
DEFAULT_CACHE = Path(os.environ.get("CISIS_OFFICIAL_CACHE", "/work/oracle-cache"))
DEFAULT_WORK = Path(os.environ.get("PARITY_WORK", "/tmp/wt-mut/parity"))


def file_name(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20] + ".xml"


def cmd_run(args: argparse.Namespace) -> int:
    bases, mutants = pool(args.kit)
    docs = args.work / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for old in docs.glob("*.xml"):
        old.unlink()
    manifest: dict[str, dict[str, str]] = {}
    if args.only_new:
        stored = json.loads(OFFICIAL_JSON.read_text(encoding="utf-8"))["mutants"]
        mutants = [m for m in mutants if stored.get(m.id, {}).get("sha256") != m.sha256]
    for base in bases:
        data = M.base_document(base)
        name = file_name(data)
        (docs / name).write_bytes(data)
        manifest[name] = {"kind": "base", "id": base.id}
    for m in mutants:
        name = file_name(m.data)
        (docs / name).write_bytes(m.data)
        manifest[name] = {"kind": "mutant", "id": m.id}
    (args.work / "manifest.json").write_text(json.dumps(manifest, indent=0), encoding="utf-8")
    print(f"{len(bases)} bases, {len(mutants)} mutants written to {docs}", flush=True)
    out = args.work / "out"
    cmd = [sys.executable, str(args.oracle), "--kit", str(args.kit), "--out", str(out),
           "--cache", str(args.cache), "--jobs", str(args.jobs), str(docs)]
    print(" ".join(cmd), flush=True)
    rc = subprocess.call(cmd)
    print(f"official pipeline exit status {rc}", flush=True)
    return 0 if rc in (0, 1) else rc


def cmd_store(args: argparse.Namespace) -> int:
    import official_asserts as OA

    out = args.work / "out"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    manifest = json.loads((args.work / "manifest.json").read_text(encoding="utf-8"))
    bases, mutants = pool(args.kit)
    by_sha = {hashlib.sha256(m.data).hexdigest(): m for m in mutants}
    inventory = OA.Inventory.build(args.kit)
    store: dict = {"meta": {}, "bases": {}, "mutants": {}, "rules": {}}
    rule_ids: dict[str, int] = {}
    if args.only_new:  # merge into the stored verdicts (same rule numbering)
        store = json.loads(OFFICIAL_JSON.read_text(encoding="utf-8"))
        rule_ids = {k: int(i) for i, k in store["rules"].items()}
        pool_ids = {m.id for m in mutants}
        store["mutants"] = {k: v for k, v in store["mutants"].items() if k in pool_ids}
    unmatched: list[dict] = []

    def rule_index(key: str) -> int:
        if key not in rule_ids:
            rule_ids[key] = len(rule_ids)
        return rule_ids[key]

    for path, doc in sorted(results["documents"].items()):
        name = Path(path).name
        entry = manifest.get(name)
        if entry is None:
            continue
        data = (args.work / "docs" / name).read_bytes()
        failed_keys: list[str] = []
        fired: set[int] = set()
        ran_all = True
        for sch_rel, sch in sorted(doc.get("schematrons", {}).items()):
            if not sch.get("ran"):
                ran_all = False
                continue
            svrl_path = out / sch["svrl"] if sch.get("svrl") else None
            if svrl_path is None or not svrl_path.is_file():
                ran_all = False
                continue
            parsed = OA.parse_svrl(svrl_path.read_bytes(), Path(sch_rel).stem, inventory)
            fired.update(rule_index(k) for k in parsed.fired)
            for fa in parsed.failed:
                if fa.role_is_error:
                    if fa.key is None:
                        unmatched.append({"doc": entry["id"], "schematron": Path(sch_rel).stem,
                                          "pattern": fa.pattern, "text": fa.text[:200]})
                        failed_keys.append(f"{Path(sch_rel).stem}|{fa.pattern}|?|?")
                    else:
                        failed_keys.append(fa.key)
        row = {"sha256": hashlib.sha256(data).hexdigest(), "xsd_valid": doc.get("xsd_valid"),
               "official_invalid": doc.get("official_invalid"), "all_ran": ran_all,
               "failed": sorted(set(failed_keys))}
        if entry["kind"] == "base":
            row["fired"] = sorted(fired)
            store["bases"][entry["id"]] = row
        else:
            m = by_sha.get(row["sha256"])
            if m is None or m.id != entry["id"]:
                print(f"warning: {entry['id']} no longer in the pool, skipped", file=sys.stderr)
                continue
            base_fired = set()
            row["fired_extra"] = sorted(fired)  # reduced below against the base
            store["mutants"][m.id] = row
    # Rules fired by a mutant but not by its base: kept (they widen applicability).
    for mid, row in store["mutants"].items():
        base_id = mid.split("|", 1)[0]
        base_fired = set(store["bases"].get(base_id, {}).get("fired", []))
        row["fired_extra"] = sorted(set(row["fired_extra"]) - base_fired)
    store["rules"] = {str(i): k for k, i in rule_ids.items()}
    tool = results.get("tool", {})
    store["meta"] = {
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kit_commit": (tool.get("kit") or {}).get("commit"),
        "saxon": tool.get("saxon"), "java": tool.get("java"), "lxml": tool.get("lxml"),
        "pipeline": tool.get("name", "") + " " + str(tool.get("version", "")),
        "seed": M.SEED, "merged_runs": store.get("meta", {}).get("merged_runs", 0) + bool(args.only_new),
        "n_bases": len(store["bases"]), "n_mutants": len(store["mutants"]),
        "pool_size": len(mutants), "unmatched_failed_asserts": len(unmatched),
    }
    DATA.mkdir(parents=True, exist_ok=True)
    OFFICIAL_JSON.write_text(json.dumps(store, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
                             + "\n", encoding="utf-8")
    missing = len(mutants) - len(store["mutants"])
    print(f"stored {len(store['mutants'])} mutants ({missing} of the pool without verdict), "
          f"{len(store['bases'])} bases, {len(unmatched)} failed asserts not mapped to a key -> {OFFICIAL_JSON}")
    for u in unmatched[:20]:
        print("  unmatched:", u)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", nargs="?", choices=("run", "store", "all"), default="all")
    ap.add_argument("--kit", type=Path, default=DEFAULT_KIT)
    ap.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only-new", action="store_true",
                    help="run only the mutants without a stored verdict (e.g. new targeted ones) and merge them")
    args = ap.parse_args(argv)
    args.kit = args.kit.resolve()
    if args.command in ("run", "all"):
        rc = cmd_run(args)
        if rc:
            return rc
    if args.command in ("store", "all"):
        return cmd_store(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
